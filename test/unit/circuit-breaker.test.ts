import { describe, expect, it } from 'vitest';
import {
  CircuitBreaker,
  CircuitBreakerConfig,
  CircuitOpenError,
  type CircuitState,
} from '../../shared/webhooks/circuit-breaker.js';

function clock(start = 1_700_000_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

const ok = () => Promise.resolve('ok');
const fail = () => Promise.reject(new Error('boom'));

function deferred() {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

async function failTimes(breaker: CircuitBreaker, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await expect(breaker.call(fail)).rejects.toThrow('boom');
}

describe('CircuitBreaker', () => {
  const config = { failureThreshold: 3, resetTimeoutMs: 10_000, halfOpenMaxCalls: 1 };

  it('stays closed below the threshold, and a success resets the count', async () => {
    const breaker = new CircuitBreaker(config, { now: clock().now });
    await failTimes(breaker, 2);
    expect(breaker.getCircuitState()).toBe('closed');
    expect(breaker.consecutiveFailures).toBe(2);
    await expect(breaker.call(ok)).resolves.toBe('ok');
    expect(breaker.consecutiveFailures).toBe(0);
    await failTimes(breaker, 2);
    expect(breaker.getCircuitState()).toBe('closed');
  });

  it('opens after failureThreshold consecutive failures and then fails fast without calling', async () => {
    const c = clock();
    const breaker = new CircuitBreaker(config, { now: c.now, label: 'the webhook endpoint X' });
    await failTimes(breaker, 3);
    expect(breaker.getCircuitState()).toBe('open');
    let called = false;
    const err = await breaker
      .call(async () => {
        called = true;
      })
      .catch((e: unknown) => e);
    expect(called).toBe(false);
    expect(err).toBeInstanceOf(CircuitOpenError);
    const open = err as CircuitOpenError;
    expect(open.failures).toBe(3);
    expect(open.retryAt).toBe(c.now() + 10_000);
    expect(open.message).toContain('the webhook endpoint X has failed 3 times in a row');
    expect(open.message).toContain(new Date(c.now() + 10_000).toISOString());
  });

  it('turns half-open once resetTimeoutMs has passed on the clock, not before', async () => {
    const c = clock();
    const breaker = new CircuitBreaker(config, { now: c.now });
    await failTimes(breaker, 3);
    c.advance(9_999);
    expect(breaker.getCircuitState()).toBe('open');
    c.advance(1);
    expect(breaker.getCircuitState()).toBe('half-open');
  });

  it('closes after a successful half-open trial', async () => {
    const c = clock();
    const breaker = new CircuitBreaker(config, { now: c.now });
    await failTimes(breaker, 3);
    c.advance(10_000);
    await expect(breaker.call(ok)).resolves.toBe('ok');
    expect(breaker.getCircuitState()).toBe('closed');
    expect(breaker.consecutiveFailures).toBe(0);
  });

  it('reopens at once after a failed half-open trial, with a fresh reset timeout', async () => {
    const c = clock();
    const breaker = new CircuitBreaker(config, { now: c.now });
    await failTimes(breaker, 3);
    c.advance(10_000);
    await expect(breaker.call(fail)).rejects.toThrow('boom');
    expect(breaker.getCircuitState()).toBe('open');
    c.advance(9_999);
    expect(breaker.getCircuitState()).toBe('open');
    await expect(breaker.call(ok)).rejects.toBeInstanceOf(CircuitOpenError);
    c.advance(1);
    expect(breaker.getCircuitState()).toBe('half-open');
  });

  it('lets at most halfOpenMaxCalls trials through at once while half-open', async () => {
    const c = clock();
    const breaker = new CircuitBreaker({ ...config, halfOpenMaxCalls: 2 }, { now: c.now });
    await failTimes(breaker, 3);
    c.advance(10_000);
    const first = deferred();
    const second = deferred();
    const calls: number[] = [];
    const p1 = breaker.call(() => {
      calls.push(1);
      return first.promise;
    });
    const p2 = breaker.call(() => {
      calls.push(2);
      return second.promise;
    });
    const third = await breaker
      .call(async () => {
        calls.push(3);
      })
      .catch((e: unknown) => e);
    expect(third).toBeInstanceOf(CircuitOpenError);
    expect((third as Error).message).toContain('trial call is already testing');
    expect(calls).toEqual([1, 2]);
    first.resolve();
    second.resolve();
    await Promise.all([p1, p2]);
    expect(breaker.getCircuitState()).toBe('closed');
  });

  it('with halfOpenMaxCalls 1, a second caller is refused while the trial runs', async () => {
    const c = clock();
    const breaker = new CircuitBreaker(config, { now: c.now });
    await failTimes(breaker, 3);
    c.advance(10_000);
    const trial = deferred();
    const p = breaker.call(() => trial.promise);
    await expect(breaker.call(ok)).rejects.toBeInstanceOf(CircuitOpenError);
    trial.reject(new Error('still down'));
    await expect(p).rejects.toThrow('still down');
    expect(breaker.getCircuitState()).toBe('open');
  });

  it('reports every transition in order', async () => {
    const c = clock();
    const seen: Array<[CircuitState, CircuitState]> = [];
    const breaker = new CircuitBreaker(config, {
      now: c.now,
      onStateChange: (from, to) => seen.push([from, to]),
    });
    await failTimes(breaker, 3);
    c.advance(10_000);
    await expect(breaker.call(fail)).rejects.toThrow();
    c.advance(10_000);
    await breaker.call(ok);
    expect(seen).toEqual([
      ['closed', 'open'],
      ['open', 'half-open'],
      ['half-open', 'open'],
      ['open', 'half-open'],
      ['half-open', 'closed'],
    ]);
  });

  it('validates its config with zod', () => {
    expect(
      CircuitBreakerConfig.safeParse({
        failureThreshold: 0,
        resetTimeoutMs: 1,
        halfOpenMaxCalls: 1,
      }).success,
    ).toBe(false);
    expect(
      CircuitBreakerConfig.safeParse({
        failureThreshold: 2,
        resetTimeoutMs: 1,
        halfOpenMaxCalls: 1,
        extra: 1,
      }).success,
    ).toBe(false);
    expect(CircuitBreakerConfig.parse(config)).toEqual(config);
  });
});
