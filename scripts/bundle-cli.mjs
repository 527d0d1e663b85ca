// Bundles the `hitloop` CLI (after tsc) into dist/cli/: the npm package's bin.
//
// Why: MCP clients start `hitloop proxy` and wait for its initialize answer.
// Loaded file by file, the CLI's ~200 modules (its own, zod, the MCP SDK,
// commander) cost about 0.35 s of module resolution before the proxy could
// answer; one bundle with lazily loaded chunks (each command, the HTTP
// transports, Ajv) cuts that roughly in half. The library (`import 'hitloop'`)
// stays unbundled in dist/shared.
//
// dist/cli/ sits two levels below the package root like dist/mcp-server/*,
// so the few paths the code builds from import.meta.url (package.json, the
// hub's phone page, the CLI's own main.js for `hitloop wrap`) still resolve.
//
//   node scripts/bundle-cli.mjs
import { chmodSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'cli');
rmSync(out, { recursive: true, force: true });
await esbuild.build({
  entryPoints: [join(root, 'dist/mcp-server/cli/main.js')],
  outdir: out,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Native (better-sqlite3), loaded only for some stores (pg, redis), or
  // optional peers the user installs (playwright-core, LangChain).
  external: ['better-sqlite3', 'pg', 'redis', 'playwright-core', '@langchain/*'],
  // Bundled CommonJS dependencies call require(); ESM has none of its own.
  banner: {
    js: "import { createRequire as __hitloopCreateRequire } from 'node:module'; const require = __hitloopCreateRequire(import.meta.url);",
  },
  // Chunks stay beside main.js: a subfolder would change their import.meta.url depth.
  logLevel: 'warning',
});
chmodSync(join(out, 'main.js'), 0o755);
