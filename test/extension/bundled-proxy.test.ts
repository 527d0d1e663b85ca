import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { prepareBundledProxy, proxyLaunch } from '../../extension/src/bundled-proxy.js';
import { makeTempDir } from '../helpers/temp-dir.js';

// What the extension does at activation with the proxy its VSIX carries, and
// which command each consumer (an MCP server definition, an mcp.json entry)
// gets. bundled-proxy.ts imports vscode for types only, so it runs here.

function extensionFolder(withCli: boolean): string {
  const ext = makeTempDir('hitloop-ext-');
  if (withCli) {
    mkdirSync(join(ext, 'dist', 'cli'), { recursive: true });
    writeFileSync(join(ext, 'dist', 'cli', 'main.js'), '');
  }
  return ext;
}

describe('prepareBundledProxy', () => {
  it('finds the bundled CLI and writes the fixed-path launcher under the hitloop home', () => {
    const ext = extensionFolder(true);
    const home = makeTempDir('hitloop-home-');
    const log: string[] = [];
    const bundled = prepareBundledProxy(
      { extensionPath: ext, extension: { packageJSON: { version: '9.9.9' } } },
      home,
      (m) => log.push(m),
    );
    const cli = join(ext, 'dist', 'cli', 'main.js');
    expect(bundled.direct).toEqual({
      command: process.execPath,
      args: [cli],
      env: process.versions.electron ? { ELECTRON_RUN_AS_NODE: '1' } : {},
    });
    const launcher = join(home, 'bin', process.platform === 'win32' ? 'hitloop.cmd' : 'hitloop');
    expect(bundled.stable).toEqual({ command: launcher, args: [] });
    expect(readFileSync(launcher, 'utf8')).toContain('9.9.9');
    expect(log.join('\n')).toContain(`launcher for mcp.json: ${launcher}`);
  });

  it('without dist/cli (a checkout not built), offers nothing and says so', () => {
    const home = makeTempDir('hitloop-home-');
    const log: string[] = [];
    expect(
      prepareBundledProxy({ extensionPath: extensionFolder(false) }, home, (m) => log.push(m)),
    ).toEqual({});
    expect(log.join('\n')).toContain('the proxy bundled with the extension is missing');
    expect(existsSync(join(home, 'bin'))).toBe(false);
  });

  it('keeps the direct launch when the launcher cannot be written, and says why', () => {
    const ext = extensionFolder(true);
    const blocked = join(makeTempDir('hitloop-home-'), 'file');
    writeFileSync(blocked, 'not a folder');
    const log: string[] = [];
    const bundled = prepareBundledProxy({ extensionPath: ext }, blocked, (m) => log.push(m));
    expect(bundled.direct?.args).toEqual([join(ext, 'dist', 'cli', 'main.js')]);
    expect(bundled.stable).toBeUndefined();
    expect(log.join('\n')).toContain('could not write the launcher for .vscode/mcp.json');
  });
});

describe('proxyLaunch', () => {
  const bundled = {
    direct: {
      command: '/vscode/electron',
      args: ['/ext/dist/cli/main.js'],
      env: { ELECTRON_RUN_AS_NODE: '1' },
    },
    stable: { command: '/home/me/.hitloop/bin/hitloop', args: [] },
  };

  it('gives MCP server definitions the bundled CLI with its environment', () => {
    expect(proxyLaunch([], bundled, 'definition')).toEqual({ launch: bundled.direct });
  });

  it('gives mcp.json the fixed-path launcher, which needs no environment', () => {
    expect(proxyLaunch([], bundled, 'mcp.json')).toEqual({
      launch: { ...bundled.stable, env: {} },
    });
  });

  it('lets an explicit hitloop.proxyLauncher win for both', () => {
    const setting = ['node', '/opt/hitloop/dist/cli/main.js'];
    for (const purpose of ['definition', 'mcp.json'] as const)
      expect(proxyLaunch(setting, bundled, purpose)).toEqual({
        launch: { command: 'node', args: ['/opt/hitloop/dist/cli/main.js'], env: {} },
      });
  });

  it('sets the old npx -y hitloop aside with a note, using the bundled proxy', () => {
    const r = proxyLaunch(['npx', '-y', 'hitloop'], bundled, 'definition');
    expect(r).toMatchObject({ launch: bundled.direct });
    expect((r as { note: string }).note).toContain('npm registry');
  });
});
