import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../shared/errors.js';
import { gateAction } from '../../shared/gate/approval-gate.js';
import { createAction } from '../../shared/models/action.js';
import type { ApprovalRequest } from '../../shared/models/approval-request.js';
import { RiskBasedPolicy } from '../../shared/policies/risk-based.js';
import { MemoryApprovalStore } from '../../shared/stores/memory-store.js';
import { TelemetryLogger } from '../../shared/telemetry/logger.js';
import { argsHash } from '../../shared/util/canonical-json.js';
import {
  type CallbackHandler,
  createCallbackListener,
} from '../../shared/webhooks/callback-server.js';
import { PersistentWebhookBackend } from '../../shared/webhooks/persistent-webhook-backend.js';
import {
  type SendApprovalRequest,
  WebhookBackend,
  type WebhookBackendOptions,
} from '../../shared/webhooks/webhook-backend.js';
import { listenOnLoopback } from '../helpers/listen.js';

// The Python hitloop's channel-agnostic WebhookBackend: the user's function
// delivers the request (to Slack, Telegram, ...), and whoever decides POSTs to
// the callback URL, served here by the real callback listener over HTTP.

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A real HTTP callback endpoint; the handler is set once the backend exists. */
async function callbackEndpoint(): Promise<{ base: string; use(h: CallbackHandler): void }> {
  let handler: CallbackHandler | undefined;
  const server: Server = createServer(
    createCallbackListener((id, sig, body) => handler!(id, sig, body), {
      pathPrefix: '/hitloop/callback',
    }),
  );
  const port = await listenOnLoopback(server, cleanups);
  return {
    base: `http://127.0.0.1:${port}/hitloop/callback`,
    use: (h) => {
      handler = h;
    },
  };
}

let seq = 0;
function makeRequest(): ApprovalRequest {
  return {
    runId: 'run-1',
    action: createAction({
      id: `send-${process.pid}-${seq++}`,
      toolName: 'send_email',
      toolArgs: { recipient: 'alice@example.com', subject: 'Hello' },
      riskClass: 'high',
    }),
    policyName: 'risk_based',
    policyReason: 'high-risk tool',
    context: {},
    createdAt: new Date().toISOString(),
  };
}

/** What a chat bridge does when someone presses a button: POST the decision back. */
function pressButton(
  callbackUrl: string,
  body: Record<string, unknown>,
): Promise<{ status: number; json: unknown }> {
  return fetch(callbackUrl, { method: 'POST', body: JSON.stringify(body) }).then(async (r) => ({
    status: r.status,
    json: await r.json(),
  }));
}

