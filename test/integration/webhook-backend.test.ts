import { spawn, spawnSync } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ApprovalHub } from '../../shared/hub/approval-hub.js';
import type { ApprovalRecord } from '../../shared/hub/protocol.js';
import { createAction } from '../../shared/models/action.js';
import type { ApprovalRequest } from '../../shared/models/approval-request.js';
import { isTimeoutDecision } from '../../shared/models/decision.js';
import type { ApprovalStore } from '../../shared/stores/approval-store.js';
import { MemoryApprovalStore } from '../../shared/stores/memory-store.js';
import { SqliteApprovalStore } from '../../shared/stores/sqlite-store.js';
import { argsHash } from '../../shared/util/canonical-json.js';
import { handleWebhookCallback } from '../../shared/webhooks/callback-handler.js';
import {
  type CallbackHandler,
  createCallbackListener,
} from '../../shared/webhooks/callback-server.js';
import { PersistentWebhookBackend } from '../../shared/webhooks/persistent-webhook-backend.js';
import { callbackCapability, verifyBodySignature } from '../../shared/webhooks/signature.js';
import { WebhookBackend } from '../../shared/webhooks/webhook-backend.js';
import { WebhookApprovalRequest } from '../../shared/webhooks/webhook-protocol.js';
import { listenOnLoopback } from '../helpers/listen.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const SECRET = 'integration-secret-0123456789abcdef';
const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function listen(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ url: string; server: Server }> {
  const server = createServer(handler);
  const port = await listenOnLoopback(server, cleanups);
  return { url: `http://127.0.0.1:${port}`, server };
}

/**
 * Stands in for Slack or a bridge: checks the signature, keeps each payload,
 * answers `status` (a number, or per delivery).
 */
async function receiver(status: number | ((n: number) => number) = 200) {
  const payloads: WebhookApprovalRequest[] = [];
  const badSignatures: string[] = [];
  const waiters: Array<(p: WebhookApprovalRequest) => void> = [];
  let deliveries = 0;
  const { url } = await listen((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      deliveries++;
      const raw = Buffer.concat(chunks);
      if (!verifyBodySignature(SECRET, raw, req.headers['x-hitloop-signature'])) {
        badSignatures.push(String(req.headers['x-hitloop-signature']));
        res.writeHead(401).end('bad signature');
        return;
      }
      const code = typeof status === 'number' ? status : status(deliveries);
      if (code === 200) {
        const payload = WebhookApprovalRequest.parse(JSON.parse(raw.toString('utf8')));
        payloads.push(payload);
        waiters.shift()?.(payload);
      }
      res.writeHead(code).end(code === 200 ? 'ok' : 'receiver failure');
    });
  });
  return {
    url: `${url}/hook`,
    payloads,
    badSignatures,
    get deliveries() {
      return deliveries;
    },
    next(): Promise<WebhookApprovalRequest> {
      const ready = payloads[payloads.length - waiters.length - 1];
      if (payloads.length > 0 && waiters.length === 0 && ready && !taken.has(ready)) {
        taken.add(ready);
        return Promise.resolve(ready);
      }
      return new Promise((r) =>
        waiters.push((p) => {
          taken.add(p);
          r(p);
        }),
      );
    },
  };
}
const taken = new WeakSet<object>();

/** A callback endpoint that forwards to whichever backend is current (it survives a "restart"). */
async function callbackServer() {
  const ref: { handle: CallbackHandler } = {
    handle: async () => ({ ok: false, status: 404, code: 'not_found', message: 'no backend' }),
  };
  const { url } = await listen(
    createCallbackListener((id, sig, body) => ref.handle(id, sig, body), { pathPrefix: '/cb' }),
  );
  return { base: `${url}/cb`, ref };
}

/** What the bridge does when a person clicks: POST the decision to the callback URL. */
async function callBack(callbackUrl: string, body: unknown) {
  const res = await fetch(callbackUrl, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  });
  return {
    status: res.status,
    json: (await res.json()) as {
      decision?: Record<string, unknown>;
      error?: { code: string; message: string; details?: string[] };
    },
  };
}

