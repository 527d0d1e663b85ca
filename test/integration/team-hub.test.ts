import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { HubClient } from '../../shared/hub/hub-client.js';
import type { ApprovalRecord } from '../../shared/hub/protocol.js';
import {
  filesystemServer,
  resultText,
  type StdioProxy,
  startStdioProxy,
  tempDir,
  waitUntil,
  writeConfig,
} from '../helpers/proxy-harness.js';
import { startServe } from '../helpers/serve.js';
import {
  isolatedStoreUrl,
  POSTGRES_URL,
  REDIS_URL,
  requireService,
} from '../helpers/team-stores.js';

// Team mode end to end: `hitloop serve` on a shared store, real proxies
// (separate processes, each with its own HITLOOP_HOME, as on separate
// machines) in front of the real filesystem server, driven by the SDK client.

const tmp = tempDir('hitloop-team-');
afterAll(() => tmp.remove());

function proxyConfig(name: string, work: string): string {
  return writeConfig(
    tmp.dir,
    {
      mcpServers: { fs: filesystemServer(work) },
      policy: { type: 'rules', default: 'allow', rules: [{ tool: 'write_file', effect: 'ask' }] },
      telemetry: { db: false },
    },
    `${name}.json`,
  );
}

async function pendingOf(hub: HubClient, predicate: (a: ApprovalRecord) => boolean) {
  return waitUntil(async () => (await hub.listPending()).find(predicate), 'a pending approval');
}

for (const [label, base] of [
  ['PostgreSQL', POSTGRES_URL],
  ['Redis', REDIS_URL],
] as const) {
  const available = await requireService(label === 'PostgreSQL' ? 'postgres' : 'redis', base);
  describe.skipIf(!available)(`team mode on ${label}`, () => {
    it('two proxies and one hub: each decision reaches the proxy that asked', async () => {
      const store = isolatedStoreUrl(base);
      const serve = await startServe(store, join(tmp.dir, `${label}-serve-home`));
      const proxies: StdioProxy[] = [];
      try {
        const dirs = ['alpha', 'beta'].map((n) => {
          const d = join(tmp.dir, `${label}-${n}`);
          mkdirSync(d, { recursive: true });
          return d;
        });
        for (const [i, dir] of dirs.entries())
          proxies.push(
            await startStdioProxy(
              proxyConfig(`${label}-p${i}`, dir),
              join(tmp.dir, `${label}-home${i}`),
              {
                extraArgs: ['--store', store, '--instance', `proxy-${i}`],
              },
            ),
          );
        const calls = proxies.map((p, i) =>
          p.client.callTool({
            name: 'write_file',
            arguments: { path: join(dirs[i]!, 'note.txt'), content: `from proxy ${i}` },
          }),
        );
        const a = await pendingOf(serve.client, (r) => r.threadId === 'proxy-0');
        const b = await pendingOf(serve.client, (r) => r.threadId === 'proxy-1');
        expect(a.hubId).not.toBe(b.hubId);
        // Decide B first: only B's call may finish.
        await serve.client.decide(b.id, {
          approve: false,
          argsHash: b.argsHash,
          reason: 'not today',
          decidedBy: 'team:dana',
        });
        const rb = await calls[1]!;
        expect(rb.isError).toBe(true);
        expect(resultText(rb)).toMatch(/NOT executed: rejected by team:dana\. Reason: not today/);
        expect((await serve.client.get(a.id)).status).toBe('pending');
        await serve.client.decide(a.id, {
          approve: true,
          argsHash: a.argsHash,
          decidedBy: 'team:dana',
        });
        expect(resultText(await calls[0]!)).toContain('Successfully wrote');
        expect(readFileSync(join(dirs[0]!, 'note.txt'), 'utf8')).toBe('from proxy 0');
        expect(existsSync(join(dirs[1]!, 'note.txt'))).toBe(false);
      } finally {
        await Promise.allSettled(proxies.map((p) => p.close()));
        await serve.stop();
      }
    }, 60_000);

    it('kill -9 a proxy while its request is pending, restart it: the decision still applies', async () => {
      const store = isolatedStoreUrl(base);
      const serve = await startServe(store, join(tmp.dir, `${label}-serve-home2`));
      const dir = join(tmp.dir, `${label}-gamma`);
      mkdirSync(dir, { recursive: true });
      const config = proxyConfig(`${label}-gamma`, dir);
      const home = join(tmp.dir, `${label}-gamma-home`);
      const args = { path: join(dir, 'plan.txt'), content: 'ship it' };
      const extraArgs = ['--store', store, '--instance', 'proxy-gamma'];
      let second: StdioProxy | undefined;
      try {
        const first = await startStdioProxy(config, home, { extraArgs });
        void first.client.callTool({ name: 'write_file', arguments: args }).catch(() => undefined);
        const pending = await pendingOf(serve.client, (r) => r.threadId === 'proxy-gamma');
        process.kill(first.pid, 'SIGKILL');
        await waitUntil(() => {
          try {
            process.kill(first.pid, 0);
            return false;
          } catch {
            return true;
          }
        }, 'the proxy to die');
        // Decided while the proxy is down: it may come back, so it is applied.
        const decided = await serve.client.decide(pending.id, {
          approve: true,
          argsHash: pending.argsHash,
          decidedBy: 'team:erin',
        });
        expect(decided.status).toBe('approved');
        expect(existsSync(args.path)).toBe(false);
        second = await startStdioProxy(config, home, { extraArgs });
        await second.stderr.waitFor(/took back 1 approval/);
        // The agent retries the same call after the restart: it runs, with no new card.
        const retried = await second.client.callTool({ name: 'write_file', arguments: args });
        expect(resultText(retried)).toContain('Successfully wrote');
        expect(readFileSync(args.path, 'utf8')).toBe('ship it');
        expect(await serve.client.listPending()).toEqual([]);
        const record = await serve.client.get(pending.id);
        expect(record).toMatchObject({ status: 'approved', decision: { decidedBy: 'team:erin' } });
        expect(record.deliveredAt).toBeDefined();
      } finally {
        await second?.close();
        await serve.stop();
      }
    }, 60_000);
  });
}