describe('WebhookBackend({ sendRequest })', () => {
  it('a decision POSTed to the callback URL the function was given comes back through the gate', async () => {
    const cb = await callbackEndpoint();
    const sent: Array<{ tool: string; callbackId: string; callbackUrl: string }> = [];
    const clicks: Array<Promise<{ status: number; json: unknown }>> = [];
    // The seed's signature: (request, callback_id, callback_url); the hash
    // the callback must echo is computed from the request, as a bridge would.
    const sendToChat: SendApprovalRequest = (request, callbackId, callbackUrl) => {
      sent.push({ tool: request.action.toolName, callbackId, callbackUrl });
      // The reviewer answers a moment later, from "chat".
      setTimeout(() => {
        clicks.push(
          pressButton(callbackUrl, {
            approved: false,
            argsHash: argsHash(request.action.toolArgs),
            reason: 'wrong recipient',
            decidedBy: 'slack:U024BE7LH',
          }),
        );
      }, 30);
    };
    const backend = new WebhookBackend({
      sendRequest: sendToChat,
      callbackBaseUrl: cb.base,
      timeoutMs: 10_000,
    });
    cb.use((id, sig, body) => backend.handleCallback(id, sig, body));
    const logger = new TelemetryLogger({ dbPath: ':memory:', flushIntervalMs: 0 });
    cleanups.push(() => logger.close());

    const action = createAction({
      toolName: 'send_email',
      toolArgs: { recipient: 'alice@example.com', subject: 'Hello' },
      riskClass: 'high',
    });
    const outcome = await gateAction(action, {
      policy: new RiskBasedPolicy({ requireApprovalForHigh: true }),
      backend,
      runId: 'run-chat',
      logger,
    });

    expect(sent).toHaveLength(1);
    expect(sent[0]!.tool).toBe('send_email');
    expect(
      sent[0]!.callbackUrl.startsWith(`${cb.base}/${encodeURIComponent(action.id)}?sig=`),
    ).toBe(true);
    expect(outcome.kind).toBe('rejected');
    if (outcome.kind !== 'rejected') throw new Error('unreachable');
    expect(outcome.decision.decidedBy).toBe('webhook:slack:U024BE7LH');
    expect(outcome.decision.reason).toBe('wrong recipient');
    // The seed recorded 0 for webhook decisions; this is the real wait.
    expect(outcome.decision.latencyMs).toBeGreaterThanOrEqual(25);
    const [click] = await Promise.all(clicks);
    expect(click!.status).toBe(200);
    // A second press of the same button is refused, not applied twice.
    const again = await pressButton(sent[0]!.callbackUrl, {
      approved: true,
      argsHash: argsHash(action.toolArgs),
    });
    expect(again.status).toBe(409);
    const decided = logger.getRunEvents('run-chat').find((e) => e.eventType === 'approval_decided');
    expect(decided?.payload).toMatchObject({
      approved: false,
      decided_by: 'webhook:slack:U024BE7LH',
      channel: 'webhook',
    });
    expect(decided?.payload.latency_ms as number).toBeGreaterThanOrEqual(25);
  });

  it('gives the function the hash to echo, the expiry and a signal, and refuses a URL without its capability', async () => {
    const cb = await callbackEndpoint();
    let seen: Parameters<SendApprovalRequest> | undefined;
    const backend = new WebhookBackend({
      sendRequest: (...args) => {
        seen = args;
      },
      callbackBaseUrl: cb.base,
      timeoutMs: 10_000,
    });
    cb.use((id, sig, body) => backend.handleCallback(id, sig, body));
    const request = makeRequest();
    const pending = backend.requestApproval(request);
    await expect.poll(() => seen).toBeDefined();
    const [, callbackId, callbackUrl, info] = seen!;
    expect(info.argsHash).toBe(argsHash(request.action.toolArgs));
    expect(Date.parse(info.expiresAt)).toBeGreaterThan(Date.now() + 5_000);
    expect(info.signal.aborted).toBe(false);

    // Whoever does not hold the callback URL cannot decide: no or a forged sig is 401.
    const forged = await pressButton(
      `${cb.base}/${encodeURIComponent(callbackId)}?sig=${'0'.repeat(64)}`,
      {
        approved: true,
        argsHash: info.argsHash,
      },
    );
    expect(forged.status).toBe(401);
    // A decision on other arguments is refused (409), and the request keeps waiting.
    const stale = await pressButton(callbackUrl, { approved: true, argsHash: 'f'.repeat(64) });
    expect(stale.status).toBe(409);
    expect(backend.pending).toBe(1);

    const ok = await pressButton(callbackUrl, { approved: true, argsHash: info.argsHash });
    expect(ok.status).toBe(200);
    const decision = await pending;
    expect(decision).toMatchObject({ approved: true, decidedBy: 'webhook:reviewer' });
    // The request is over: a delivery still under way is told to stop.
    expect(info.signal.aborted).toBe(true);
  });

  it('times out as webhook:timeout when nobody answers, and aborts a function that is still sending', async () => {
    const cb = await callbackEndpoint();
    let signal: AbortSignal | undefined;
    const backend = new WebhookBackend({
      // A channel that never answers: the delivery itself hangs.
      sendRequest: (_r, _id, _url, info) => {
        signal = info.signal;
        return new Promise<void>(() => undefined);
      },
      callbackBaseUrl: cb.base,
      timeoutMs: 150,
    });
    const started = performance.now();
    const decision = await backend.requestApproval(makeRequest());
    const took = performance.now() - started;
    expect(decision.approved).toBe(false);
    expect(decision.decidedBy).toBe('webhook:timeout');
    expect(decision.reason).toMatch(
      /no decision arrived from the webhook within 0\.15 s; no human rejected/,
    );
    expect(took).toBeGreaterThanOrEqual(140);
    expect(took).toBeLessThan(3_000);
    expect(signal?.aborted).toBe(true);
    expect(backend.pending).toBe(0);
  });

  it.each([
    [
      'throws',
      (() => {
        throw new Error('channel_not_found');
      }) as SendApprovalRequest,
    ],
    [
      'rejects',
      (async () => Promise.reject(new Error('channel_not_found'))) as SendApprovalRequest,
    ],
  ])(
    'a function that %s fails the request closed at once, naming the function and its error',
    async (_how, sendRequest) => {
      const cb = await callbackEndpoint();
      const backend = new WebhookBackend({
        sendRequest,
        callbackBaseUrl: cb.base,
        timeoutMs: 60_000,
      });
      const started = performance.now();
      const decision = await backend.requestApproval(makeRequest());
      expect(performance.now() - started).toBeLessThan(2_000);
      expect(decision.approved).toBe(false);
      expect(decision.decidedBy).toBe('webhook:unavailable');
      expect(decision.reason).toBe(
        'your sendRequest function could not send the approval request: channel_not_found; no human rejected this call',
      );
      expect(backend.pending).toBe(0);
    },
  );

  it('refuses options that cannot work, saying what to write', () => {
    const base = 'http://127.0.0.1:9/cb';
    const send: SendApprovalRequest = () => undefined;
    const problem = (options: unknown): string => {
      try {
        new WebhookBackend(options as WebhookBackendOptions);
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as Error).message;
      }
      throw new Error('no error');
    };
    expect(problem({ callbackBaseUrl: base })).toMatch(
      /webhook\.url: no way to send approval requests was given\n {2}fix: give url .* or sendRequest/,
    );
    expect(
      problem({
        url: 'https://x.example/h',
        sendRequest: send,
        callbackBaseUrl: base,
        secret: 'x'.repeat(16),
      }),
    ).toMatch(/give either url or sendRequest, not both/);
    expect(problem({ sendRequest: 'slack', callbackBaseUrl: base })).toMatch(
      /webhook\.sendRequest: must be a function/,
    );
    expect(problem({ sendRequest: send, callbackBaseUrl: '/relative' })).toMatch(
      /webhook\.callbackBaseUrl: not an http\(s\) URL/,
    );
    // The seed's option names are answered with ours.
    expect(problem({ sendRequest: send, callbackBaseUrl: base, timeoutSeconds: 300 })).toMatch(
      /webhook\.timeoutSeconds: timeoutSeconds is the Python hitloop's option name\n {2}fix: write timeoutMs \(milliseconds: timeoutSeconds × 1000\)/,
    );
    // With a URL, the secret still signs what is POSTed: required.
    expect(problem({ url: 'https://x.example/h', callbackBaseUrl: base })).toMatch(
      /webhook\.secret/,
    );
  });
});