let seq = 0;
function makeRequest(
  toolArgs: Record<string, unknown> = { to: 'bob@example.com', body: 'hi' },
): ApprovalRequest {
  return {
    runId: 'run-1',
    action: createAction({
      id: `call-${process.pid}-${Date.now()}-${seq++}`,
      toolName: 'send_email',
      toolArgs,
      riskClass: 'high',
      server: 'mail',
    }),
    policyName: 'risk_based',
    policyReason: 'high-risk tool',
    context: {},
    createdAt: new Date().toISOString(),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('WebhookBackend', () => {
  async function setup(status?: number | ((n: number) => number), timeoutMs?: number) {
    const rx = await receiver(status);
    const cb = await callbackServer();
    const late: unknown[] = [];
    const backend = new WebhookBackend({
      url: rx.url,
      callbackBaseUrl: cb.base,
      secret: SECRET,
      ...(timeoutMs ? { timeoutMs } : {}),
      onLateDecision: (d, closed) => late.push({ d, closed }),
    });
    cb.ref.handle = (id, sig, body) => backend.handleCallback(id, sig, body);
    cleanups.push(() => backend.close());
    return { rx, cb, backend, late };
  }

  it('sends a signed request and applies an approval from the callback URL', async () => {
    const { rx, backend } = await setup();
    const request = makeRequest();
    const decision = backend.requestApproval(request);
    const payload = await rx.next();
    expect(rx.badSignatures).toEqual([]);
    expect(payload).toMatchObject({
      type: 'hitloop.approval_request',
      version: 1,
      callbackId: request.action.id,
      approval: {
        id: request.action.id,
        tool: 'send_email',
        server: 'mail',
        riskClass: 'high',
        args: request.action.toolArgs,
        argsHash: argsHash(request.action.toolArgs),
      },
    });
    expect(payload.callbackUrl).toContain(
      `/cb/${encodeURIComponent(request.action.id)}?sig=${callbackCapability(SECRET, request.action.id)}`,
    );
    const answer = await callBack(payload.callbackUrl, {
      approved: true,
      argsHash: payload.approval.argsHash,
      decidedBy: 'slack:U024BE7LH',
    });
    expect(answer.status).toBe(200);
    const d = await decision;
    expect(d).toMatchObject({
      actionId: request.action.id,
      approved: true,
      decidedBy: 'webhook:slack:U024BE7LH',
      argsHash: argsHash(request.action.toolArgs),
    });
    expect(d.editedArgs).toBeUndefined();
    expect(backend.pending).toBe(0);
  });

  it('applies a rejection with its reason', async () => {
    const { rx, backend } = await setup();
    const decision = backend.requestApproval(makeRequest());
    const p = await rx.next();
    await callBack(p.callbackUrl, {
      approved: false,
      argsHash: p.approval.argsHash,
      reason: 'wrong recipient',
    });
    expect(await decision).toMatchObject({
      approved: false,
      reason: 'wrong recipient',
      decidedBy: 'webhook:reviewer',
    });
    expect(isTimeoutDecision(await decision)).toBe(false);
  });

  it('validates edited arguments (422) and applies valid ones, bound to their own hash', async () => {
    const { rx, backend } = await setup();
    const request = makeRequest();
    const validateArgs = (a: Record<string, unknown>) =>
      typeof a.to === 'string' && a.to.endsWith('@example.com') ? [] : ['to: must be @example.com'];
    const decision = backend.requestApproval(request, { validateArgs });
    const p = await rx.next();
    const bad = await callBack(p.callbackUrl, {
      approved: true,
      argsHash: p.approval.argsHash,
      editedArgs: { to: 'eve@evil.example', body: 'hi' },
    });
    expect(bad.status).toBe(422);
    expect(bad.json.error).toMatchObject({
      code: 'invalid_args',
      details: ['to: must be @example.com'],
    });
    const edited = { to: 'carol@example.com', body: 'hi' };
    const good = await callBack(p.callbackUrl, {
      approved: true,
      argsHash: p.approval.argsHash,
      editedArgs: edited,
    });
    expect(good.status).toBe(200);
    const d = await decision;
    expect(d.editedArgs).toEqual(edited);
    expect(d.argsHash).toBe(argsHash(edited));
  });

  it('refuses a decision for other arguments (409) and keeps waiting', async () => {
    const { rx, backend } = await setup();
    const decision = backend.requestApproval(makeRequest());
    const p = await rx.next();
    const wrong = await callBack(p.callbackUrl, {
      approved: true,
      argsHash: argsHash({ to: 'someone-else' }),
    });
    expect(wrong.status).toBe(409);
    expect(wrong.json.error?.code).toBe('args_changed');
    expect(backend.pending).toBe(1);
    const missing = await callBack(p.callbackUrl, { approved: true });
    expect(missing.status).toBe(400);
    expect(missing.json.error?.details?.join()).toContain('argsHash');
    await callBack(p.callbackUrl, { approved: false, argsHash: p.approval.argsHash });
    expect((await decision).approved).toBe(false);
  });

  it('answers 401 to a callback whose capability is wrong, 404 to an unknown id, 400 to junk', async () => {
    const { rx, cb, backend } = await setup();
    const decision = backend.requestApproval(makeRequest());
    const p = await rx.next();
    const body = { approved: true, argsHash: p.approval.argsHash };
    const forged = p.callbackUrl.replace(/sig=[0-9a-f]+/, `sig=${'0'.repeat(64)}`);
    expect((await callBack(forged, body)).status).toBe(401);
    // A capability for another id does not open this one.
    const other = `${cb.base}/${encodeURIComponent(p.callbackId)}?sig=${callbackCapability(SECRET, 'other')}`;
    expect((await callBack(other, body)).status).toBe(401);
    const noSig = p.callbackUrl.replace(/\?sig=.*/, '');
    expect((await callBack(noSig, body)).status).toBe(401);
    const unknown = `${cb.base}/nope?sig=${callbackCapability(SECRET, 'nope')}`;
    const nf = await callBack(unknown, body);
    expect(nf.status).toBe(404);
    expect(nf.json.error?.message).toContain('"nope"');
    expect((await callBack(p.callbackUrl, { approved: 'yes', argsHash: 'x' })).status).toBe(400);
    const reserved = await callBack(p.callbackUrl, { ...body, decidedBy: 'cli:timeout' });
    expect(reserved.status).toBe(400);
    expect(backend.pending).toBe(1);
    await callBack(p.callbackUrl, body);
    expect((await decision).approved).toBe(true);
  });

  it('times out as webhook:timeout, not a human rejection; a later callback is 409 and reported late', async () => {
    const { rx, backend, late } = await setup(200, 300);
    const started = performance.now();
    const d = await backend.requestApproval(makeRequest());
    expect(performance.now() - started).toBeGreaterThanOrEqual(295);
    expect(d.approved).toBe(false);
    expect(d.decidedBy).toBe('webhook:timeout');
    expect(isTimeoutDecision(d)).toBe(true);
    expect(d.reason).toContain('no human rejected this call');
    const p = await rx.next();
    const after = await callBack(p.callbackUrl, { approved: true, argsHash: p.approval.argsHash });
    expect(after.status).toBe(409);
    expect(after.json.error?.code).toBe('request_closed');
    expect(after.json.error?.message).toContain('expired');
    expect(late).toHaveLength(1);
  });

  it('withdraws on abort: rejects with AbortError, and the callback is then refused', async () => {
    const { rx, backend } = await setup();
    const ac = new AbortController();
    const decision = backend.requestApproval(makeRequest(), { signal: ac.signal });
    const p = await rx.next();
    ac.abort();
    await expect(decision).rejects.toMatchObject({ name: 'AbortError' });
    const after = await callBack(p.callbackUrl, { approved: true, argsHash: p.approval.argsHash });
    expect(after.status).toBe(409);
    expect(after.json.error?.message).toContain('withdrawn');
  });

  it('measures latency from sending to the decision (not 0)', async () => {
    const { rx, backend } = await setup();
    const decision = backend.requestApproval(makeRequest());
    const p = await rx.next();
    const delay = 400;
    await sleep(delay);
    await callBack(p.callbackUrl, { approved: true, argsHash: p.approval.argsHash });
    const d = await decision;
    expect(d.latencyMs).toBeGreaterThanOrEqual(delay - 5);
    expect(d.latencyMs).toBeLessThan(delay + 2_000);
  });

  it('fails closed as webhook:unavailable when the receiver answers an error or cannot be reached', async () => {
    const { rx, backend } = await setup(500);
    const d = await backend.requestApproval(makeRequest());
    expect(d).toMatchObject({ approved: false, decidedBy: 'webhook:unavailable' });
    expect(d.reason).toContain(rx.url);
    expect(d.reason).toContain('HTTP 500');
    expect(d.reason).toContain('no human rejected this call');

    const dead = await listen(() => {});
    const deadUrl = `${dead.url}/hook`;
    await new Promise((r) => dead.server.close(r));
    const cb = await callbackServer();
    const offline = new WebhookBackend({ url: deadUrl, callbackBaseUrl: cb.base, secret: SECRET });
    const d2 = await offline.requestApproval(makeRequest());
    expect(d2.decidedBy).toBe('webhook:unavailable');
    expect(d2.reason).toContain(deadUrl);
    expect(d2.reason).toContain('ECONNREFUSED');
  });

  it('rejects a short secret and a non-http URL at construction', () => {
    expect(
      () => new WebhookBackend({ url: 'http://x', callbackBaseUrl: 'http://y', secret: 'short' }),
    ).toThrow(/at least 16 characters/);
    expect(
      () => new WebhookBackend({ url: 'ftp://x', callbackBaseUrl: 'http://y', secret: SECRET }),
    ).toThrow(/webhook\.url/);
  });
});

const dir = makeTempDir('hitloop-webhook-');
let files = 0;
const stores: Array<{
  name: string;
  /** A fresh store, and a way to open it again as another process would. */
  make: () => { store: ApprovalStore; reopen: () => ApprovalStore };
}> = [
  {
    name: 'MemoryApprovalStore',
    make: () => {
      const store = new MemoryApprovalStore();
      return { store, reopen: () => store };
    },
  },
  {
    name: 'SqliteApprovalStore',
    make: () => {
      const file = join(dir, `w${files++}.db`);
      const open = () => {
        const s = new SqliteApprovalStore(file);
        cleanups.push(() => s.close());
        return s;
      };
      return { store: open(), reopen: open };
    },
  },
];

describe.each(stores)('PersistentWebhookBackend with $name', ({ make }) => {
  async function setup(
    options: {
      status?: number | ((n: number) => number);
      timeoutMs?: number;
      now?: () => number;
    } = {},
  ) {
    const rx = await receiver(options.status);
    const cb = await callbackServer();
    const { store, reopen } = make();
    const backendOn = (s: ApprovalStore, extra: { threadId?: string } = {}) => {
      const b = new PersistentWebhookBackend({
        url: rx.url,
        callbackBaseUrl: cb.base,
        secret: SECRET,
        store: s,
        threadId: extra.threadId ?? 'thread-1',
        retry: { maxAttempts: 2, baseDelayMs: 10, maxDelayMs: 20, jitter: 0 },
        circuitBreaker: { failureThreshold: 3, resetTimeoutMs: 60_000, halfOpenMaxCalls: 1 },
        ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
        ...(options.now ? { now: options.now } : {}),
      });
      cleanups.push(() => b.close());
      return b;
    };
    const backend = backendOn(store);
    cb.ref.handle = (id, sig, body) => backend.handleCallback(id, sig, body);
    return { rx, cb, store, reopen, backend, backendOn };
  }

  it('persists the request, applies the callback through the store, and marks it delivered', async () => {
    const { rx, store, backend } = await setup();
    const request = makeRequest();
    const decision = backend.requestApproval(request);
    const p = await rx.next();
    const pending = await store.get(request.action.id);
    expect(pending).toMatchObject({
      status: 'pending',
      threadId: 'thread-1',
      hubId: backend.hubId,
    });
    await sleep(50);
    const answer = await callBack(p.callbackUrl, {
      approved: true,
      argsHash: p.approval.argsHash,
      decidedBy: 'telegram:42',
    });
    expect(answer.status).toBe(200);
    const d = await decision;
    expect(d).toMatchObject({ approved: true, decidedBy: 'webhook:telegram:42' });
    expect(d.latencyMs).toBeGreaterThanOrEqual(45);
    const stored = await store.get(request.action.id);
    expect(stored?.status).toBe('approved');
    expect(stored?.deliveredAt).toBeDefined();
    expect(await store.listPending('thread-1')).toEqual([]);
  });

  it('retries, then opens the circuit: later requests fail closed at once as system:circuit_breaker', async () => {
    let t = Date.parse('2030-01-01T00:00:00Z');
    let healthy = false;
    const { rx, store, backend } = await setup({
      status: () => (healthy ? 200 : 503),
      now: () => t,
    });
    // Request 1: two tries, both 503 -> unavailable (2 failures counted).
    const d1 = await backend.requestApproval(makeRequest());
    expect(d1.decidedBy).toBe('webhook:unavailable');
    expect(d1.reason).toContain('failed after 2 attempts');
    expect(rx.deliveries).toBe(2);
    expect(backend.getCircuitState()).toBe('closed');
    // Request 2: its first try is the third failure; the circuit opens and the retry is refused.
    const d2 = await backend.requestApproval(makeRequest());
    expect(rx.deliveries).toBe(3);
    expect(backend.getCircuitState()).toBe('open');
    expect(d2.decidedBy).toBe('system:circuit_breaker');
    // Request 3: nothing is sent.
    const r3 = makeRequest();
    const started = performance.now();
    const d3 = await backend.requestApproval(r3);
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(rx.deliveries).toBe(3);
    expect(d3).toMatchObject({ approved: false, decidedBy: 'system:circuit_breaker' });
    expect(d3.reason).toContain(`the webhook endpoint ${rx.url} has failed 3 times in a row`);
    expect(d3.reason).toContain(`refused until ${new Date(t + 60_000).toISOString()}`);
    expect(d3.reason).toContain('no human rejected this call');
    const record = await store.get(r3.action.id);
    expect(record?.status).toBe('expired');
    expect(record?.statusReason).toContain('has failed 3 times in a row');
    // After the reset timeout one trial goes through; it succeeds and closes the circuit.
    t += 60_000;
    expect(backend.getCircuitState()).toBe('half-open');
    healthy = true;
    const r4 = makeRequest();
    const d4 = backend.requestApproval(r4, { timeoutMs: 5_000 });
    const p4 = await rx.next();
    expect(p4.callbackId).toBe(r4.action.id);
    // The receiver has it; the breaker records the success once the answer is back.
    await expect.poll(() => backend.getCircuitState()).toBe('closed');
    await callBack(p4.callbackUrl, { approved: true, argsHash: p4.approval.argsHash });
    expect((await d4).approved).toBe(true);
  });

  it('recovers after a restart: the new instance takes the request back and a later callback decides it', async () => {
    const { rx, cb, reopen, backend, backendOn } = await setup();
    const request = makeRequest();
    const first = backend.requestApproval(request);
    const p = await rx.next();
    await backend.close(); // the process goes away
    expect((await first).decidedBy).toBe('webhook:unavailable');

    const store2 = reopen();
    const restarted = backendOn(store2);
    cb.ref.handle = (id, sig, body) => restarted.handleCallback(id, sig, body);
    const recovered = await restarted.recover();
    expect(recovered.map((r) => [r.id, r.status, r.hubId])).toEqual([
      [request.action.id, 'pending', restarted.hubId],
    ]);
    const decision = restarted.awaitRecovered(request.action.id);
    // The callback URL the receiver got before the restart still works: its capability needs no state.
    const answer = await callBack(p.callbackUrl, {
      approved: false,
      argsHash: p.approval.argsHash,
      reason: 'not now',
    });
    expect(answer.status).toBe(200);
    expect(await decision).toMatchObject({ approved: false, reason: 'not now' });
    expect(await store2.listPending('thread-1')).toEqual([]);
    // Another thread's recovery does not see it.
    expect(await backendOn(store2, { threadId: 'other' }).recover()).toEqual([]);
  });

  it('returns at once a decision made while the process was down', async () => {
    const { rx, store, reopen, backend, backendOn } = await setup();
    const request = makeRequest();
    void backend.requestApproval(request);
    const p = await rx.next();
    await backend.close();
    // Nobody waits; the shared hub takes the callback for the store.
    const sig = new URL(p.callbackUrl).searchParams.get('sig');
    const handled = await handleWebhookCallback(store, SECRET, p.callbackId, sig, {
      approved: true,
      argsHash: p.approval.argsHash,
    });
    expect(handled.ok).toBe(true);
    const restarted = backendOn(reopen());
    const recovered = await restarted.recover();
    expect(recovered.map((r) => r.status)).toEqual(['approved']);
    const started = performance.now();
    const d = await restarted.awaitRecovered(request.action.id);
    expect(performance.now() - started).toBeLessThan(500);
    expect(d.approved).toBe(true);
    expect(await restarted.recover()).toEqual([]);
  });

  it('never lets a reused id inherit a decision made on other arguments', async () => {
    const { rx, backend } = await setup();
    const first = makeRequest({ to: 'bob@example.com', body: 'hi' });
    const decision = backend.requestApproval(first);
    const p = await rx.next();
    await callBack(p.callbackUrl, { approved: true, argsHash: p.approval.argsHash });
    expect((await decision).approved).toBe(true);
    // A model that reuses tool-call ids asks again under the same id.
    const again: ApprovalRequest = {
      ...first,
      action: { ...first.action, toolArgs: { to: 'everyone@example.com', body: 'hi' } },
    };
    expect(await backend.requestApproval(again)).toMatchObject({
      approved: false,
      decidedBy: 'system:args_mismatch',
    });
  });

  it('heartbeats as its own hub, so a hub sharing the store does not expire its requests', async () => {
    const { rx, store, backend } = await setup();
    const request = makeRequest();
    const decision = backend.requestApproval(request);
    const p = await rx.next();
    const hub = new ApprovalHub({ store, announce: false, home: dir });
    await hub.start();
    cleanups.push(() => hub.stop());
    await hub.sweep();
    expect((await store.get(request.action.id))?.status).toBe('pending');
    expect((await store.listHubs()).map((h) => h.hubId)).toContain(backend.hubId);
    await callBack(p.callbackUrl, { approved: true, argsHash: p.approval.argsHash });
    expect((await decision).approved).toBe(true);
  });

  it('re-reads what it waits for, so a lost change notice does not hold a decision back', async () => {
    const { rx, store } = await setup();
    // The same data, but a store object whose notices never arrive.
    const deaf = Object.create(store) as ApprovalStore;
    deaf.watch = () => () => {};
    const backend = new PersistentWebhookBackend({
      url: rx.url,
      callbackBaseUrl: 'http://127.0.0.1:9/cb',
      secret: SECRET,
      store: deaf,
      threadId: 'deaf',
      recheckMs: 100,
    });
    cleanups.push(() => backend.close());
    const request = makeRequest();
    const decision = backend.requestApproval(request);
    await rx.next();
    await store.settle(request.action.id, {
      status: 'approved',
      decision: {
        actionId: request.action.id,
        approved: true,
        reason: '',
        decidedBy: 'webhook:elsewhere',
        latencyMs: 1,
        tags: [],
        argsHash: argsHash(request.action.toolArgs),
      },
    });
    expect(await decision).toMatchObject({ approved: true, decidedBy: 'webhook:elsewhere' });
  });

  it('a callback handled by instance B wakes instance A', async () => {
    const { rx, cb, reopen, backend, backendOn } = await setup();
    const b = backendOn(reopen(), { threadId: 'thread-b' });
    cb.ref.handle = (id, sig, body) => b.handleCallback(id, sig, body);
    const request = makeRequest();
    const decision = backend.requestApproval(request);
    const p = await rx.next();
    const answer = await callBack(p.callbackUrl, { approved: true, argsHash: p.approval.argsHash });
    expect(answer.status).toBe(200);
    expect(await decision).toMatchObject({ approved: true, actionId: request.action.id });
  });

  it('fails closed when another instance accepted edited arguments this request cannot validate', async () => {
    const { rx, cb, reopen, backend, backendOn } = await setup();
    const b = backendOn(reopen(), { threadId: 'thread-b' });
    cb.ref.handle = (id, sig, body) => b.handleCallback(id, sig, body);
    const decision = backend.requestApproval(makeRequest(), {
      validateArgs: (a) => (typeof a.to === 'string' ? [] : ['to: required']),
    });
    const p = await rx.next();
    await callBack(p.callbackUrl, {
      approved: true,
      argsHash: p.approval.argsHash,
      editedArgs: { body: 'no recipient' },
    });
    const d = await decision;
    expect(d).toMatchObject({ approved: false, decidedBy: 'webhook:invalid_args' });
    expect(d.reason).toContain('to: required');
  });

  it('keeps a late decision on an expired request (409), never applying it', async () => {
    const { rx, store, backend } = await setup({ timeoutMs: 250 });
    const request = makeRequest();
    const d = await backend.requestApproval(request);
    expect(d.decidedBy).toBe('webhook:timeout');
    const p = await rx.next();
    const late = await callBack(p.callbackUrl, {
      approved: true,
      argsHash: p.approval.argsHash,
      decidedBy: 'slack:U1',
      reason: 'sorry, was at lunch',
    });
    expect(late.status).toBe(409);
    expect(late.json.error?.code).toBe('request_closed');
    expect(late.json.error?.message).toContain(
      'expired (no decision arrived from the webhook within',
    );
    expect(late.json.error?.message).toContain('recorded as late');
    const record = await store.get(request.action.id);
    expect(record?.status).toBe('expired');
    expect(record?.decision).toBeUndefined();
    expect(record?.lateDecision).toMatchObject({
      approved: true,
      decidedBy: 'webhook:slack:U1',
      reason: 'sorry, was at lunch',
    });
    const again = await callBack(p.callbackUrl, { approved: false, argsHash: p.approval.argsHash });
    expect(again.status).toBe(409);
    expect((await store.get(request.action.id))?.lateDecision?.approved).toBe(true);
  });

  it('expires a request whose asker is gone once its expiresAt passes, keeping the decision as late', async () => {
    const { rx, store, backend } = await setup();
    const request = { ...makeRequest(), expiresAt: new Date(Date.now() + 300).toISOString() };
    void backend.requestApproval(request);
    const p = await rx.next();
    await backend.close();
    await sleep(350);
    const sig = new URL(p.callbackUrl).searchParams.get('sig');
    const r = await handleWebhookCallback(store, SECRET, p.callbackId, sig, {
      approved: true,
      argsHash: p.approval.argsHash,
    });
    expect(r).toMatchObject({ ok: false, status: 409, code: 'request_closed' });
    const record = await store.get(request.action.id);
    expect(record?.status).toBe('expired');
    expect(record?.statusReason).toContain('before a decision arrived');
    expect(record?.lateDecision?.approved).toBe(true);
  });
});

const exampleServer = fileURLToPath(
  new URL('../../dist/examples/webhook-server.js', import.meta.url),
);

describe('examples/webhook-server (built)', () => {
  async function start() {
    const child = spawn(
      process.execPath,
      [exampleServer, '--port', '0', '--secret', SECRET, '--reviewer', 'alice'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    cleanups.push(() => {
      child.kill();
    });
    const stdout = createInterface({ input: child.stdout });
    const lines: string[] = [];
    const waiting: Array<(line: string) => void> = [];
    stdout.on('line', (l) => {
      const w = waiting.shift();
      if (w) w(l);
      else lines.push(l);
    });
    let stderr = '';
    const origin = await new Promise<string>((resolve, reject) => {
      child.stderr.on('data', (c: Buffer) => {
        stderr += c.toString();
        const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr);
        if (m) resolve(m[1]!);
      });
      child.on('exit', (code) => reject(new Error(`example exited ${code}: ${stderr}`)));
    });
    const nextLine = () =>
      lines.length > 0
        ? Promise.resolve(lines.shift()!)
        : new Promise<string>((r) => waiting.push(r));
    return { origin, nextLine };
  }

  it('prints --help', () =>
    new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, [exampleServer, '--help']);
      let out = '';
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
      });
      child.on('exit', (code) => {
        try {
          expect(code).toBe(0);
          expect(out).toContain('--secret');
          expect(out).toContain('SLACK_WEBHOOK_URL');
          resolve();
        } catch (e) {
          reject(e);
        }
      });
    }));

  it('verifies signatures, builds both chat payloads, and decides through its escaped review page', async () => {
    const { origin, nextLine } = await start();
    const unsigned = await fetch(`${origin}/hitloop`, { method: 'POST', body: '{}' });
    expect(unsigned.status).toBe(401);

    const cb = await callbackServer();
    const backend = new WebhookBackend({
      url: `${origin}/hitloop`,
      callbackBaseUrl: cb.base,
      secret: SECRET,
    });
    cb.ref.handle = (id, sig, body) => backend.handleCallback(id, sig, body);
    cleanups.push(() => backend.close());
    const hostile = {
      html: '<script>alert(1)</script><img src=x onerror=alert(2)>',
      to: 'bob\u202Etxt.exe',
    };
    const decision = backend.requestApproval(makeRequest(hostile));

    const event = JSON.parse(await nextLine()) as {
      reviewUrl: string;
      slack: { blocks: unknown[] };
      telegram: { parse_mode: string; text: string };
    };
    expect(event.slack.blocks.length).toBeGreaterThan(3);
    expect(event.telegram.parse_mode).toBe('HTML');
    expect(event.telegram.text).toContain('&lt;script&gt;');

    const pageRes = await fetch(event.reviewUrl);
    expect(pageRes.headers.get('content-security-policy')).toContain("default-src 'none'");
    const html = await pageRes.text();
    expect(html).not.toContain('<script');
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('⟦U+202E RLO⟧');
    const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1];
    expect(csrf).toBeDefined();

    const forged = await fetch(event.reviewUrl, {
      method: 'POST',
      body: new URLSearchParams({ csrf: 'wrong', decision: 'approve' }),
    });
    expect(forged.status).toBe(403);

    const sent = await fetch(event.reviewUrl, {
      method: 'POST',
      body: new URLSearchParams({ csrf: csrf!, decision: 'reject', reason: 'not <b>this</b> one' }),
    });
    expect(sent.status).toBe(200);
    expect(await sent.text()).toContain('hitloop accepted the decision');
    expect(await decision).toMatchObject({
      approved: false,
      reason: 'not <b>this</b> one',
      decidedBy: 'webhook:web:alice',
    });
  });
});

