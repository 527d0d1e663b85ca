// Extension-host tests: VS Code starts with this repository as the extension
// under development and runs the mocha suite in test/vscode/suite inside its
// extension host (real `vscode` API).
//
//   VSCODE_EXECUTABLE=/path/to/code npm run test:vscode    # a local VS Code
//   VSCODE_TEST_DOWNLOAD=1 npm run test:vscode             # let @vscode/test-electron download one
//
// Without either it prints one line and exits 0: machines without VS Code
// (CI here cannot download it) skip these; the end-to-end tests run the
// packaged extension in code-server instead.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const executable = process.env.VSCODE_EXECUTABLE;
const download = process.env.VSCODE_TEST_DOWNLOAD === '1';
if (!executable && !download) {
  console.log(
    'vscode extension-host tests skipped: no VS Code (set VSCODE_EXECUTABLE=/path/to/code, or VSCODE_TEST_DOWNLOAD=1 where VS Code can be downloaded)',
  );
  process.exit(0);
}

const out = join(root, 'dist', 'test-vscode');
mkdirSync(out, { recursive: true });
await esbuild.build({
  entryPoints: {
    index: join(root, 'test/vscode/suite/index.ts'),
    'extension.suite': join(root, 'test/vscode/suite/extension.suite.ts'),
  },
  outdir: out,
  outExtension: { '.js': '.cjs' },
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['vscode', 'mocha'],
  sourcemap: 'inline',
  logLevel: 'warning',
});

// A workspace with a .vscode/mcp.json for the routing commands, and a
// private HITLOOP_HOME so the hubs the suite starts are the only ones seen.
const workspace = mkdtempSync(join(tmpdir(), 'hitloop-vscode-ws-'));
mkdirSync(join(workspace, '.vscode'));
writeFileSync(
  join(workspace, '.vscode', 'mcp.json'),
  `${JSON.stringify({ servers: { memory: { command: 'npx', args: ['-y', '@modelcontextprotocol/server-memory'] } } }, null, 2)}\n`,
);
const home = mkdtempSync(join(tmpdir(), 'hitloop-vscode-home-'));

const { runTests } = await import('@vscode/test-electron');
try {
  await runTests({
    ...(executable
      ? { vscodeExecutablePath: executable }
      : { version: process.env.VSCODE_VERSION ?? 'stable' }),
    extensionDevelopmentPath: root,
    extensionTestsPath: join(out, 'index.cjs'),
    extensionTestsEnv: { HITLOOP_HOME: home, HITLOOP_TEST_WORKSPACE: workspace },
    launchArgs: [workspace, '--disable-extensions', '--disable-workspace-trust', '--skip-welcome'],
  });
} catch (err) {
  console.error(`vscode extension-host tests failed: ${err instanceof Error ? err.message : err}`);
  process.exitCode = 1;
} finally {
  for (const dir of [workspace, home]) rmSync(dir, { recursive: true, force: true });
}
