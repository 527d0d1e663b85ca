import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createAction } from '../../shared/models/action.js';
import {
  RetryConfig,
  RetryExhaustedError,
  retryDelay,
  retryDelayBounds,
  withRetry,
} from '../../shared/webhooks/retry.js';
import { verifyBodySignature } from '../../shared/webhooks/signature.js';
import { buildApprovalRequestPayload } from '../../shared/webhooks/webhook-protocol.js';
import { sendSignedWebhook, WebhookSendError } from '../../shared/webhooks/webhook-sender.js';

const SECRET = 'retry-test-secret-0123456789';

describe('retryDelay', () => {
  const config: RetryConfig = { maxAttempts: 8, baseDelayMs: 100, maxDelayMs: 1000, jitter: 0.5 };

  it('doubles from baseDelayMs, caps at maxDelayMs, and jitter only shortens', () => {
    const expected = [
      [50, 100],
      [100, 200],
      [200, 400],
      [400, 800],
      [500, 1000],
      [500, 1000],
    ];
    expected.forEach(([min, max], i) => {
      expect(retryDelayBounds(i + 1, config)).toEqual({ min, max });
      expect(retryDelay(i + 1, config, () => 0)).toBe(max);
      expect(retryDelay(i + 1, config, () => 0.999999)).toBeCloseTo(min!, 3);
    });
  });

  it('draws every delay within the bounds of its attempt', () => {
    let seed = 42;
    // A small LCG: reproducible, yet spread over [0, 1).
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let attempt = 1; attempt <= 10; attempt++) {
      const { min, max } = retryDelayBounds(attempt, config);
      const draws = Array.from({ length: 500 }, () => retryDelay(attempt, config, random));
      for (const d of draws) {
        expect(d).toBeGreaterThanOrEqual(min);
        expect(d).toBeLessThanOrEqual(max);
      }
      // Jitter actually spreads the delays (not all equal).
      expect(new Set(draws.map((d) => Math.round(d))).size).toBeGreaterThan(10);
    }
  });

  it('never exceeds maxDelayMs or turns into NaN for huge attempt numbers', () => {
    for (const attempt of [50, 1100, 1e6]) {
      const d = retryDelay(attempt, config);
      expect(Number.isFinite(d)).toBe(true);
      expect(d).toBeLessThanOrEqual(1000);
      expect(d).toBeGreaterThanOrEqual(500);
    }
  });

  it('jitter 0 is exact; jitter 1 may go down to zero', () => {
    expect(retryDelay(3, { ...config, jitter: 0 }, Math.random)).toBe(400);
    expect(retryDelayBounds(3, { ...config, jitter: 1 })).toEqual({ min: 0, max: 400 });
  });

  it('rejects impossible configs', () => {
    expect(RetryConfig.safeParse({ ...config, jitter: 1.5 }).success).toBe(false);
    expect(RetryConfig.safeParse({ ...config, maxAttempts: 0 }).success).toBe(false);
    expect(RetryConfig.safeParse({ ...config, maxDelayMs: 50 }).success).toBe(false);
  });
});

