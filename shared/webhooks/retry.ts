import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { type BackoffOptions, backoffBounds, backoffDelay } from '../util/backoff.js';
import { seedKeyError } from '../util/seed-names.js';

/**
 * How failed deliveries are retried: up to `maxAttempts` tries in all, the
 * wait before try n+1 is `min(maxDelayMs, baseDelayMs * 2^(n-1))`, shortened
 * by up to `jitter` of itself at random (0 = exact, 1 = anywhere from 0 to the
 * full delay), so many processes that failed together do not retry together.
 *
 * Every field defaults to the Python hitloop's `RetryConfig()`: 3 retries
 * (4 tries), 1 s initial delay, 30 s at most, base 2; `jitter` (which the
 * seed lacked) defaults to 0.5. Its option names are answered with ours.
 *
 * @example
 * const retry = RetryConfig.parse({ maxAttempts: 4, baseDelayMs: 250, maxDelayMs: 5_000, jitter: 0.5 });
 * RetryConfig.parse({}) // { maxAttempts: 4, baseDelayMs: 1000, maxDelayMs: 30000, jitter: 0.5 }
 */
export const RetryConfig = z
  .strictObject(
    {
      maxAttempts: z.number().int().min(1).max(100).default(4),
      baseDelayMs: z.number().min(0).default(1_000),
      maxDelayMs: z.number().min(0).default(30_000),
      jitter: z.number().min(0).max(1).default(0.5),
    },
    {
      error: seedKeyError('RetryConfig', {
        maxRetries: 'maxAttempts (tries in all: maxRetries + 1)',
        initialDelay: 'baseDelayMs (milliseconds: initialDelay × 1000)',
        maxDelay: 'maxDelayMs (milliseconds: maxDelay × 1000)',
        exponentialBase: 'nothing (the base is always 2, the seed’s default)',
      }),
    },
  )
  .refine((c) => c.maxDelayMs >= c.baseDelayMs, {
    message: 'maxDelayMs must be at least baseDelayMs',
    path: ['maxDelayMs'],
  });
export type RetryConfig = z.infer<typeof RetryConfig>;
/** What {@link RetryConfig} accepts: any field may be left out. */
export type RetryConfigInput = z.input<typeof RetryConfig>;

/** The Python hitloop's defaults: four tries, waits of up to 1, 2 and 4 s (7 s in all at most). */
export const DEFAULT_RETRY: RetryConfig = RetryConfig.parse({});

/**
 * The range `retryDelay` draws from after failed try number `attempt` (1-based).
 *
 * @example
 * retryDelayBounds(3, { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 1000, jitter: 0.5 }) // { min: 200, max: 400 }
 */
export function retryDelayBounds(
  attempt: number,
  config: RetryConfig,
): { min: number; max: number } {
  return backoffBounds(attempt - 1, backoffOf(config));
}

/**
 * The wait after failed try number `attempt` (1-based), in ms. Pure: pass
 * `random` (a function returning [0, 1)) to make it deterministic.
 *
 * @example
 * retryDelay(1, DEFAULT_RETRY, () => 0) // 1000: no jitter drawn
 * retryDelay(1, DEFAULT_RETRY, () => 1) // 500: the most jitter allowed
 */
export function retryDelay(
  attempt: number,
  config: RetryConfig,
  random: () => number = Math.random,
): number {
  return backoffDelay(attempt - 1, { ...backoffOf(config), random });
}

function backoffOf(config: RetryConfig): BackoffOptions {
  return { initialMs: config.baseDelayMs, maxMs: config.maxDelayMs, jitter: config.jitter };
}

/** Options for {@link withRetry}. */
export interface WithRetryOptions {
  /** Stops waiting and retrying; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Whether an error is worth another try. Default: every error. */
  shouldRetry?: (error: unknown, attempt: number) => boolean;
  /** Called before each wait, e.g. to log. */
  onRetry?: (info: { attempt: number; delayMs: number; error: unknown }) => void;
  random?: () => number;
}

/** Every try failed; `errors` holds each try's error, `cause` the last. */
export class RetryExhaustedError extends Error {
  override readonly name = 'RetryExhaustedError';
  constructor(
    readonly attempts: number,
    readonly errors: unknown[],
  ) {
    const last = errors[errors.length - 1];
    super(
      `failed after ${attempts} ${attempts === 1 ? 'attempt' : 'attempts'}: ${last instanceof Error ? last.message : String(last)}`,
      { cause: last },
    );
  }
}

/**
 * Runs `fn` until it succeeds, retrying with {@link retryDelay} waits. An
 * error `shouldRetry` declines is rethrown as it is (a 400 will not heal by
 * itself); running out of tries rejects with {@link RetryExhaustedError}.
 *
 * @example
 * await withRetry((attempt) => post(url, body), DEFAULT_RETRY, { signal });
 */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  config: RetryConfig,
  options: WithRetryOptions = {},
): Promise<T> {
  const errors: unknown[] = [];
  for (let attempt = 1; ; attempt++) {
    options.signal?.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason;
      errors.push(error);
      if (options.shouldRetry && !options.shouldRetry(error, attempt)) throw error;
      if (attempt >= config.maxAttempts) throw new RetryExhaustedError(attempt, errors);
      const delayMs = retryDelay(attempt, config, options.random);
      options.onRetry?.({ attempt, delayMs, error });
      await sleep(delayMs, undefined, options.signal ? { signal: options.signal } : undefined);
    }
  }
}
