import type { ApprovalRequest } from '../models/approval-request.js';
import type { Decision } from '../models/decision.js';
import { argsHash } from '../util/canonical-json.js';
import { type ApprovalBackend, type ApprovalOptions, abortError } from './backend.js';

/** One scripted answer from {@link ScriptedBackend}. */
export interface ScriptedAnswer {
  approved: boolean;
  reason?: string;
  /** Arguments to run instead of the proposed ones (an "approve with edits"). */
  editedArgs?: Record<string, unknown>;
  /**
   * How long the pretend reviewer takes. Use `Infinity` for one who never
   * answers (combine with a timeout to script a timeout).
   */
  delayMs?: number;
  /** Defaults to the backend's `decidedBy` (`scripted:test`). */
  decidedBy?: string;
  tags?: string[];
}

/** A function script: called once per request, in call order. */
export type ScriptFunction = (
  request: ApprovalRequest,
  index: number,
) => ScriptedAnswer | Promise<ScriptedAnswer>;

/** Options for {@link ScriptedBackend}. */
export interface ScriptedBackendOptions {
  /** Default timeout for every request; `options.timeoutMs` overrides it. */
  timeoutMs?: number;
  /** Label for scripted answers that do not set their own. */
  decidedBy?: string;
}

/** Thrown (as a rejected promise) when a queue script has no answer left. */
export class ScriptExhaustedError extends Error {
  readonly code = 'HITLOOP_SCRIPT_EXHAUSTED' as const;
  constructor(message: string) {
    super(message);
    this.name = 'ScriptExhaustedError';
  }
}

/**
 * A backend for tests: answers come from a script instead of a person, so a
 * test states exactly what the "human" does and can assert on what they were
 * shown. Behaves like a real channel where it matters: measures latency,
 * honours `signal` during a delay, and labels timeouts `scripted:timeout`.
 *
 * @example
 * const backend = new ScriptedBackend([
 *   { approved: true },
 *   { approved: false, reason: 'wrong recipient', delayMs: 5 },
 * ]);
 * await backend.requestApproval(request); // approved
 * backend.requests.length // 1
 *
 * @example
 * // A reviewer that rejects everything risky.
 * const backend = new ScriptedBackend((req) => ({ approved: req.action.riskClass !== 'high' }));
 */
export class ScriptedBackend implements ApprovalBackend {
  readonly name = 'scripted';
  /** Every request seen, in call order (including ones that timed out or were aborted). */
  readonly requests: ApprovalRequest[] = [];
  private readonly queue: ScriptedAnswer[] | undefined;
  private readonly fn: ScriptFunction | undefined;
  private readonly defaultTimeoutMs: number | undefined;
  private readonly decidedBy: string;

  constructor(script: ScriptedAnswer[] | ScriptFunction, options: ScriptedBackendOptions = {}) {
    if (typeof script === 'function') this.fn = script;
    else this.queue = [...script];
    this.defaultTimeoutMs = options.timeoutMs;
    this.decidedBy = options.decidedBy ?? 'scripted:test';
  }

  /** Answers not yet used (always 0 for a function script). */
  get remaining(): number {
    return this.queue?.length ?? 0;
  }

  /**
   * Appends answers to a queue script.
   *
   * @example
   * backend.push({ approved: true }, { approved: false });
   */
  push(...answers: ScriptedAnswer[]): void {
    if (!this.queue)
      throw new TypeError('ScriptedBackend.push: this backend uses a function script');
    this.queue.push(...answers);
  }

  async requestApproval(
    request: ApprovalRequest,
    options: ApprovalOptions = {},
  ): Promise<Decision> {
    const started = performance.now();
    const { signal } = options;
    if (signal?.aborted) throw abortError(signal);
    const index = this.requests.length;
    this.requests.push(request);
    // Take a queued answer synchronously, so concurrent calls get answers in
    // call order whatever their delays.
    const answer = this.queue ? this.queue.shift() : await this.fn!(request, index);
    if (!answer) {
      throw new ScriptExhaustedError(
        `ScriptedBackend: no scripted answer left for request #${index + 1} ` +
          `(tool "${request.action.toolName}", action ${request.action.id}); ` +
          `the script had ${index} answer(s). Add more answers or use a function script.`,
      );
    }
    const timeoutMs = options.timeoutMs ?? this.defaultTimeoutMs;
    const outcome = await wait(answer.delayMs ?? 0, timeoutMs, signal);
    if (outcome === 'timeout') {
      return {
        actionId: request.action.id,
        approved: false,
        reason: `Timed out after ${timeoutMs} ms with no scripted answer; no human rejected this call.`,
        decidedBy: 'scripted:timeout',
        tags: [],
        argsHash: argsHash(request.action.toolArgs),
        decidedAt: new Date().toISOString(),
        latencyMs: performance.now() - started,
      };
    }
    if (answer.editedArgs && options.validateArgs) {
      // A script that edits arguments into something the tool rejects is a
      // bug in the test; say so rather than hand back an invalid decision.
      const problems = options.validateArgs(answer.editedArgs);
      if (problems.length > 0) {
        throw new TypeError(
          `ScriptedBackend: the scripted editedArgs for request #${index + 1} fail validation: ${problems.join('; ')}`,
        );
      }
    }
    const decision: Decision = {
      actionId: request.action.id,
      approved: answer.approved,
      reason: answer.reason ?? '',
      decidedBy: answer.decidedBy ?? this.decidedBy,
      tags: answer.tags ?? [],
      argsHash: argsHash(answer.editedArgs ?? request.action.toolArgs),
      decidedAt: new Date().toISOString(),
      latencyMs: performance.now() - started,
    };
    if (answer.editedArgs) decision.editedArgs = answer.editedArgs;
    return decision;
  }
}

/**
 * Resolves 'done' after `delayMs`, 'timeout' if `timeoutMs` comes first, and
 * rejects with an AbortError when `signal` fires. Cleans up its timers and
 * listener in every case so tests never hang on a leftover timer.
 */
function wait(
  delayMs: number,
  timeoutMs: number | undefined,
  signal: AbortSignal | undefined,
): Promise<'done' | 'timeout'> {
  const hasTimeout = timeoutMs !== undefined && Number.isFinite(timeoutMs);
  // An immediate answer beats any timeout.
  if (delayMs <= 0) return Promise.resolve('done');
  return new Promise((resolve, reject) => {
    const timers: NodeJS.Timeout[] = [];
    const finish = (): void => {
      for (const t of timers) clearTimeout(t);
      signal?.removeEventListener('abort', onAbort);
    };
    const onAbort = (): void => {
      finish();
      reject(abortError(signal));
    };
    // setTimeout treats Infinity as 1 ms, so a never-answering reviewer gets
    // no timer at all.
    if (Number.isFinite(delayMs)) {
      timers.push(
        setTimeout(() => {
          finish();
          resolve('done');
        }, delayMs),
      );
    }
    if (hasTimeout && (!Number.isFinite(delayMs) || timeoutMs < delayMs)) {
      timers.push(
        setTimeout(() => {
          finish();
          resolve('timeout');
        }, timeoutMs),
      );
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
