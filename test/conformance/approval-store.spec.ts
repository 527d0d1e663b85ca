import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ApprovalRecord, RememberedRule } from '../../shared/hub/protocol.js';
import type { ApprovalStore } from '../../shared/stores/approval-store.js';
import { argsHash } from '../../shared/util/canonical-json.js';

/** A valid pending approval, with overrides. */
export function pendingRecord(overrides: Partial<ApprovalRecord> = {}): ApprovalRecord {
  const args = overrides.args ?? { path: '/tmp/a.txt', content: 'x' };
  return {
    id: randomUUID(),
    hubId: 'hub-1',
    runId: 'run-1',
    status: 'pending',
    server: 'fs',
    tool: 'write_file',
    riskClass: 'medium',
    policyName: 'rules',
    policyReason: 'default is ask',
    rationale: '',
    args,
    argsHash: argsHash(args),
    createdAt: new Date().toISOString(),
    ...overrides,
  };
}

/** How a conformance run makes stores. */
export interface StoreFactory {
  /** A fresh, empty store (isolated from other tests). */
  make(): Promise<ApprovalStore>;
  /**
   * A second instance over the same data as `store` (another process would
   * open the same file, database or key prefix).
   */
  peer(store: ApprovalStore): Promise<ApprovalStore>;
}

