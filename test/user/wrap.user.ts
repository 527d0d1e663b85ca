import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { FS_SERVER, freshDir, hitloop } from './harness.js';

// `hitloop wrap` from the installed CLI on the files users have: the
// README promises that running it twice changes nothing and that --undo
// restores. (Codex running a wrapped config.toml is in codex.user.ts.)

const prefix = inject('prefix');
const userRoot = inject('userRoot');
const HITLOOP = join(prefix, 'bin/hitloop');

function setup(name: string, text: string) {
  const base = freshDir(userRoot, 'wrap-only');
  const file = join(base, name);
  writeFileSync(file, text);
  return { file, cli: { home: base, hitloopHome: join(base, '.hitloop'), cwd: base } };
}

describe('hitloop wrap, installed from the tarball', () => {
  it('Claude Code .mcp.json: wrap, then --undo restores the file byte for byte', async () => {
    const original = `${JSON.stringify(
      { mcpServers: { fs: { command: 'node', args: [FS_SERVER, '/srv/project'] } } },
      null,
      2,
    )}\n`;
    const { file, cli } = setup('.mcp.json', original);
    const wrapped = await hitloop(HITLOOP, ['wrap', file], cli);
    expect(wrapped.code, wrapped.stdout + wrapped.stderr).toBe(0);
    const entry = (
      JSON.parse(readFileSync(file, 'utf8')) as {
        mcpServers: { fs: { command: string; args: string[] } };
      }
    ).mcpServers.fs;
    const argv = [entry.command, ...entry.args];
    expect(argv).toContain('proxy');
    expect(argv.slice(argv.indexOf('--'))).toEqual(['--', 'node', FS_SERVER, '/srv/project']);

    const undone = await hitloop(HITLOOP, ['wrap', '--undo', file], cli);
    expect(undone.code, undone.stdout + undone.stderr).toBe(0);
    expect(
      readFileSync(file, 'utf8'),
      `wrap --undo printed:\n${undone.stdout}${undone.stderr}`,
    ).toBe(original);
  });

  for (const [name, text] of [
    [
      '.mcp.json',
      `${JSON.stringify({ mcpServers: { fs: { command: 'node', args: [FS_SERVER, '/srv/p'] } } }, null, 2)}\n`,
    ],
    ['config.toml', `[mcp_servers.fs]\ncommand = "node"\nargs = ["${FS_SERVER}", "/srv/p"]\n`],
  ] as const) {
    it(`${name}: wrapping twice changes nothing the second time`, async () => {
      const { file, cli } = setup(name, text);
      const first = await hitloop(HITLOOP, ['wrap', file], cli);
      expect(first.code, first.stdout + first.stderr).toBe(0);
      const once = readFileSync(file, 'utf8');
      expect(once).not.toBe(text);
      const second = await hitloop(HITLOOP, ['wrap', file], cli);
      expect(second.code, second.stdout + second.stderr).toBe(0);
      expect(readFileSync(file, 'utf8'), `the second wrap printed:\n${second.stdout}`).toBe(once);
    });
  }
});