describe('handleWebhookCallback: what a callback may decide', () => {
  const webhookRecord = (overrides: Partial<ApprovalRecord> = {}): ApprovalRecord => {
    const args = { to: 'bob@example.com' };
    return {
      id: `cb-${Date.now()}-${seq++}`,
      hubId: 'some-hub',
      runId: 'r',
      status: 'pending',
      tool: 'send_email',
      riskClass: 'high',
      policyName: 'p',
      policyReason: 'ask',
      rationale: '',
      args,
      argsHash: argsHash(args),
      createdAt: new Date().toISOString(),
      channel: 'webhook',
      ...overrides,
    };
  };

  it('refuses a request that was not sent to a webhook (a hub card), even with a valid capability', async () => {
    const store = new MemoryApprovalStore();
    const { channel: _none, ...hubCard } = webhookRecord();
    await store.put(hubCard);
    const r = await handleWebhookCallback(
      store,
      SECRET,
      hubCard.id,
      callbackCapability(SECRET, hubCard.id),
      { approved: true, argsHash: hubCard.argsHash },
    );
    expect(r).toMatchObject({ ok: false, status: 404 });
    expect((await store.get(hubCard.id))?.status).toBe('pending');
  });

  it('records a decision for a request whose asker is gone as late, with the reason, and applies nothing', async () => {
    const store = new MemoryApprovalStore();
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    await store.heartbeat({
      hubId: 'gone',
      name: 'webhook backend',
      host: hostname(),
      pid: dead,
      startedAt: new Date().toISOString(),
      lastSeen: new Date().toISOString(),
    });
    const record = webhookRecord({ hubId: 'gone' });
    await store.put(record);
    const r = await handleWebhookCallback(
      store,
      SECRET,
      record.id,
      callbackCapability(SECRET, record.id),
      { approved: true, argsHash: record.argsHash, decidedBy: 'carol' },
      { home: dir },
    );
    expect(r).toMatchObject({ ok: false, status: 409, code: 'request_closed' });
    expect(await store.get(record.id)).toMatchObject({
      status: 'expired',
      statusReason: expect.stringContaining('no longer running'),
      lateDecision: { approved: true, decidedBy: 'webhook:carol' },
    });
  });
});
