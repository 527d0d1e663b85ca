import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findOnPath, resolveProxyLauncher } from '../../mcp-server/wrap/launcher.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const root = join(import.meta.dirname, '..', '..');
const dir = () => makeTempDir('hitloop-launcher-');

function program(folder: string, name = 'hitloop', mode = 0o755): string {
  mkdirSync(folder, { recursive: true });
  const file = join(folder, name);
  writeFileSync(file, '#!/bin/sh\n');
  chmodSync(file, mode);
  return file;
}

describe('findOnPath', () => {
  it('returns the first executable hitloop on PATH, as an absolute path', () => {
    const base = dir();
    const first = join(base, 'a');
    const second = join(base, 'b');
    program(first, 'hitloop', 0o644); // not executable: skipped
    mkdirSync(join(second, 'hitloop'), { recursive: true }); // a folder: skipped
    const third = program(join(base, 'c'));
    const env = { PATH: ['relative/bin', '', first, second, join(base, 'c')].join(':') };
    expect(findOnPath('hitloop', { env, platform: 'linux', extraDirs: [] })).toBe(third);
    expect(findOnPath('hitloop', { env: { PATH: first }, platform: 'linux', extraDirs: [] })).toBe(
      undefined,
    );
  });

  it('also looks in the usual npm folders VS Code may lack on its PATH', () => {
    const base = dir();
    const found = program(join(base, 'npm-global', 'bin'));
    expect(
      findOnPath('hitloop', {
        env: { PATH: '/usr/bin:/bin' },
        platform: 'linux',
        extraDirs: [join(base, 'npm-global', 'bin')],
      }),
    ).toBe(found);
  });

  it('on Windows, tries PATHEXT extensions, never the extensionless npm sh shim beside them', () => {
    const base = dir();
    program(base, 'hitloop', 0o644);
    const cmd = program(base, 'hitloop.cmd', 0o644);
    expect(
      findOnPath('hitloop', {
        env: { Path: base, PATHEXT: '.EXE;.CMD' },
        platform: 'win32',
      }),
    ).toBe(cmd);
  });
});

describe('resolveProxyLauncher', () => {
  const bundled = { command: '/vscode/node', args: ['/ext/dist/cli/main.js'] };

  it('with the default (empty) setting, uses the proxy bundled with the extension', () => {
    const base = dir();
    program(base); // a hitloop on PATH does not win over the bundled one
    expect(
      resolveProxyLauncher([], { bundled, env: { PATH: base }, platform: 'linux', extraDirs: [] }),
    ).toEqual({ launcher: bundled });
  });

  it('without a bundled proxy (a checkout not built yet), uses the hitloop found on PATH', () => {
    const base = dir();
    const hitloop = program(base);
    expect(
      resolveProxyLauncher([], { env: { PATH: base }, platform: 'linux', extraDirs: [] }),
    ).toEqual({ launcher: { command: hitloop, args: [] } });
  });

  it('says how to reinstall or set the launcher when nothing is found, instead of npx', () => {
    const r = resolveProxyLauncher([], {
      env: { PATH: '/nonexistent' },
      platform: 'linux',
      extraDirs: [],
    });
    expect('problem' in r).toBe(true);
    const problem = (r as { problem: string }).problem;
    expect(problem).toContain('bundled with the extension is missing');
    expect(problem).toContain('hitloop.proxyLauncher');
    expect(problem).toContain('["node", "/abs/path/hitloop/dist/cli/main.js"]');
    expect(problem).toContain('/nonexistent');
    expect(problem).toContain('Nothing was changed');
  });

  it('uses an explicit setting as given, over the bundled proxy', () => {
    expect(
      resolveProxyLauncher(['node', '/opt/hitloop/dist/mcp-server/cli/main.js'], { bundled }),
    ).toEqual({
      launcher: { command: 'node', args: ['/opt/hitloop/dist/mcp-server/cli/main.js'] },
    });
  });

  it('sets aside the old npx -y hitloop (the name is not ours on npm), with a note', () => {
    const r = resolveProxyLauncher(['npx', '-y', 'hitloop'], { bundled });
    expect(r).toMatchObject({ launcher: bundled });
    expect((r as { note: string }).note).toContain('npm registry');
  });
});

describe('the hitloop.proxyLauncher setting', () => {
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const setting = manifest.contributes.configuration.properties['hitloop.proxyLauncher'];

  it('defaults to [] (the bundled proxy), never to npx -y hitloop', () => {
    expect(setting.default).toEqual([]);
    expect(setting.markdownDescription).toContain('bundled');
    for (const file of [
      'extension/src/settings.ts',
      'extension/src/route-servers.ts',
      'extension/src/mcp-provider.ts',
      'extension/src/bundled-proxy.ts',
    ]) {
      expect(readFileSync(join(root, file), 'utf8'), file).not.toMatch(
        /'npx',\s*'-y',\s*'hitloop'/,
      );
    }
  });

  it('is read from User settings in every window, and never from a workspace', () => {
    // `machine` greys the User value out in remote windows and code-server;
    // a workspace scope would let a repository (or an agent editing
    // .vscode/settings.json) choose what starts in place of the gate.
    expect(setting.scope).toBe('application');
  });
});

describe('the hitloop.home setting', () => {
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const home = manifest.contributes.configuration.properties['hitloop.home'];

  it('is read from User settings in every window, and never from a workspace', () => {
    // Same reasoning as hitloop.proxyLauncher: `machine` greys the User value
    // out in remote windows and code-server (test/e2e checks the value takes
    // effect there); a workspace value would let a repository choose where
    // approvals are read from, and move HITLOOP_HOME (which holds the
    // launcher the proxy protects from file tools) somewhere an agent writes.
    expect(home.scope).toBe('application');
  });
});

describe('the hitloop.offerMcpJsonServers setting', () => {
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  it('is on by default, and says what stays ungated and what cannot be read', () => {
    const offer = manifest.contributes.configuration.properties['hitloop.offerMcpJsonServers'];
    expect(offer.type).toBe('boolean');
    expect(offer.default).toBe(true);
    expect(offer.markdownDescription).toMatch(/via hitloop/);
    expect(offer.markdownDescription).toMatch(/originals stay callable until you route them/);
    expect(offer.markdownDescription).toMatch(/other extensions provide cannot be read/);
  });
});
