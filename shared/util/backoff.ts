// The one exponential backoff in hitloop. Upstream restarts, the PostgreSQL
// listener's reconnect, Redis reconnects, telemetry write retries, SQLite's
// busy retries at open, webhook delivery retries and the approval page's
// stream reconnect all wait `backoffDelay(attempt, their options)`; each
// caller keeps its own numbers.

/** How a backoff grows. */
export interface BackoffOptions {
  /** The wait after the first failure (attempt 0), in ms. */
  initialMs: number;
  /** No wait is longer than this, in ms. */
  maxMs: number;
  /** How much each wait grows over the one before. Default 2 (doubling). */
  factor?: number;
  /**
   * How much of each wait may be taken off at random, from 0 (the default:
   * exact waits) to 1 (anywhere from nothing to the full wait), so many
   * processes that failed together do not all retry together.
   */
  jitter?: number;
  /** The random source for `jitter`, returning [0, 1]. Tests pass a fixed one. Default Math.random. */
  random?: () => number;
}

/**
 * The longest and shortest wait after failure number `attempt` (0-based):
 * `max = min(maxMs, initialMs * factor^attempt)`, `min = max * (1 - jitter)`.
 *
 * @example
 * backoffBounds(3, { initialMs: 100, maxMs: 1000, jitter: 0.5 }) // { min: 400, max: 800 }
 */
export function backoffBounds(
  attempt: number,
  options: Omit<BackoffOptions, 'random'>,
): { min: number; max: number } {
  const n = Math.max(0, Math.floor(attempt));
  // factor ** n may be Infinity; min() caps it. 0 * Infinity would be NaN.
  const grown = options.initialMs === 0 ? 0 : options.initialMs * (options.factor ?? 2) ** n;
  const max = Math.min(options.maxMs, grown);
  return { min: max * (1 - (options.jitter ?? 0)), max };
}

/**
 * The wait after failure number `attempt` (0-based), in ms: doubling (or
 * `factor`) from `initialMs`, capped at `maxMs`, less up to `jitter` of itself
 * at random. Pure when `jitter` is 0 or `random` is fixed.
 *
 * @example
 * backoffDelay(0, { initialMs: 500, maxMs: 30_000 }) // 500
 * backoffDelay(3, { initialMs: 500, maxMs: 30_000 }) // 4000
 * backoffDelay(9, { initialMs: 500, maxMs: 30_000 }) // 30000
 * backoffDelay(1, { initialMs: 500, maxMs: 30_000, jitter: 0.5, random: () => 1 }) // 500
 */
export function backoffDelay(attempt: number, options: BackoffOptions): number {
  const { min, max } = backoffBounds(attempt, options);
  if (min === max) return max;
  const r = Math.min(1, Math.max(0, (options.random ?? Math.random)()));
  return max - (max - min) * r;
}
