import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ApprovalHub } from '../../shared/hub/approval-hub.js';
import { HubBackend } from '../../shared/hub/hub-backend.js';
import type { HubEvent } from '../../shared/hub/protocol.js';
import { ResumableHubBackend } from '../../shared/langgraph/resumable-hub-backend.js';
import { createAction } from '../../shared/models/action.js';
import type { ApprovalRequest } from '../../shared/models/approval-request.js';
import type { ApprovalStore } from '../../shared/stores/approval-store.js';
import { MemoryApprovalStore } from '../../shared/stores/memory-store.js';
import { SqliteApprovalStore } from '../../shared/stores/sqlite-store.js';
import { argsHash } from '../../shared/util/canonical-json.js';
import { pendingRecord } from '../conformance/approval-store.spec.js';
import { waitUntil } from '../helpers/proxy-harness.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const home = makeTempDir('hitloop-shared-home-');
const dir = makeTempDir('hitloop-shared-');
let n = 0;
const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

function requestFor(args: Record<string, unknown> = { path: '/tmp/x' }): ApprovalRequest {
  return {
    runId: 'run-1',
    action: createAction({ toolName: 'write_file', toolArgs: args, server: 'fs' }),
    policyName: 'rules',
    policyReason: 'default is ask',
    context: {},
    createdAt: new Date().toISOString(),
  };
}

async function hubOn(
  store: ApprovalStore,
  extra: Partial<ConstructorParameters<typeof ApprovalHub>[0]> = {},
) {
  const hub = new ApprovalHub({ store, home, announce: false, ...extra });
  await hub.start();
  cleanup.push(() => hub.stop());
  return hub;
}