/** Resolves when `predicate` holds, polling; rejects after `ms`. */
async function eventually(predicate: () => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * The one ApprovalStore contract, run against every implementation: memory,
 * SQLite, PostgreSQL and Redis.
 */
export function approvalStoreConformance(name: string, factory: StoreFactory): void {
  const make = () => factory.make();
  describe(`ApprovalStore conformance: ${name}`, () => {
    it('stores and returns a record unchanged', async () => {
      const store = await make();
      const r = pendingRecord({ args: { nested: { list: [1, 'two', null] }, s: '\u202e' } });
      await store.put(r);
      expect(await store.get(r.id)).toEqual(r);
      expect(await store.get('missing')).toBeUndefined();
      await store.close();
    });

    it('lists newest first with filters', async () => {
      const store = await make();
      const a = pendingRecord({ createdAt: '2026-01-01T00:00:00.000Z', tool: 'read_file' });
      const b = pendingRecord({ createdAt: '2026-01-02T00:00:00.000Z', server: 'git' });
      const c = pendingRecord({ createdAt: '2026-01-03T00:00:00.000Z', hubId: 'hub-2' });
      for (const r of [a, b, c]) await store.put(r);
      expect((await store.list()).map((r) => r.id)).toEqual([c.id, b.id, a.id]);
      expect((await store.list({ server: 'git' })).map((r) => r.id)).toEqual([b.id]);
      expect((await store.list({ tool: 'read_file' })).map((r) => r.id)).toEqual([a.id]);
      expect((await store.list({ hubId: 'hub-2' })).map((r) => r.id)).toEqual([c.id]);
      expect(await store.list({ limit: 1 })).toHaveLength(1);
      expect(await store.list({ status: [] })).toEqual([]);
      const exposed = pendingRecord({ tool: 'write_file', exposedName: 'fs__write_file' });
      await store.put(exposed);
      expect((await store.list({ tool: 'fs__write_file' })).map((r) => r.id)).toEqual([exposed.id]);
      await store.close();
    });

    it('settles a pending record once; later settlements are refused', async () => {
      const store = await make();
      const r = pendingRecord();
      await store.put(r);
      const decision = {
        actionId: r.id,
        approved: true,
        reason: '',
        decidedBy: 'test',
        latencyMs: 5,
        tags: [],
      };
      const first = await store.settle(r.id, { status: 'approved', decision });
      expect(first.ok).toBe(true);
      const second = await store.settle(r.id, { status: 'rejected' });
      expect(second).toMatchObject({
        ok: false,
        reason: 'not_pending',
        record: { status: 'approved' },
      });
      expect(await store.settle('missing', { status: 'expired' })).toEqual({
        ok: false,
        reason: 'not_found',
      });
      expect((await store.get(r.id))?.decision).toEqual(decision);
      expect((await store.list({ status: ['pending'] })).map((x) => x.id)).not.toContain(r.id);
      await store.close();
    });

    it('lets exactly one of 100 concurrent settlements win', async () => {
      const store = await make();
      const r = pendingRecord();
      await store.put(r);
      const results = await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          store.settle(r.id, {
            status: i % 2 ? 'approved' : 'rejected',
            decision: {
              actionId: r.id,
              approved: i % 2 === 1,
              reason: `#${i}`,
              decidedBy: `r${i}`,
              latencyMs: 1,
              tags: [],
            },
          }),
        ),
      );
      expect(results.filter((x) => x.ok)).toHaveLength(1);
      await store.close();
    });

    it('keeps, lists and removes remembered rules', async () => {
      const store = await make();
      const rule: RememberedRule = {
        id: randomUUID(),
        scope: 'always',
        effect: 'allow',
        server: 'fs',
        tool: 'read_file',
        createdAt: new Date().toISOString(),
        createdBy: 'cli:alice',
      };
      await store.addRule(rule);
      expect(await store.listRules()).toEqual([rule]);
      expect(await store.removeRule(rule.id)).toBe(true);
      expect(await store.removeRule(rule.id)).toBe(false);
      expect(await store.listRules()).toEqual([]);
      await store.close();
    });

    it('lists what a restarted owner must pick up: pending and undelivered decisions', async () => {
      const store = await make();
      const t = `thread-${randomUUID()}`;
      const waiting = pendingRecord({ threadId: t, createdAt: '2026-01-01T00:00:00.000Z' });
      const decided = pendingRecord({ threadId: t, createdAt: '2026-01-02T00:00:00.000Z' });
      const delivered = pendingRecord({ threadId: t, createdAt: '2026-01-03T00:00:00.000Z' });
      const expired = pendingRecord({ threadId: t });
      const other = pendingRecord({ threadId: 'another-thread' });
      const none = pendingRecord();
      for (const r of [waiting, decided, delivered, expired, other, none]) await store.put(r);
      const decision = (id: string) => ({
        actionId: id,
        approved: true,
        reason: '',
        decidedBy: 'test',
        latencyMs: 1,
        tags: [],
      });
      await store.settle(decided.id, { status: 'approved', decision: decision(decided.id) });
      await store.settle(delivered.id, { status: 'rejected', decision: decision(delivered.id) });
      await store.markDelivered(delivered.id, '2026-01-04T00:00:00.000Z');
      await store.markDelivered(delivered.id, '2026-01-05T00:00:00.000Z');
      await store.settle(expired.id, { status: 'expired', statusReason: 'gone' });
      expect((await store.listPending(t)).map((r) => r.id)).toEqual([waiting.id, decided.id]);
      expect((await store.get(delivered.id))?.deliveredAt).toBe('2026-01-04T00:00:00.000Z');
      expect(await store.listPending('no-such-thread')).toEqual([]);
      await store.close();
    });

    it('registerPending inserts, takes back a pending request, and leaves a settled one alone', async () => {
      const store = await make();
      const first = pendingRecord({ threadId: 't', hubId: 'old-hub' });
      expect(await store.registerPending(first)).toEqual(first);
      expect(await store.get(first.id)).toEqual(first);
      const again = await store.registerPending({
        ...first,
        hubId: 'new-hub',
        expiresAt: '2030-01-01T00:00:00.000Z',
        args: { tampered: true },
      });
      expect(again).toMatchObject({
        hubId: 'new-hub',
        expiresAt: '2030-01-01T00:00:00.000Z',
        args: first.args,
        status: 'pending',
      });
      await store.settle(first.id, { status: 'expired', statusReason: 'timed out' });
      const late = await store.registerPending({ ...first, hubId: 'third-hub' });
      expect(late).toMatchObject({ status: 'expired', hubId: 'new-hub' });
      await store.close();
    });

    it('keeps hub heartbeats', async () => {
      const store = await make();
      const hub = {
        hubId: randomUUID(),
        name: 'hitloop proxy',
        host: 'box',
        pid: 42,
        startedAt: '2026-01-01T00:00:00.000Z',
        lastSeen: '2026-01-01T00:00:01.000Z',
      };
      await store.heartbeat(hub);
      await store.heartbeat({ ...hub, lastSeen: '2026-01-01T00:00:09.000Z' });
      expect((await store.listHubs()).filter((h) => h.hubId === hub.hubId)).toEqual([
        { ...hub, lastSeen: '2026-01-01T00:00:09.000Z' },
      ]);
      await store.removeHub(hub.hubId);
      expect((await store.listHubs()).map((h) => h.hubId)).not.toContain(hub.hubId);
      await store.close();
    });

    it('announces changes made through another instance', async () => {
      const store = await make();
      const other = await factory.peer(store);
      const seen: string[] = [];
      const stop = store.watch((c) =>
        seen.push(c.type === 'rules' ? 'rules' : `${c.type}:${c.id}`),
      );
      // Give a subscription-based store time to subscribe before the change.
      await new Promise((r) => setTimeout(r, 100));
      const r = pendingRecord();
      await other.put(r);
      await eventually(() => seen.includes(`put:${r.id}`));
      await other.settle(r.id, { status: 'withdrawn', statusReason: 'cancelled' });
      await eventually(() => seen.includes(`settled:${r.id}`));
      expect((await store.get(r.id))?.status).toBe('withdrawn');
      await other.addRule({
        id: randomUUID(),
        scope: 'always',
        effect: 'deny',
        tool: 't',
        createdAt: new Date().toISOString(),
        createdBy: 'x',
      });
      await eventually(() => seen.includes('rules'));
      stop();
      const after = seen.length;
      await other.put(pendingRecord());
      await new Promise((r) => setTimeout(r, 300));
      expect(seen.length).toBe(after);
      if (other !== store) await other.close();
      await store.close();
    });

    it('a settlement through one instance is seen by the other, and only one wins', async () => {
      const store = await make();
      const other = await factory.peer(store);
      const r = pendingRecord();
      await store.put(r);
      const results = await Promise.all([
        store.settle(r.id, { status: 'approved' }),
        other.settle(r.id, { status: 'rejected' }),
        store.settle(r.id, { status: 'rejected' }),
        other.settle(r.id, { status: 'approved' }),
      ]);
      expect(results.filter((x) => x.ok)).toHaveLength(1);
      const winner = results.find((x) => x.ok);
      expect((await other.get(r.id))?.status).toBe(winner?.ok ? winner.record.status : 'none');
      if (other !== store) await other.close();
      await store.close();
    });
  });
}
