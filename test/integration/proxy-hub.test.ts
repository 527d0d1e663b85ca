import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { discoverHubs } from '../../shared/hub/discovery.js';
import {
  announcedHub,
  filesystemServer,
  pendingOnHub,
  resultText,
  startHttpProxy,
  tempDir,
  waitUntil,
  writeConfig,
} from '../helpers/proxy-harness.js';
import { runHitloop } from '../helpers/run-cli.js';

// The default approval channel: the proxy's own approval hub, decided from
// another process through `hitloop approvals / approve / reject`.

const tmp = tempDir('hitloop-hub-e2e-');
afterAll(() => tmp.remove());

describe('hitloop proxy with the approval hub, decided from the CLI', () => {
  it('lists a pending write, applies an edited approval, and delivers a rejection with its reason', async () => {
    const work = join(tmp.dir, 'files');
    const home = join(tmp.dir, 'home');
    mkdirSync(work, { recursive: true });
    const config = writeConfig(tmp.dir, {
      mcpServers: { fs: filesystemServer(work) },
      policy: { type: 'rules', default: 'allow', rules: [{ tool: 'write_file', effect: 'ask' }] },
      telemetry: { db: false },
    });
    const proxy = await startHttpProxy(config, home);
    const env = { HITLOOP_HOME: home };
    try {
      const client = await proxy.connect();
      const target = join(work, 'a.txt');
      const first = client.callTool({
        name: 'write_file',
        arguments: { path: target, content: 'proposed' },
      });
      const { hub, pending } = await pendingOnHub(home);
      expect(pending).toMatchObject({
        tool: 'write_file',
        server: 'fs',
        args: { path: target, content: 'proposed' },
      });

      const listed = runHitloop(['approvals'], { env });
      expect(listed.code).toBe(0);
      expect(listed.stdout).toContain(pending.id);
      expect(listed.stdout).toContain('"content": "proposed"');

      const approved = runHitloop(
        [
          'approve',
          pending.id.slice(0, 8),
          '--args',
          JSON.stringify({ path: target, content: 'edited' }),
        ],
        { env },
      );
      expect(approved.code, approved.stderr).toBe(0);
      expect(resultText(await first)).toContain('Successfully wrote');
      expect(readFileSync(target, 'utf8')).toBe('edited');

      const again = runHitloop(['approve', pending.id], { env });
      expect(again.code).toBe(2);
      expect(again.stderr).toMatch(/already approved by cli:\S+/);

      const other = join(work, 'b.txt');
      const second = client.callTool({
        name: 'write_file',
        arguments: { path: other, content: 'nope' },
      });
      const [p2] = await waitUntil(async () => {
        const list = await hub.listPending();
        return list.length ? list : undefined;
      }, 'the second approval');
      const rejected = runHitloop(['reject', p2!.id, '--reason', 'wrong folder'], { env });
      expect(rejected.code, rejected.stderr).toBe(0);
      const result = await second;
      expect(result.isError).toBe(true);
      expect(resultText(result)).toMatch(
        /NOT executed: rejected by cli:\S+\. Reason: wrong folder/,
      );
      expect(existsSync(other)).toBe(false);
    } finally {
      await proxy.close();
    }
    // A clean exit removes the discovery file.
    expect(discoverHubs(home)).toEqual([]);
  });

  it('prints ids that `hitloop approve` accepts when several calls wait at once', async () => {
    const work = join(tmp.dir, 'files-many');
    const home = join(tmp.dir, 'home-many');
    mkdirSync(work, { recursive: true });
    const config = writeConfig(tmp.dir, {
      mcpServers: { fs: filesystemServer(work) },
      policy: { type: 'rules', default: 'allow', rules: [{ tool: 'write_file', effect: 'ask' }] },
      telemetry: { db: false },
    });
    const proxy = await startHttpProxy(config, home);
    const env = { HITLOOP_HOME: home };
    try {
      const client = await proxy.connect();
      const calls = ['a.txt', 'b.txt'].map((name) =>
        client.callTool({
          name: 'write_file',
          arguments: { path: join(work, name), content: name },
        }),
      );
      const hub = await announcedHub(home);
      await waitUntil(
        async () => ((await hub.listPending()).length === 2 ? true : undefined),
        'both approvals',
      );

      // UUIDv7 ids made within a minute share their first 8 characters, so the
      // listing must show more than those for the ids to be usable.
      const listed = runHitloop(['approvals'], { env });
      expect(listed.code).toBe(0);
      const shown = listed.stdout
        .split('\n')
        .filter((line) => /^\S/.test(line))
        .map((line) => line.split(/\s+/)[0]!);
      expect(shown).toHaveLength(2);
      for (const id of shown) {
        const approved = runHitloop(['approve', id], { env });
        expect(approved.code, approved.stderr).toBe(0);
      }
      for (const call of calls) expect(resultText(await call)).toContain('Successfully wrote');
    } finally {
      await proxy.close();
    }
  });

  it('says so when nothing is pending', () => {
    const r = runHitloop(['approvals'], { env: { HITLOOP_HOME: join(tmp.dir, 'empty-home') } });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('no pending approvals');
  });
});