describe('PersistentWebhookBackend({ sendRequest })', () => {
  const SECRET = 'persistent-secret-0123456789abcdef';

  it('retries a failing function with the seed-default backoff shape, then takes the callback through the store', async () => {
    const cb = await callbackEndpoint();
    const store = new MemoryApprovalStore();
    let calls = 0;
    const backend = new PersistentWebhookBackend({
      sendRequest: (request, _id, callbackUrl, { argsHash: hash }) => {
        calls++;
        if (calls < 3) throw new Error(`slack 503 (try ${calls})`);
        setTimeout(
          () =>
            void pressButton(callbackUrl, {
              approved: true,
              argsHash: hash,
              decidedBy: 'telegram:42',
            }),
          10,
        );
        expect(request.action.toolName).toBe('send_email');
      },
      callbackBaseUrl: cb.base,
      secret: SECRET,
      store,
      timeoutMs: 10_000,
      retry: { baseDelayMs: 5, maxDelayMs: 10 },
      heartbeatMs: 60_000,
    });
    cleanups.push(() => backend.close());
    cb.use((id, sig, body) => backend.handleCallback(id, sig, body));
    const decision = await backend.requestApproval(makeRequest());
    expect(calls).toBe(3);
    expect(decision).toMatchObject({ approved: true, decidedBy: 'webhook:telegram:42' });
    expect(backend.getCircuitState()).toBe('closed');
  });

  it('opens the circuit after failureThreshold failed sends and then rejects as system:circuit_breaker without calling the function', async () => {
    const cb = await callbackEndpoint();
    let calls = 0;
    const backend = new PersistentWebhookBackend({
      sendRequest: () => {
        calls++;
        throw new Error('discord is down');
      },
      callbackBaseUrl: cb.base,
      secret: SECRET,
      store: new MemoryApprovalStore(),
      retry: { maxAttempts: 1 },
      circuitBreaker: { failureThreshold: 2 },
      heartbeatMs: 60_000,
    });
    cleanups.push(() => backend.close());
    for (let i = 0; i < 2; i++) {
      const d = await backend.requestApproval(makeRequest());
      expect(d.decidedBy).toBe('webhook:unavailable');
      expect(d.reason).toMatch(
        /your sendRequest function could not send the approval request: failed after 1 attempt: discord is down; no human rejected/,
      );
    }
    expect(backend.getCircuitState()).toBe('open');
    const refused = await backend.requestApproval(makeRequest());
    expect(refused.decidedBy).toBe('system:circuit_breaker');
    expect(refused.reason).toMatch(/your sendRequest function has failed 2 times in a row/);
    expect(calls).toBe(2);
  });

  it('refuses the seed’s option names and misspelt resilience options at construction', () => {
    const make = (extra: Record<string, unknown>) => () =>
      new PersistentWebhookBackend({
        sendRequest: () => undefined,
        callbackBaseUrl: 'http://127.0.0.1:9/cb',
        secret: SECRET,
        store: new MemoryApprovalStore(),
        ...extra,
      } as never);
    expect(make({ retryConfig: { maxRetries: 3 } })).toThrow(
      /webhook\.retryConfig: retryConfig is the Python hitloop's option name\n {2}fix: write retry/,
    );
    expect(make({ retry: { maxRetries: 3, initialDelay: 1 } })).toThrow(
      /maxRetries, initialDelay are names from the Python hitloop's RetryConfig; write maxRetries → maxAttempts \(tries in all: maxRetries \+ 1\); initialDelay → baseDelayMs/,
    );
    expect(make({ circuitBreaker: { recoveryTimeout: 30 } })).toThrow(
      /recoveryTimeout → resetTimeoutMs \(milliseconds: recoveryTimeout × 1000\)/,
    );
    expect(make({ retry: { maxAttempts: 0 } })).toThrow(ConfigError);
    // A persistent request must stay answerable after a restart: the secret is required.
    expect(make({ secret: undefined })).toThrow(/webhook\.secret/);
  });
});
