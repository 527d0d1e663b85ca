import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApprovalHub } from '../../shared/hub/approval-hub.js';
import { discoverHubs } from '../../shared/hub/discovery.js';
import { HubBackend } from '../../shared/hub/hub-backend.js';
import { HubClient, type HubRequestError } from '../../shared/hub/hub-client.js';
import type { HubEvent } from '../../shared/hub/protocol.js';
import { createAction } from '../../shared/models/action.js';
import type { ApprovalRequest } from '../../shared/models/approval-request.js';
import { MemoryApprovalStore } from '../../shared/stores/memory-store.js';
import { argsHash } from '../../shared/util/canonical-json.js';
import { pendingRecord } from '../conformance/approval-store.spec.js';
import { makeTempDir } from '../helpers/temp-dir.js';

function requestFor(
  args: Record<string, unknown> = { path: '/tmp/x', content: 'hi' },
  tool = 'write_file',
): ApprovalRequest {
  return {
    runId: 'run-1',
    action: createAction({ toolName: tool, toolArgs: args, server: 'fs', riskClass: 'medium' }),
    policyName: 'rules',
    policyReason: 'default is ask',
    context: { cwd: '/work/project', client: { name: 'test-client', version: '1' } },
    createdAt: new Date().toISOString(),
  };
}

/** Raw HTTP, so tests can send headers fetch would not let them forge (Host). */
function raw(
  url: string,
  path: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
) {
  const u = new URL(url);
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = httpRequest(
      { host: u.hostname, port: u.port, path, method: init.method ?? 'GET', headers: init.headers },
      (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end(init.body);
  });
}

async function nextEvent(
  client: HubClient,
  match: (e: HubEvent) => boolean,
): Promise<{ event: Promise<HubEvent>; stop: () => void }> {
  const controller = new AbortController();
  let resolve!: (e: HubEvent) => void;
  const event = new Promise<HubEvent>((r) => (resolve = r));
  // Waits for the hub to accept the stream (not a fixed sleep: on a loaded
  // machine an event published after 50 ms could still be missed).
  await new Promise<void>((opened, failed) => {
    client.events((e) => match(e) && resolve(e), controller.signal, opened).catch(failed);
  });
  return { event, stop: () => controller.abort() };
}

