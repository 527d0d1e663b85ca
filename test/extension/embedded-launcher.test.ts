import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  bundledLaunch,
  stableLauncherScript,
  writeStableLauncher,
} from '../../mcp-server/wrap/embedded.js';
import { makeTempDir } from '../helpers/temp-dir.js';

// The fixed-path launcher Route writes into .vscode/mcp.json: a real sh
// script, run here as VS Code's MCP client would run it. A stand-in "CLI"
// prints what it received, since what it does is the proxy's business.

const dir = () => makeTempDir("hitloop embedded 'q' ");

function fakeCli(folder: string): string {
  const cli = join(folder, 'ext dir', 'dist', 'cli', 'main.js');
  mkdirSync(join(cli, '..'), { recursive: true });
  writeFileSync(
    cli,
    'console.log(JSON.stringify({ argv: process.argv.slice(2), electron: process.env.ELECTRON_RUN_AS_NODE ?? null }));\n',
  );
  return cli;
}

describe.skipIf(process.platform === 'win32')('the stable launcher script', () => {
  it('starts the bundled CLI with the runtime, passing every argument through', () => {
    const base = dir();
    const cli = fakeCli(base);
    const file = writeStableLauncher(join(base, 'bin'), cli, {
      execPath: process.execPath,
      electron: false,
    });
    expect(file).toBe(join(base, 'bin', 'hitloop'));
    expect(statSync(file).mode & 0o777).toBe(0o755);
    const run = spawnSync(file, ['proxy', '--name', "it's", '--', 'npx', '-y', 'srv'], {
      encoding: 'utf8',
      env: { PATH: '/nonexistent' }, // no node on PATH: the script names its runtime itself
    });
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual({
      argv: ['proxy', '--name', "it's", '--', 'npx', '-y', 'srv'],
      electron: null,
    });
  });

  it('sets ELECTRON_RUN_AS_NODE=1 for an Electron runtime (desktop VS Code)', () => {
    const base = dir();
    const cli = fakeCli(base);
    const file = writeStableLauncher(join(base, 'bin'), cli, {
      execPath: process.execPath,
      electron: true,
    });
    const run = spawnSync(file, ['proxy'], { encoding: 'utf8', env: {} });
    expect(JSON.parse(run.stdout)).toEqual({ argv: ['proxy'], electron: '1' });
  });

  it("with the extension's hitloop.home, the proxy it starts announces there, whatever the client's environment", () => {
    const base = dir();
    const cli = join(base, 'cli.js');
    writeFileSync(
      cli,
      'console.log(JSON.stringify({ home: process.env.HITLOOP_HOME ?? null }));\n',
    );
    const home = join(base, "approvals 'home'");
    const file = writeStableLauncher(
      join(home, 'bin'),
      cli,
      {
        execPath: process.execPath,
        electron: false,
      },
      { home },
    );
    const run = spawnSync(file, ['proxy'], {
      encoding: 'utf8',
      env: { HITLOOP_HOME: '/elsewhere' },
    });
    expect(JSON.parse(run.stdout)).toEqual({ home });
    // Without the setting, the client's own HITLOOP_HOME (or ~/.hitloop) stays in effect.
    const plain = writeStableLauncher(join(base, 'bin'), cli, {
      execPath: process.execPath,
      electron: false,
    });
    const unset = spawnSync(plain, ['proxy'], {
      encoding: 'utf8',
      env: { HITLOOP_HOME: '/elsewhere' },
    });
    expect(JSON.parse(unset.stdout)).toEqual({ home: '/elsewhere' });
  });

  it('fails with exit 127 and the fix when the runtime or the CLI has gone (an update)', () => {
    const base = dir();
    const cli = fakeCli(base);
    const file = writeStableLauncher(join(base, 'bin'), cli, {
      execPath: process.execPath,
      electron: false,
    });
    rmSync(join(base, 'ext dir'), { recursive: true });
    const run = spawnSync(file, ['proxy'], { encoding: 'utf8', env: {} });
    expect(run.status).toBe(127);
    expect(run.stderr).toContain('Open VS Code once');
    expect(run.stderr).toContain('hitloop.proxyLauncher');
    expect(run.stderr).toContain(cli);
  });

  it('is rewritten when the extension moves (a new version), and left alone otherwise', () => {
    const base = dir();
    const runtime = { execPath: process.execPath, electron: false };
    const first = fakeCli(join(base, 'v1'));
    const file = writeStableLauncher(join(base, 'bin'), first, runtime, { version: '0.1.0' });
    const before = statSync(file).mtimeMs;
    writeStableLauncher(join(base, 'bin'), first, runtime, { version: '0.1.0' });
    expect(statSync(file).mtimeMs).toBe(before);
    const second = fakeCli(join(base, 'v2'));
    writeStableLauncher(join(base, 'bin'), second, runtime, { version: '0.2.0' });
    // The folder's quote is escaped in the script, so look for the part after it.
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('/v2/ext dir/dist/cli/main.js');
    expect(text).toContain('0.2.0');
    expect(text).not.toContain('/v1/');
    expect(JSON.parse(spawnSync(file, ['x'], { encoding: 'utf8', env: {} }).stdout).argv).toEqual([
      'x',
    ]);
    expect(second).toContain('/v2/');
  });
});

describe('the launch commands', () => {
  it('run the CLI directly, with ELECTRON_RUN_AS_NODE only under Electron', () => {
    expect(
      bundledLaunch('/ext/dist/cli/main.js', { execPath: '/bin/node', electron: false }),
    ).toEqual({ command: '/bin/node', args: ['/ext/dist/cli/main.js'], env: {} });
    expect(
      bundledLaunch('/ext/dist/cli/main.js', { execPath: '/usr/share/code/code', electron: true }),
    ).toEqual({
      command: '/usr/share/code/code',
      args: ['/ext/dist/cli/main.js'],
      env: { ELECTRON_RUN_AS_NODE: '1' },
    });
  });

  it('write a Windows launcher that sets the runtime, the CLI and ELECTRON_RUN_AS_NODE', () => {
    const text = stableLauncherScript(
      'C:\\Users\\me\\.vscode\\extensions\\hitloop.hitloop-0.2.0\\dist\\cli\\main.js',
      { execPath: 'C:\\Program Files\\Microsoft VS Code\\Code.exe', electron: true },
      { platform: 'win32' },
    );
    expect(text).toContain('set "HITLOOP_RUNTIME=C:\\Program Files\\Microsoft VS Code\\Code.exe"');
    expect(text).toContain('set ELECTRON_RUN_AS_NODE=1');
    expect(text).toContain('"%HITLOOP_RUNTIME%" "%HITLOOP_CLI%" %*');
    expect(text).toContain('\r\n');
  });
});
