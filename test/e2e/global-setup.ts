import { spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { TestProject } from 'vitest/node';
import {
  ARTIFACTS,
  CHROMIUM,
  CLI,
  CODE_SERVER_VERSION,
  codeServerDir,
  codeServerNode,
  log,
  ROOT,
} from './harness.js';

declare module 'vitest' {
  export interface ProvidedContext {
    vsix: string;
    /** The test-only extension that calls tools with vscode.lm.invokeTool. */
    callerVsix: string;
  }
}

/**
 * Runs once before the e2e suite: checks the tools it needs and builds the
 * VSIX with `npm run package` (or takes HITLOOP_E2E_VSIX), so a failure says
 * which piece is missing before any browser starts.
 */
export default function setup(project: TestProject): void {
  // Screenshots of this run only.
  rmSync(ARTIFACTS, { recursive: true, force: true });
  mkdirSync(ARTIFACTS, { recursive: true });
  const problems: string[] = [];
  const csEntry = join(codeServerDir(), 'out/node/entry.js');
  if (!existsSync(csEntry)) {
    problems.push(
      `code-server ${CODE_SERVER_VERSION} is not installed at ${codeServerDir()}: run \`bash scripts/install-code-server.sh\` (or set CODE_SERVER_DIR)`,
    );
  }
  if (!existsSync(CHROMIUM)) {
    problems.push(
      `${CHROMIUM} is missing: \`apt-get install chromium\` (or set HITLOOP_E2E_CHROMIUM)`,
    );
  }
  if (!existsSync(CLI)) problems.push(`${CLI} is missing: run \`npm run build\``);
  try {
    codeServerNode();
  } catch (err) {
    problems.push((err as Error).message);
  }
  if (problems.length > 0)
    throw new Error(`e2e prerequisites missing:\n- ${problems.join('\n- ')}`);

  project.provide('vsix', packageVsix());
  project.provide('callerVsix', packageCaller());
}

/**
 * Packs test/e2e/fixtures/lm-tool-caller (plain JS, no build) into a VSIX
 * with the repository's vsce, in a staging copy so the fixture folder stays
 * clean.
 */
function packageCaller(): string {
  const source = join(ROOT, 'test/e2e/fixtures/lm-tool-caller');
  const outDir = join(ROOT, 'dist/test-e2e');
  const out = join(outDir, 'lm-tool-caller.vsix');
  mkdirSync(outDir, { recursive: true });
  const stage = mkdtempSync(join(tmpdir(), 'hitloop-e2e-caller-'));
  try {
    cpSync(source, stage, { recursive: true });
    const vsce = join(
      dirname(createRequire(import.meta.url).resolve('@vscode/vsce/package.json')),
      'vsce',
    );
    const result = spawnSync(
      process.execPath,
      [vsce, 'package', '--no-dependencies', '--skip-license', '--out', out],
      { cwd: stage, encoding: 'utf8' },
    );
    if (result.status !== 0) {
      throw new Error(
        `packing the test extension ${source} failed (exit ${result.status ?? result.signal}):\n${result.stdout}${result.stderr}`,
      );
    }
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
  log(`packed the test extension: ${out}`);
  return out;
}

function packageVsix(): string {
  const given = process.env.HITLOOP_E2E_VSIX;
  if (given) {
    const file = resolve(given);
    if (!existsSync(file)) throw new Error(`HITLOOP_E2E_VSIX=${given}: no such file`);
    log(`using the VSIX given by HITLOOP_E2E_VSIX: ${file}`);
    return file;
  }
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    scripts?: Record<string, string>;
  };
  if (!pkg.scripts?.package) {
    throw new Error(
      'the VS Code extension cannot be packaged: package.json has no "package" script yet ' +
        '(the extension of issue 4 has not landed). Set HITLOOP_E2E_VSIX=/path/to/hitloop.vsix to test another build.',
    );
  }
  const t0 = Date.now();
  log('npm run package');
  const result = spawnSync('npm', ['run', 'package'], { cwd: ROOT, stdio: 'inherit' });
  if (result.status !== 0) {
    throw new Error(
      `\`npm run package\` failed (exit ${result.status ?? result.signal}); see its output above`,
    );
  }
  const vsix = join(ROOT, 'hitloop.vsix');
  if (!existsSync(vsix)) {
    throw new Error(
      '`npm run package` succeeded but did not produce hitloop.vsix at the repository root',
    );
  }
  log(`packaged ${vsix} (${Math.round(statSync(vsix).size / 1024)} KiB) in ${Date.now() - t0} ms`);
  return vsix;
}