describe('the approval hub', () => {
  let home: string;
  let hub: ApprovalHub;
  let client: HubClient;

  beforeEach(async () => {
    home = makeTempDir('hitloop-hub-');
    hub = new ApprovalHub({
      store: new MemoryApprovalStore(),
      home,
      name: 'test hub',
      version: '9.9.9',
    });
    await hub.start();
    client = new HubClient({ url: hub.url, token: hub.token });
  });
  afterEach(async () => {
    await hub.stop();
  });

  it('announces itself with a 0600 file in a 0700 folder, and removes it on stop', async () => {
    const dir = join(home, 'hubs');
    const file = join(dir, `${hub.hubId}.json`);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(discoverHubs(home).map((h) => h.hubId)).toEqual([hub.hubId]);
    expect((await client.info()).name).toBe('test hub');
    await hub.stop();
    expect(existsSync(file)).toBe(false);
    hub = new ApprovalHub({ store: new MemoryApprovalStore(), home, announce: false });
    await hub.start();
  });

  it('ignores and removes discovery files of dead processes', () => {
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
      encoding: 'utf8',
    });
    const stale = join(home, 'hubs', 'stale.json');
    writeFileSync(
      stale,
      JSON.stringify({
        apiVersion: 1,
        hubId: 'stale',
        name: 'x',
        pid: Number(dead.stdout),
        url: 'http://127.0.0.1:1',
        token: 'x'.repeat(20),
        cwd: '/',
        startedAt: '2020-01-01T00:00:00Z',
      }),
    );
    writeFileSync(join(home, 'hubs', 'junk.json'), '{not json');
    const problems: string[] = [];
    expect(discoverHubs(home, (p) => problems.push(p)).map((h) => h.hubId)).toEqual([hub.hubId]);
    expect(existsSync(stale)).toBe(false);
    expect(problems.join()).toContain('junk.json');
    expect(readdirSync(join(home, 'hubs'))).toContain('junk.json');
  });

  it('rejects a missing or wrong token (401), a foreign Host or any browser Origin (403)', async () => {
    const port = new URL(hub.url).port;
    expect(
      (await raw(hub.url, '/v1/info', { headers: { host: `127.0.0.1:${port}` } })).status,
    ).toBe(401);
    expect(
      (
        await raw(hub.url, '/v1/info', {
          headers: { host: `127.0.0.1:${port}`, authorization: 'Bearer nope' },
        })
      ).status,
    ).toBe(401);
    const auth = { authorization: `Bearer ${hub.token}` };
    expect(
      (await raw(hub.url, '/v1/info', { headers: { ...auth, host: `evil.example:${port}` } }))
        .status,
    ).toBe(403);
    expect(
      (
        await raw(hub.url, '/v1/info', {
          headers: { ...auth, host: `127.0.0.1:${port}`, origin: 'https://evil.example' },
        })
      ).status,
    ).toBe(403);
    expect(
      (await raw(hub.url, '/v1/info', { headers: { ...auth, host: `127.0.0.1:${port}` } })).status,
    ).toBe(200);
  });

  it('answers 404 for an unknown id, 400 for an invalid body and 413 for an oversized one', async () => {
    const port = new URL(hub.url).port;
    const headers = {
      authorization: `Bearer ${hub.token}`,
      host: `127.0.0.1:${port}`,
      'content-type': 'application/json',
    };
    await expect(client.get('nope')).rejects.toMatchObject({ status: 404, code: 'not_found' });
    const bad = await raw(hub.url, '/v1/approvals/x/decision', {
      method: 'POST',
      headers,
      body: '{"approve": "yes"}',
    });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).error.details.join()).toContain('approve');
    const big = await raw(hub.url, '/v1/approvals/x/decision', {
      method: 'POST',
      headers,
      body: JSON.stringify({ pad: 'x'.repeat(2 * 1024 * 1024) }),
    });
    expect(big.status).toBe(413);
  });

  it('runs a request through the backend: published, seen on the stream, decided with edits', async () => {
    const backend = new HubBackend(hub, { timeoutMs: 10_000 });
    const { event, stop } = await nextEvent(client, (e) => e.type === 'requested');
    const req = requestFor();
    const pending = backend.requestApproval(req);
    const requested = await event;
    stop();
    if (requested.type !== 'requested') throw new Error('unreachable');
    expect(requested.approval).toMatchObject({
      tool: 'write_file',
      server: 'fs',
      cwd: '/work/project',
      client: { name: 'test-client' },
    });
    expect((await client.listPending()).map((a) => a.id)).toEqual([req.action.id]);
    const edited = { path: '/tmp/y', content: 'edited' };
    await client.decide(req.action.id, {
      approve: true,
      argsHash: requested.approval.argsHash,
      editedArgs: edited,
      decidedBy: 'test:alice',
    });
    const decision = await pending;
    expect(decision).toMatchObject({
      approved: true,
      decidedBy: 'test:alice',
      editedArgs: edited,
      argsHash: argsHash(edited),
    });
    expect(decision.latencyMs).toBeGreaterThan(0);
    expect(await client.listPending()).toEqual([]);
    expect((await client.history()).map((a) => a.status)).toEqual(['approved']);
  });

  it('refuses a decision bound to other arguments (409) and a second decision (409)', async () => {
    const record = pendingRecord({ hubId: hub.hubId });
    await hub.publish(record);
    await expect(
      client.decide(record.id, { approve: true, argsHash: argsHash({ other: 1 }) }),
    ).rejects.toMatchObject({ status: 409, code: 'args_changed' });
    await client.decide(record.id, {
      approve: false,
      argsHash: record.argsHash,
      reason: 'no',
      decidedBy: 'test:bob',
    });
    // The second reviewer is told who got there first.
    await expect(
      client.decide(record.id, { approve: true, argsHash: record.argsHash }),
    ).rejects.toMatchObject({
      status: 409,
      code: 'already_decided',
      message: expect.stringContaining('is already rejected by test:bob'),
    });
  });

  it('validates edited arguments against the tool schema (422)', async () => {
    const record = pendingRecord({ hubId: hub.hubId });
    await hub.publish(record, (args) =>
      typeof args.path === 'string' ? [] : ['path: must be a string'],
    );
    const err = await client
      .decide(record.id, { approve: true, argsHash: record.argsHash, editedArgs: { path: 3 } })
      .catch((e: HubRequestError) => e);
    expect(err).toMatchObject({
      status: 422,
      code: 'invalid_args',
      details: ['path: must be a string'],
    });
    expect((await client.get(record.id)).status).toBe('pending');
  });

  it('gives exactly one of 100 concurrent HTTP decisions the win, and the backend one answer', async () => {
    const backend = new HubBackend(hub, { timeoutMs: 10_000 });
    const req = requestFor();
    const pending = backend.requestApproval(req);
    await new Promise((r) => setTimeout(r, 20));
    const hash = argsHash(req.action.toolArgs);
    const results = await Promise.allSettled(
      Array.from({ length: 100 }, (_, i) =>
        client.decide(req.action.id, { approve: i % 2 === 0, argsHash: hash, decidedBy: `r${i}` }),
      ),
    );
    const winners = results.filter((r) => r.status === 'fulfilled');
    expect(winners).toHaveLength(1);
    expect(
      results.filter(
        (r) => r.status === 'rejected' && (r.reason as HubRequestError).status === 409,
      ),
    ).toHaveLength(99);
    const decision = await pending;
    expect(decision.decidedBy).toBe(
      (winners[0] as PromiseFulfilledResult<{ decision?: { decidedBy: string } }>).value.decision
        ?.decidedBy,
    );
  });

  it('handles ids with reserved URL characters (they are percent-encoded in paths)', async () => {
    const record = pendingRecord({ hubId: hub.hubId, id: 'email-00001:action/2?x' });
    await hub.publish(record);
    expect((await client.get(record.id)).id).toBe(record.id);
    expect(
      (await client.decide(record.id, { approve: true, argsHash: record.argsHash })).status,
    ).toBe('approved');
  });

  it('lists 1,000 pending requests', async () => {
    for (let i = 0; i < 1000; i++) await hub.publish(pendingRecord({ hubId: hub.hubId }));
    expect(await client.listPending()).toHaveLength(1000);
  });

  it('labels a timeout as a timeout and marks the request expired', async () => {
    const backend = new HubBackend(hub, { timeoutMs: 100 });
    const req = requestFor();
    const decision = await backend.requestApproval(req);
    expect(decision).toMatchObject({ approved: false, decidedBy: 'hub:timeout' });
    expect(decision.reason).toContain('no human rejected');
    expect((await client.get(req.action.id)).status).toBe('expired');
  });

  it('withdraws the request when the caller aborts (the card disappears)', async () => {
    const backend = new HubBackend(hub);
    const { event, stop } = await nextEvent(client, (e) => e.type === 'withdrawn');
    const controller = new AbortController();
    const req = requestFor();
    const pending = backend.requestApproval(req, { signal: controller.signal });
    await new Promise((r) => setTimeout(r, 20));
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    expect(await event).toMatchObject({ type: 'withdrawn', id: req.action.id });
    stop();
    expect(await client.listPending()).toEqual([]);
  });

  it('remembers a decision as a visible, revocable rule', async () => {
    const backend = new HubBackend(hub, { timeoutMs: 5_000 });
    const first = requestFor();
    const pending = backend.requestApproval(first);
    await new Promise((r) => setTimeout(r, 20));
    await client.decide(first.action.id, {
      approve: true,
      argsHash: argsHash(first.action.toolArgs),
      remember: 'always',
      decidedBy: 'test:bob',
    });
    await pending;
    const rules = await client.rules();
    expect(rules).toMatchObject([
      { scope: 'always', effect: 'allow', tool: 'write_file', server: 'fs', createdBy: 'test:bob' },
    ]);
    const second = await backend.requestApproval(requestFor({ path: '/tmp/other' }));
    expect(second).toMatchObject({ approved: true, tags: ['remembered', 'scope:always'] });
    expect(await client.listPending()).toEqual([]);
    await client.revokeRule(rules[0]!.id);
    expect(await client.rules()).toEqual([]);
    const third = backend.requestApproval(requestFor({ path: '/tmp/third' }), { timeoutMs: 200 });
    await new Promise((r) => setTimeout(r, 50));
    expect(await client.listPending()).toHaveLength(1);
    expect((await third).decidedBy).toBe('hub:timeout');
  });

  it('expires what a dead process left pending when a hub starts on the same store', async () => {
    const store = new MemoryApprovalStore();
    // Left by a process that never announced itself and is long gone (a hub
    // not heard of gets a grace period from the request's creation).
    const orphan = pendingRecord({
      hubId: 'a-hub-that-died',
      createdAt: new Date(Date.now() - 3_600_000).toISOString(),
    });
    await store.put(orphan);
    const next = new ApprovalHub({ store, home, announce: false });
    await next.start();
    const after = await store.get(orphan.id);
    expect(after?.status).toBe('expired');
    expect(after?.statusReason).toContain('no longer running');
    await next.stop();
  });

  it('keeps streaming after a client reconnects', async () => {
    const first = await nextEvent(client, () => true);
    first.stop();
    const second = await nextEvent(client, (e) => e.type === 'requested');
    const record = pendingRecord({ hubId: hub.hubId });
    await hub.publish(record);
    expect(await second.event).toMatchObject({ type: 'requested', approval: { id: record.id } });
    second.stop();
  });
});
