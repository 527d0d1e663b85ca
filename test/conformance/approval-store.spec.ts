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

/**
 * The one ApprovalStore contract, run against every implementation (memory,
 * SQLite today; PostgreSQL and Redis join with the team-scale stores).
 */
export function approvalStoreConformance(name: string, make: () => Promise<ApprovalStore>): void {
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
  });
}