/** A pid that belonged to a process that has exited. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid!;
}

describe('hubs sharing one store across processes (two SQLite connections)', () => {
  function twoStores(): [SqliteApprovalStore, SqliteApprovalStore] {
    const file = join(dir, `shared-${n++}.db`);
    const a = new SqliteApprovalStore(file);
    const b = new SqliteApprovalStore(file);
    cleanup.push(
      () => a.close(),
      () => b.close(),
    );
    return [a, b];
  }

  it('a decision made through another hub wakes the waiting one', async () => {
    const [sa, sb] = twoStores();
    const asker = await hubOn(sa);
    const central = await hubOn(sb, { relayStoreEvents: true });
    const seen: HubEvent[] = [];
    central.subscribe((e) => seen.push(e));
    const askerSeen: HubEvent[] = [];
    asker.subscribe((e) => askerSeen.push(e));
    const backend = new HubBackend(asker);
    const request = requestFor({ path: '/tmp/shared' });
    const pending = backend.requestApproval(request);
    const requested = await waitUntil(
      () => seen.find((e) => e.type === 'requested'),
      'the store change',
    );
    expect(requested).toMatchObject({ approval: { id: request.action.id, hubId: asker.hubId } });
    const result = await central.decide(request.action.id, {
      approve: true,
      argsHash: argsHash(request.action.toolArgs),
      decidedBy: 'central:alice',
    });
    expect(result.ok).toBe(true);
    const decision = await pending;
    expect(decision).toMatchObject({ approved: true, decidedBy: 'central:alice' });
    // The asker's own clients (its sidebar) hear that their card was decided elsewhere.
    await waitUntil(() => askerSeen.find((e) => e.type === 'decided'), 'the store change');
  });

  it('heartbeats let hubs see each other; a clean stop removes the heartbeat', async () => {
    const [sa, sb] = twoStores();
    const a = await hubOn(sa);
    const b = new ApprovalHub({ store: sb, home, announce: false });
    await b.start();
    const ids = (await sa.listHubs()).map((h) => h.hubId);
    expect(ids).toEqual(expect.arrayContaining([a.hubId, b.hubId]));
    await b.stop();
    expect((await sa.listHubs()).map((h) => h.hubId)).not.toContain(b.hubId);
  });
});

describe('lost change notices', () => {
  it('a waiting hub re-reads its requests, so a lost notice does not leave a call waiting', async () => {
    // A store whose notices never arrive (a listen connection that was down).
    class Deaf extends MemoryApprovalStore {
      override watch(): () => void {
        return () => {};
      }
    }
    const store = new Deaf();
    const hub = await hubOn(store, { recheckMs: 100 });
    const request = requestFor({ path: '/tmp/deaf' });
    const pending = new HubBackend(hub).requestApproval(request);
    await waitUntil(() => store.get(request.action.id), 'the store change');
    await store.settle(request.action.id, {
      status: 'approved',
      decision: {
        actionId: request.action.id,
        approved: true,
        reason: '',
        decidedBy: 'elsewhere',
        latencyMs: 1,
        tags: [],
      },
    });
    expect(await pending).toMatchObject({ approved: true, decidedBy: 'elsewhere' });
  });
});

describe('requests whose process died', () => {
  it('a decision for a request of a dead process (no thread) is recorded as expired, not applied', async () => {
    const store = new MemoryApprovalStore();
    const hub = await hubOn(store);
    const record = pendingRecord({ hubId: 'dead-hub' });
    await store.heartbeat({
      hubId: 'dead-hub',
      name: 'hitloop proxy',
      host: hostname(),
      pid: deadPid(),
      startedAt: new Date().toISOString(),
      lastSeen: new Date().toISOString(),
    });
    await store.put(record);
    const result = await hub.decide(record.id, {
      approve: true,
      argsHash: record.argsHash,
      decidedBy: 'late:bob',
    });
    expect(result).toMatchObject({ ok: false, status: 409 });
    expect(!result.ok && result.message).toContain('recorded but not applied');
    const after = await store.get(record.id);
    expect(after).toMatchObject({
      status: 'expired',
      lateDecision: { approved: true, decidedBy: 'late:bob' },
    });
    expect(after?.statusReason).toContain('no longer running');
    expect(after?.decision).toBeUndefined();
  });

  it('a decision for an already expired request is kept as lateDecision and refused', async () => {
    const store = new MemoryApprovalStore();
    const hub = await hubOn(store);
    const record = pendingRecord({ hubId: hub.hubId });
    await hub.publish(record);
    await hub.expire(record.id, 'no decision within 1 s');
    const result = await hub.decide(record.id, { approve: false, argsHash: record.argsHash });
    expect(!result.ok && result.message).toMatch(/had already expired \(no decision within 1 s\)/);
    expect((await store.get(record.id))?.lateDecision).toMatchObject({ approved: false });
  });

  it('a threaded request of a dead process stays answerable within the resume window, then expires', async () => {
    const store = new MemoryApprovalStore();
    const recent = pendingRecord({ hubId: 'gone-recently', threadId: 'T1' });
    const old = pendingRecord({ hubId: 'gone-long-ago', threadId: 'T2' });
    const now = Date.now();
    for (const [hubId, lastSeen] of [
      ['gone-recently', now - 1_000],
      ['gone-long-ago', now - 120_000],
    ] as const)
      await store.heartbeat({
        hubId,
        name: 'p',
        host: 'another-machine',
        pid: 1,
        startedAt: new Date(now - 200_000).toISOString(),
        lastSeen: new Date(lastSeen).toISOString(),
      });
    await store.put(recent);
    await store.put(old);
    // Stale after 15 s (3 heartbeats of 5 s); a dead owner is waited for 60 s.
    const hub = await hubOn(store, { heartbeatMs: 5_000, resumeWindowMs: 60_000 });
    await hub.sweep();
    expect((await store.get(recent.id))?.status).toBe('pending');
    expect(await store.get(old.id)).toMatchObject({
      status: 'expired',
      statusReason: expect.stringContaining('did not come back within 60 s'),
    });
  });

  /** What a proxy killed with -9 leaves behind: a threaded pending request and a heartbeat of a dead pid. */
  async function killedProxyLeft(store: ApprovalStore, threadId: string) {
    const request = requestFor({ path: '/tmp/resume', content: 'x' });
    const record = pendingRecord({
      id: request.action.id,
      hubId: 'first-life',
      threadId,
      server: 'fs',
      tool: 'write_file',
      args: request.action.toolArgs,
      argsHash: argsHash(request.action.toolArgs),
    });
    await store.heartbeat({
      hubId: 'first-life',
      name: 'hitloop proxy',
      host: hostname(),
      pid: deadPid(),
      startedAt: new Date().toISOString(),
      lastSeen: new Date().toISOString(),
    });
    await store.put(record);
    return record;
  }

  it('a restarted process takes its requests back; a decision made meanwhile applies to the retried call', async () => {
    const store = new MemoryApprovalStore();
    const central = await hubOn(store);
    const record = await killedProxyLeft(store, 'proxy:box');
    // Decided while the process is down: still answerable (it may come back).
    const decided = await central.decide(record.id, {
      approve: true,
      argsHash: record.argsHash,
      editedArgs: { path: '/tmp/resume', content: 'edited' },
      decidedBy: 'central:carol',
    });
    expect(decided.ok).toBe(true);
    // Second life: same thread id.
    const second = await hubOn(store);
    const back = await second.recover('proxy:box');
    expect(back.map((r) => r.id)).toEqual([record.id]);
    const retry = requestFor({ path: '/tmp/resume', content: 'x' });
    const decision = await new HubBackend(second, { threadId: 'proxy:box' }).requestApproval(retry);
    expect(decision).toMatchObject({
      approved: true,
      actionId: retry.action.id,
      decidedBy: 'central:carol',
      editedArgs: { path: '/tmp/resume', content: 'edited' },
    });
    expect(decision.tags).toContain(`recovered:${record.id}`);
    expect((await store.get(record.id))?.deliveredAt).toBeDefined();
    expect(await store.listPending('proxy:box')).toEqual([]);
    // A further identical call is a new request, not a replay.
    expect(second.takeRecovered('fs', 'write_file', record.argsHash)).toBeUndefined();
  });

  it('a restarted process re-owns a still-pending request, and the decision reaches the retry', async () => {
    const store = new MemoryApprovalStore();
    const central = await hubOn(store);
    const record = await killedProxyLeft(store, 'proxy:box2');
    const second = await hubOn(store);
    const [back] = await second.recover('proxy:box2');
    expect(back).toMatchObject({ id: record.id, hubId: second.hubId, status: 'pending' });
    const retry = requestFor(record.args);
    const waiting = new HubBackend(second, { threadId: 'proxy:box2' }).requestApproval(retry);
    await new Promise((r) => setTimeout(r, 50));
    expect((await store.list({ status: ['pending'] })).map((r) => r.id)).toEqual([record.id]);
    await central.decide(record.id, { approve: false, argsHash: record.argsHash, reason: 'no' });
    expect(await waiting).toMatchObject({
      approved: false,
      reason: 'no',
      actionId: retry.action.id,
    });
  });
});

