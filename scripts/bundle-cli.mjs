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
//   node scripts/bundle-cli.mjs      # dist/cli from tsc's dist/mcp-server
import { chmodSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { englishOnly } from './esbuild-plugins.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Bundles the CLI entry `entry` into `outdir` (emptied first). The VSIX
 * (scripts/package-extension.mjs) calls it with the TypeScript entry,
 * `minify` and `englishOnly` (zod's English messages only), so packaging
 * needs no tsc run and the VSIX stays small.
 *
 * @example
 * await bundleCli({ outdir: join(stage, 'dist', 'cli'), entry: 'mcp-server/cli/main.ts', minify: true });
 */
export async function bundleCli({
  outdir = join(root, 'dist', 'cli'),
  entry = join(root, 'dist/mcp-server/cli/main.js'),
  minify = false,
  englishOnly: trimLocales = false,
} = {}) {
  rmSync(outdir, { recursive: true, force: true });
  await esbuild.build({
    entryPoints: [entry],
    outdir,
    absWorkingDir: root,
    bundle: true,
    splitting: true,
    minify,
    legalComments: 'none',
    plugins: trimLocales ? [englishOnly] : [],
    format: 'esm',
    platform: 'node',
    target: 'node20',
    // Native (better-sqlite3: tried at run time, node:sqlite otherwise; see
    // shared/sqlite), loaded only for some stores (pg, redis), or optional
    // peers the user installs (playwright-core, LangChain).
    external: ['better-sqlite3', 'pg', 'redis', 'playwright-core', '@langchain/*'],
    // Bundled CommonJS dependencies call require(); ESM has none of its own.
    banner: {
      js: "import { createRequire as __hitloopCreateRequire } from 'node:module'; const require = __hitloopCreateRequire(import.meta.url);",
    },
    // Chunks stay beside main.js: a subfolder would change their import.meta.url depth.
    logLevel: 'warning',
  });
  chmodSync(join(outdir, 'main.js'), 0o755);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await bundleCli();