/** A webhook receiver that answers `statuses` in turn (then 200) and notes when each try arrived. */
async function flakyReceiver(statuses: number[]) {
  const arrivals: number[] = [];
  const signaturesOk: boolean[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      arrivals.push(performance.now());
      signaturesOk.push(
        verifyBodySignature(SECRET, Buffer.concat(chunks), req.headers['x-hitloop-signature']),
      );
      const status = statuses[arrivals.length - 1] ?? 200;
      res.writeHead(status).end(status === 200 ? 'ok' : `failure ${arrivals.length}`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return { url, arrivals, signaturesOk };
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

const payload = buildApprovalRequestPayload(
  {
    runId: 'run-1',
    action: createAction({ id: 'retry-a1', toolName: 'send_email', toolArgs: { to: 'x@y.z' } }),
    policyName: 'test',
    policyReason: '',
    context: {},
    createdAt: new Date().toISOString(),
  },
  'retry-a1',
  'http://127.0.0.1:1/cb/retry-a1?sig=x',
  new Date(Date.now() + 60_000).toISOString(),
);

// Timers never fire early, so a gap below the lower bound is a bug; the upper
// bound allows for a loaded machine (2 shared cores).
const SLACK_MS = 400;

describe('withRetry against a real HTTP receiver', () => {
  it('retries 503s with backoff gaps inside [min, max] and succeeds on the third try', async () => {
    const r = await flakyReceiver([503, 503]);
    const config: RetryConfig = { maxAttempts: 5, baseDelayMs: 120, maxDelayMs: 1000, jitter: 0.5 };
    const waits: number[] = [];
    await withRetry(() => sendSignedWebhook(r.url, payload, { secret: SECRET }), config, {
      onRetry: ({ delayMs }) => waits.push(delayMs),
    });
    expect(r.arrivals).toHaveLength(3);
    expect(r.signaturesOk).toEqual([true, true, true]);
    for (let i = 1; i < r.arrivals.length; i++) {
      const gap = r.arrivals[i]! - r.arrivals[i - 1]!;
      const { min, max } = retryDelayBounds(i, config);
      expect(waits[i - 1]).toBeGreaterThanOrEqual(min);
      expect(waits[i - 1]).toBeLessThanOrEqual(max);
      expect(gap).toBeGreaterThanOrEqual(min - 2);
      expect(gap).toBeLessThanOrEqual(max + SLACK_MS);
    }
  });

  it('waits the full delay when no jitter is drawn (the gaps grow)', async () => {
    const r = await flakyReceiver([500, 500, 500]);
    const config: RetryConfig = { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 250, jitter: 0.5 };
    await withRetry(() => sendSignedWebhook(r.url, payload, { secret: SECRET }), config, {
      random: () => 0,
    });
    const gaps = r.arrivals.slice(1).map((t, i) => t - r.arrivals[i]!);
    // 100, 200, then capped at 250.
    expect(gaps[0]).toBeGreaterThanOrEqual(98);
    expect(gaps[1]).toBeGreaterThanOrEqual(198);
    expect(gaps[2]).toBeGreaterThanOrEqual(248);
    expect(gaps[0]).toBeLessThanOrEqual(100 + SLACK_MS);
    expect(gaps[1]).toBeLessThanOrEqual(200 + SLACK_MS);
    expect(gaps[2]).toBeLessThanOrEqual(250 + SLACK_MS);
  });

  it('gives up after maxAttempts with every error kept, the HTTP status in the message', async () => {
    const r = await flakyReceiver([502, 502, 502, 502]);
    const config: RetryConfig = { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 20, jitter: 0 };
    const err = await withRetry(
      () => sendSignedWebhook(r.url, payload, { secret: SECRET }),
      config,
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetryExhaustedError);
    const exhausted = err as RetryExhaustedError;
    expect(exhausted.attempts).toBe(3);
    expect(exhausted.errors).toHaveLength(3);
    expect(exhausted.message).toContain('failed after 3 attempts');
    expect(exhausted.message).toContain('HTTP 502');
    expect(r.arrivals).toHaveLength(3);
  });

  it('does not retry an answer that will not change (400), when told so', async () => {
    const r = await flakyReceiver([400]);
    const config: RetryConfig = { maxAttempts: 5, baseDelayMs: 10, maxDelayMs: 20, jitter: 0 };
    const err = await withRetry(
      () => sendSignedWebhook(r.url, payload, { secret: SECRET }),
      config,
      {
        shouldRetry: (e) => e instanceof WebhookSendError && e.retriable,
      },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WebhookSendError);
    expect((err as WebhookSendError).status).toBe(400);
    expect(r.arrivals).toHaveLength(1);
  });

  it('stops waiting when aborted', async () => {
    const r = await flakyReceiver([503, 503, 503]);
    const config: RetryConfig = {
      maxAttempts: 5,
      baseDelayMs: 5_000,
      maxDelayMs: 5_000,
      jitter: 0,
    };
    const ac = new AbortController();
    const started = performance.now();
    const p = withRetry(() => sendSignedWebhook(r.url, payload, { secret: SECRET }), config, {
      signal: ac.signal,
      onRetry: () => setTimeout(() => ac.abort(), 20),
    });
    await expect(p).rejects.toThrow();
    expect(performance.now() - started).toBeLessThan(3_000);
    expect(r.arrivals).toHaveLength(1);
  });
});