describe('review fixes', () => {
  it('a team hub accepting an edit the tool schema refuses: the asking process fails closed', async () => {
    const store = new MemoryApprovalStore();
    const asker = await hubOn(store);
    const central = await hubOn(store, { relayStoreEvents: true });
    const request = requestFor({ path: '/tmp/v' });
    const pending = new HubBackend(asker).requestApproval(request, {
      validateArgs: (a) => (typeof a.path === 'string' ? [] : ['path: expected a string']),
    });
    await waitUntil(() => store.get(request.action.id), 'the store change');
    // The central hub has no validator for another process's request.
    const r = await central.decide(request.action.id, {
      approve: true,
      argsHash: argsHash(request.action.toolArgs),
      editedArgs: { path: 42 },
    });
    expect(r.ok).toBe(true);
    expect(await pending).toMatchObject({
      approved: false,
      decidedBy: 'hub:invalid_args',
      reason: expect.stringContaining('path: expected a string'),
    });
  });

  it('a hub not heard of yet is not judged dead: its fresh request survives a sweep', async () => {
    const store = new MemoryApprovalStore();
    const hub = await hubOn(store);
    const fresh = pendingRecord({ hubId: 'started-a-moment-ago' });
    await store.put(fresh);
    await hub.sweep();
    expect((await store.get(fresh.id))?.status).toBe('pending');
  });

  it('a clean stop leaves threaded requests answerable for a restart, and expires the rest', async () => {
    const store = new MemoryApprovalStore();
    const hub = new ApprovalHub({ store, home, announce: false });
    await hub.start();
    const threaded = pendingRecord({ hubId: hub.hubId, threadId: 'proxy:x' });
    const plain = pendingRecord({ hubId: hub.hubId });
    await hub.publish(threaded);
    await hub.publish(plain);
    await hub.stop();
    expect((await store.get(threaded.id))?.status).toBe('pending');
    expect((await store.get(plain.id))?.status).toBe('expired');
    // Its last heartbeat stays, dating the end of the process for the resume window.
    expect((await store.listHubs()).map((h) => h.hubId)).toContain(hub.hubId);
    // The process then exits (here: its heartbeat names a pid that is gone).
    const last = (await store.listHubs()).find((h) => h.hubId === hub.hubId)!;
    await store.heartbeat({ ...last, pid: deadPid() });
    const next = await hubOn(store);
    expect((await next.recover('proxy:x')).map((r) => r.id)).toEqual([threaded.id]);
  });

  it('a change made through the same store object by someone else (a webhook callback) is streamed', async () => {
    const store = new MemoryApprovalStore();
    const central = await hubOn(store, { relayStoreEvents: true });
    const events: HubEvent[] = [];
    central.subscribe((e) => events.push(e));
    const record = pendingRecord({ hubId: central.hubId });
    await central.publish(record);
    await store.settle(record.id, { status: 'rejected', statusReason: 'via callback' });
    await waitUntil(() => events.find((e) => e.type === 'decided'), 'the store change');
    // The hub's own changes are announced once, not again when the store echoes them.
    const own = pendingRecord({ hubId: central.hubId });
    await central.publish(own);
    await central.expire(own.id, 'test');
    await new Promise((r) => setTimeout(r, 50));
    expect(events.filter((e) => e.type === 'requested' && e.approval.id === own.id)).toHaveLength(
      1,
    );
    expect(events.filter((e) => e.type === 'expired' && e.id === own.id)).toHaveLength(1);
  });

  it('the approval page may post from the public origin given to the hub, and no other', async () => {
    const store = new MemoryApprovalStore();
    const hub = await hubOn(store, { page: true, pageOrigins: ['https://approvals.example.com'] });
    const record = pendingRecord({ hubId: hub.hubId });
    await hub.publish(record);
    const post = (origin: string) =>
      fetch(`${hub.url}/v1/approvals/${record.id}/decision`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${hub.token}`,
          origin,
          'content-type': 'application/json',
        },
        body: JSON.stringify({ approve: false, argsHash: record.argsHash }),
      });
    expect((await post('https://evil.example')).status).toBe(403);
    expect((await post('https://approvals.example.com')).status).toBe(200);
  });
});

describe('LangGraph threads on a shared store', () => {
  it('a graph process killed mid-approval: the decision made meanwhile answers the re-run node', async () => {
    const store = new MemoryApprovalStore();
    const central = await hubOn(store);
    // First life: the gate asked (its id is deterministic: thread + tool call), then died.
    const request: ApprovalRequest = {
      ...requestFor({ path: '/tmp/graph' }),
      context: { threadId: 'thread-7', toolCallId: 'call-1' },
    };
    const first = new ApprovalHub({ store, home, announce: false });
    await first.start();
    void new HubBackend(first).requestApproval(request).catch(() => undefined);
    const asked = await waitUntil(() => store.get(request.action.id), 'the store change');
    expect(asked.threadId).toBe('thread-7');
    // It stops (a crash: nothing in it hears of the decision any more).
    await first.stop();
    await store.heartbeat({
      ...(await store.listHubs()).find((h) => h.hubId === first.hubId)!,
      pid: deadPid(),
    });
    // A central sweep keeps it: the thread may come back.
    await central.sweep();
    expect((await store.get(request.action.id))?.status).toBe('pending');
    await central.decide(request.action.id, {
      approve: true,
      argsHash: asked.argsHash,
      decidedBy: 'central:frank',
    });
    // Second life: the node runs again with the same ids.
    const second = await hubOn(store);
    const decision = await new ResumableHubBackend(second).requestApproval(request);
    expect(decision).toMatchObject({ approved: true, decidedBy: 'central:frank' });
    expect((await store.get(request.action.id))?.deliveredAt).toBeDefined();
  });
});
