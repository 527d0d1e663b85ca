import { describe, expect, it } from 'vitest';
import { backoffBounds, backoffDelay } from '../../shared/util/backoff.js';
import { DEFAULT_RETRY, retryDelay, retryDelayBounds } from '../../shared/webhooks/retry.js';

describe('backoffDelay', () => {
  it('doubles from initialMs and stops at maxMs', () => {
    const waits = Array.from({ length: 8 }, (_, n) =>
      backoffDelay(n, { initialMs: 500, maxMs: 30_000 }),
    );
    expect(waits).toEqual([500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
  });

  it('grows by another factor when asked', () => {
    expect(
      [0, 1, 2, 3].map((n) => backoffDelay(n, { initialMs: 10, maxMs: 500, factor: 3 })),
    ).toEqual([10, 30, 90, 270]);
  });

  it('never overflows: huge attempts give maxMs, a zero start gives 0', () => {
    expect(backoffDelay(5000, { initialMs: 1, maxMs: 777 })).toBe(777);
    expect(backoffDelay(5000, { initialMs: 0, maxMs: 777 })).toBe(0);
  });

  it('treats negative and fractional attempts as the whole attempt below', () => {
    expect(backoffDelay(-3, { initialMs: 100, maxMs: 1000 })).toBe(100);
    expect(backoffDelay(2.9, { initialMs: 100, maxMs: 1000 })).toBe(400);
  });

  it('takes off up to `jitter` of the wait, drawn from `random`', () => {
    const opts = { initialMs: 1000, maxMs: 60_000, jitter: 0.5 };
    expect(backoffDelay(2, { ...opts, random: () => 0 })).toBe(4000);
    expect(backoffDelay(2, { ...opts, random: () => 0.5 })).toBe(3000);
    expect(backoffDelay(2, { ...opts, random: () => 1 })).toBe(2000);
    // A random source outside [0, 1] is clamped, never a negative or longer wait.
    expect(backoffDelay(2, { ...opts, random: () => 7 })).toBe(2000);
    expect(backoffDelay(2, { ...opts, random: () => -1 })).toBe(4000);
    expect(backoffBounds(2, opts)).toEqual({ min: 2000, max: 4000 });
  });

  it('stays within its bounds with the real random source', () => {
    const opts = { initialMs: 100, maxMs: 1000, jitter: 1 };
    for (let n = 0; n < 200; n++) {
      const { min, max } = backoffBounds(n % 6, opts);
      const wait = backoffDelay(n % 6, opts);
      expect(wait).toBeGreaterThanOrEqual(min);
      expect(wait).toBeLessThanOrEqual(max);
    }
  });

  it('is exact without jitter, whatever the random source', () => {
    expect(backoffDelay(1, { initialMs: 5, maxMs: 100, random: () => 0.9 })).toBe(10);
  });
});

describe('webhook retry delays go through backoffDelay', () => {
  it('try n+1 waits the backoff of attempt n-1, with the config as options', () => {
    for (let attempt = 1; attempt <= 6; attempt++) {
      const options = {
        initialMs: DEFAULT_RETRY.baseDelayMs,
        maxMs: DEFAULT_RETRY.maxDelayMs,
        jitter: DEFAULT_RETRY.jitter,
      };
      expect(retryDelayBounds(attempt, DEFAULT_RETRY)).toEqual(backoffBounds(attempt - 1, options));
      expect(retryDelay(attempt, DEFAULT_RETRY, () => 0.25)).toBe(
        backoffDelay(attempt - 1, { ...options, random: () => 0.25 }),
      );
    }
  });
});
