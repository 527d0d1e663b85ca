import { z } from 'zod';
import { seedKeyError } from '../util/seed-names.js';

/**
 * When to stop calling a failing endpoint: after `failureThreshold`
 * consecutive failures the circuit opens and calls fail at once; after
 * `resetTimeoutMs` it turns half-open and lets up to `halfOpenMaxCalls` trial
 * calls through. A trial that succeeds closes it; one that fails opens it again.
 *
 * Every field defaults to the Python hitloop's `CircuitBreakerConfig()`:
 * threshold 5, recovery after 30 s, 3 trial calls. Its option names are
 * answered with ours.
 *
 * @example
 * const breaker = new CircuitBreaker(CircuitBreakerConfig.parse({ failureThreshold: 5, resetTimeoutMs: 30_000, halfOpenMaxCalls: 1 }));
 * CircuitBreakerConfig.parse({}) // { failureThreshold: 5, resetTimeoutMs: 30000, halfOpenMaxCalls: 3 }
 */
export const CircuitBreakerConfig = z.strictObject(
  {
    failureThreshold: z.number().int().min(1).default(5),
    resetTimeoutMs: z.number().min(0).default(30_000),
    halfOpenMaxCalls: z.number().int().min(1).default(3),
  },
  {
    error: seedKeyError('CircuitBreakerConfig', {
      recoveryTimeout: 'resetTimeoutMs (milliseconds: recoveryTimeout × 1000)',
    }),
  },
);
export type CircuitBreakerConfig = z.infer<typeof CircuitBreakerConfig>;
/** What {@link CircuitBreakerConfig} accepts: any field may be left out. */
export type CircuitBreakerConfigInput = z.input<typeof CircuitBreakerConfig>;

/** The Python hitloop's defaults: five failures in a row, thirty seconds of rest, then three trial calls. */
export const DEFAULT_CIRCUIT_BREAKER: CircuitBreakerConfig = CircuitBreakerConfig.parse({});

export type CircuitState = 'closed' | 'open' | 'half-open';

/** A call refused without being made, because the circuit is open (or half-open and busy). */
export class CircuitOpenError extends Error {
  override readonly name = 'CircuitOpenError';
  constructor(
    message: string,
    /** Consecutive failures that opened the circuit. */
    readonly failures: number,
    /** Epoch ms when a trial call will next be let through. */
    readonly retryAt: number,
  ) {
    super(message);
  }
}

/** Options for {@link CircuitBreaker}. */
export interface CircuitBreakerOptions {
  /** Epoch ms; injected in tests so half-open can be reached without waiting. */
  now?: () => number;
  /** Names the protected thing in error messages, e.g. the webhook URL. */
  label?: string;
  onStateChange?: (from: CircuitState, to: CircuitState) => void;
}

/**
 * A circuit breaker around calls to one endpoint. Failures are counted per
 * call: wrap each try (inside a retry loop), so a dead endpoint opens the
 * circuit after `failureThreshold` tries rather than that many requests.
 *
 * @example
 * const breaker = new CircuitBreaker(DEFAULT_CIRCUIT_BREAKER, { label: url });
 * try { await breaker.call(() => post(url, body)); }
 * catch (e) { if (e instanceof CircuitOpenError) failClosed(e.message); else throw e; }
 * breaker.getCircuitState(); // 'closed' | 'open' | 'half-open'
 */
export class CircuitBreaker {
  private state: CircuitState = 'closed';
  private failures = 0;
  private openedAt = 0;
  private trialsInFlight = 0;
  private readonly now: () => number;
  private readonly label: string;

  constructor(
    readonly config: CircuitBreakerConfig,
    private readonly options: CircuitBreakerOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.label = options.label ?? 'the endpoint';
  }

  /**
   * The current state. An open circuit whose rest has elapsed reads as
   * half-open: the state follows the clock, not the next call.
   */
  getCircuitState(): CircuitState {
    if (this.state === 'open' && this.now() >= this.retryAt) this.transition('half-open');
    return this.state;
  }

  /** Consecutive failures counted so far (reset by a success). */
  get consecutiveFailures(): number {
    return this.failures;
  }

  /** Epoch ms when an open circuit lets a trial through. */
  get retryAt(): number {
    return this.openedAt + this.config.resetTimeoutMs;
  }

  /**
   * Runs `fn` if the circuit allows it and records the outcome; otherwise
   * rejects with {@link CircuitOpenError} without calling `fn`.
   *
   * @example
   * const res = await breaker.call(() => fetch(url, init));
   */
  async call<T>(fn: () => Promise<T>): Promise<T> {
    const state = this.getCircuitState();
    if (state === 'open') throw this.refusal();
    const trial = state === 'half-open';
    if (trial) {
      if (this.trialsInFlight >= this.config.halfOpenMaxCalls) throw this.refusal(true);
      this.trialsInFlight++;
    }
    try {
      const result = await fn();
      this.recordSuccess();
      return result;
    } catch (error) {
      this.recordFailure();
      throw error;
    } finally {
      if (trial) this.trialsInFlight--;
    }
  }

  /** Records a success made outside {@link call}. */
  recordSuccess(): void {
    this.failures = 0;
    if (this.state !== 'closed') this.transition('closed');
  }

  /** Records a failure made outside {@link call}. */
  recordFailure(): void {
    this.failures++;
    // A failed trial reopens at once; a closed circuit waits for the threshold.
    if (this.state === 'half-open' || this.failures >= this.config.failureThreshold) {
      this.openedAt = this.now();
      this.transition('open');
    }
  }

  private refusal(busy = false): CircuitOpenError {
    const retryAt = this.retryAt;
    const message = busy
      ? `${this.label} has failed ${this.failures} times in a row; a trial call is already testing whether it is back, so this call was not made`
      : `${this.label} has failed ${this.failures} times in a row; calls are refused until ${new Date(retryAt).toISOString()} (in ${Math.max(0, Math.ceil((retryAt - this.now()) / 1000))} s), then one is tried again`;
    return new CircuitOpenError(message, this.failures, retryAt);
  }

  private transition(to: CircuitState): void {
    const from = this.state;
    if (from === to) return;
    this.state = to;
    this.options.onStateChange?.(from, to);
  }
}
