import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { z } from 'zod';
import { type ApprovalBackend, type ApprovalOptions, abortError } from '../backends/backend.js';
import { configErrorFromZod } from '../errors.js';
import { pendingRecordFor } from '../hub/pending-record.js';
import type { ApprovalRecord } from '../hub/protocol.js';
import type { ApprovalRequest } from '../models/approval-request.js';
import type { Decision } from '../models/decision.js';
import type { ApprovalStore, StoreChange } from '../stores/approval-store.js';
import { handleWebhookCallback } from './callback-handler.js';
import {
  CircuitBreaker,
  CircuitBreakerConfig,
  type CircuitBreakerConfigInput,
  CircuitOpenError,
  type CircuitState,
  DEFAULT_CIRCUIT_BREAKER,
} from './circuit-breaker.js';
import { DEFAULT_RETRY, RetryConfig, type RetryConfigInput, withRetry } from './retry.js';
import {
  callbackUrlFor,
  deliver,
  deliveryFailure,
  validateOptions,
  WEBHOOK_DEFAULT_TIMEOUT_MS,
  type WebhookBackendOptions,
} from './webhook-backend.js';
import type { CallbackResult } from './webhook-protocol.js';
import { WebhookSendError } from './webhook-sender.js';

// setTimeout overflows above this and fires at once; treat longer as "no timeout".
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Options for {@link PersistentWebhookBackend}. */
export interface PersistentWebhookBackendOptions extends WebhookBackendOptions {
  /** How often awaited requests are re-read, in case a change notice was lost. Default 5 s. */
  recheckMs?: number;
  /** Heartbeat interval when this backend is its own hub (no `hubId` given). Default 10 s. */
  heartbeatMs?: number;
  /** Where requests live; share it (SQLite file, team store) so any process can take callbacks. */
  store: ApprovalStore;
  /**
   * Who resumes these requests after a restart (a proxy instance name, a
   * LangGraph thread id). Without it requests persist but `recover()` cannot
   * find them.
   */
  threadId?: string;
  /** Recorded as the requests' owner. Default: random per instance. */
  hubId?: string;
  /** Fields left out take {@link DEFAULT_RETRY}'s values (the Python hitloop's). */
  retry?: RetryConfigInput;
  /** Fields left out take {@link DEFAULT_CIRCUIT_BREAKER}'s values (the Python hitloop's). */
  circuitBreaker?: CircuitBreakerConfigInput;
  /** Epoch ms for the breaker's clock; injectable for tests. */
  now?: () => number;
  /** [0, 1) for retry jitter; injectable for tests. */
  random?: () => number;
}

interface Wait {
  promise: Promise<ApprovalRecord>;
  cancel(): void;
}

/**
 * A {@link WebhookBackend} whose requests survive a restart: each request is
 * an {@link ApprovalRecord} in an {@link ApprovalStore}, callbacks settle the
 * record (through any process sharing the store), and the asking process is
 * woken by `store.watch`.
 *
 * Delivery is retried with exponential backoff and jitter (`retry`), each try
 * through a circuit breaker (`circuitBreaker`). While the breaker is open,
 * requests fail closed at once as `system:circuit_breaker`, with a reason
 * saying how often the endpoint failed and when it is tried again, and the
 * record is closed `expired` with that reason.
 *
 * After a restart, {@link recover} lists this thread's requests and
 * {@link awaitRecovered} waits for each; a decision made meanwhile is
 * returned at once. A callback for a request that has closed is answered 409
 * and kept on the record as `lateDecision` (never applied).
 *
 * @example
 * const backend = new PersistentWebhookBackend({ url, callbackBaseUrl, secret, store: new SqliteApprovalStore(file), threadId: 'proxy-1' });
 * for (const record of await backend.recover()) void backend.awaitRecovered(record.id).then(resume);
 * const decision = await backend.requestApproval(request);
 */
export class PersistentWebhookBackend implements ApprovalBackend {
  readonly name = 'webhook';
  readonly hubId: string;
  readonly threadId: string | undefined;
  private readonly store: ApprovalStore;
  private readonly breaker: CircuitBreaker;
  private readonly retry: RetryConfig;
  private readonly validators = new Map<string, (args: Record<string, unknown>) => string[]>();
  private readonly watchers = new Map<string, Set<() => void>>();
  private readonly active = new Set<() => void>();
  private unwatch: (() => void) | undefined;
  private recheckTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private readonly startedAt = new Date().toISOString();
  private closed = false;

  constructor(private readonly options: PersistentWebhookBackendOptions) {
    validateOptions(options);
    this.store = options.store;
    this.threadId = options.threadId;
    this.hubId = options.hubId ?? `webhook-${randomUUID()}`;
    this.retry = parseOption(RetryConfig, options.retry, DEFAULT_RETRY, 'retry');
    const breaker = parseOption(
      CircuitBreakerConfig,
      options.circuitBreaker,
      DEFAULT_CIRCUIT_BREAKER,
      'circuitBreaker',
    );
    this.breaker = new CircuitBreaker(breaker, {
      label: options.url ? `the webhook endpoint ${options.url}` : 'your sendRequest function',
      ...(options.now ? { now: options.now } : {}),
    });
  }

  /** The delivery circuit: 'closed' (normal), 'open' (failing fast) or 'half-open' (trying again). */
  getCircuitState(): CircuitState {
    return this.breaker.getCircuitState();
  }

  async requestApproval(
    request: ApprovalRequest,
    options: ApprovalOptions = {},
  ): Promise<Decision> {
    const { signal } = options;
    if (signal?.aborted) throw abortError(signal);
    const started = performance.now();
    const timeoutMs = options.timeoutMs ?? this.options.timeoutMs ?? WEBHOOK_DEFAULT_TIMEOUT_MS;
    const record = this.toRecord(request, timeoutMs);
    if (this.closed)
      return this.failClosed(
        record,
        'webhook:unavailable',
        'the webhook approval backend was closed',
        started,
      );

    // An id seen before is a re-ask (a resumed graph, a restarted proxy): its
    // receiver already has the message, so wait for that one rather than send again.
    await this.ensureHeartbeat();
    const before = await this.store.get(record.id);
    const existed = before !== undefined;
    // The same id with other arguments (a model that reuses tool-call ids)
    // must never inherit a decision made on the earlier arguments.
    if (before && (before.argsHash !== record.argsHash || before.tool !== record.tool))
      return this.failClosed(
        record,
        'system:args_mismatch',
        `request ${record.id} was already asked with other arguments; refusing to reuse its decision`,
        started,
      );
    const stored = await this.store.registerPending(record);
    if (options.validateArgs) this.validators.set(record.id, options.validateArgs);
    if (stored.status !== 'pending') return this.deliver(stored, started, options);

    const wait = this.waitSettled(record.id);
    if (!existed) {
      try {
        await this.send(request, stored, signal);
      } catch (err) {
        wait.cancel();
        if (signal?.aborted) {
          await this.store.settle(record.id, {
            status: 'withdrawn',
            statusReason: 'the agent withdrew the call',
          });
          this.validators.delete(record.id);
          throw abortError(signal);
        }
        return this.sendFailed(stored, err, started, options);
      }
    }
    return this.await(stored, wait, { ...options, timeoutMs }, started);
  }

  /**
   * What this thread must pick up after a restart: its pending requests (now
   * owned by this instance) and those decided while it was away. Await each
   * with {@link awaitRecovered}.
   *
   * @example
   * const records = await backend.recover('proxy-1');
   * const decisions = await Promise.all(records.map((r) => backend.awaitRecovered(r.id)));
   */
  async recover(threadId: string | undefined = this.threadId): Promise<ApprovalRecord[]> {
    if (!threadId)
      throw new TypeError('recover() needs a threadId (pass one, or set it in the options)');
    await this.ensureHeartbeat();
    const records = await this.store.listPending(threadId);
    const out: ApprovalRecord[] = [];
    for (const record of records) {
      out.push(
        record.status === 'pending'
          ? await this.store.registerPending({ ...record, hubId: this.hubId })
          : record,
      );
    }
    return out;
  }

  /**
   * Waits for a recovered request's decision, until its `expiresAt` (or
   * `options.timeoutMs`), then fails it closed as `webhook:timeout`. A
   * decision already made is returned at once. Rejects if the id is unknown.
   *
   * @example
   * const decision = await backend.awaitRecovered(record.id, { validateArgs });
   */
  async awaitRecovered(id: string, options: ApprovalOptions = {}): Promise<Decision> {
    const { signal } = options;
    if (signal?.aborted) throw abortError(signal);
    const started = performance.now();
    if (options.validateArgs) this.validators.set(id, options.validateArgs);
    const wait = this.waitSettled(id);
    const record = await this.store.get(id);
    if (!record) {
      wait.cancel();
      throw new Error(`no approval request ${JSON.stringify(id)} in the ${this.store.name} store`);
    }
    if (record.status !== 'pending') {
      wait.cancel();
      return this.deliver(record, started, options);
    }
    const left = record.expiresAt
      ? Date.parse(record.expiresAt) - Date.now()
      : WEBHOOK_DEFAULT_TIMEOUT_MS;
    return this.await(
      record,
      wait,
      { ...options, timeoutMs: options.timeoutMs ?? Math.max(0, left) },
      started,
    );
  }

  /**
   * Applies a callback through the store, so it works whichever process sent
   * the request (see `handleWebhookCallback`); edited arguments are checked
   * with the `validateArgs` of the request when it waits in this process.
   *
   * @example
   * const r = await backend.handleCallback(id, url.searchParams.get('sig'), rawBody);
   */
  handleCallback(
    callbackId: string,
    sig: string | null | undefined,
    body: unknown,
  ): Promise<CallbackResult> {
    return handleWebhookCallback(this.store, this.options.secret!, callbackId, sig, body, {
      validateArgs: (args, record) => this.validators.get(record.id)?.(args) ?? [],
    });
  }

  /**
   * Stops waiting: every request this instance waits for returns
   * `webhook:unavailable` at once, and stays pending in the store, so a
   * restarted process can {@link recover} it. Does not close the store.
   *
   * @example
   * process.on('SIGTERM', () => void backend.close());
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const stop of [...this.active]) stop();
    this.unwatch?.();
    this.unwatch = undefined;
    this.watchers.clear();
    if (this.recheckTimer) clearInterval(this.recheckTimer);
    this.recheckTimer = undefined;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
  }

  /**
   * Without a hub of its own (no `hubId` given), this backend announces
   * itself in the store like a hub does, so hubs sharing the store see its
   * requests' asker as alive and do not expire them.
   */
  private async ensureHeartbeat(): Promise<void> {
    if (this.options.hubId !== undefined || this.heartbeatTimer || this.closed) return;
    const beat = () =>
      this.store.heartbeat({
        hubId: this.hubId,
        name: 'hitloop webhook backend',
        host: hostname(),
        pid: process.pid,
        startedAt: this.startedAt,
        lastSeen: new Date().toISOString(),
      });
    this.heartbeatTimer = setInterval(() => {
      beat().catch(() => undefined);
    }, this.options.heartbeatMs ?? 10_000);
    this.heartbeatTimer.unref();
    await beat();
  }

  private async send(
    request: ApprovalRequest,
    record: ApprovalRecord,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const secret = this.options.secret!;
    const url = callbackUrlFor(this.options.callbackBaseUrl, secret, record.id);
    await withRetry(
      () =>
        this.breaker.call(() =>
          deliver(this.options, secret, request, record.id, url, {
            expiresAt: record.expiresAt!,
            ...(signal ? { signal } : {}),
          }),
        ),
      this.retry,
      {
        ...(signal ? { signal } : {}),
        ...(this.options.random ? { random: this.options.random } : {}),
        // An open circuit or an answer that will not change (400, 401, 404) ends the tries.
        shouldRetry: (e) =>
          !(e instanceof CircuitOpenError) && !(e instanceof WebhookSendError && !e.retriable),
      },
    );
  }

  private async sendFailed(
    record: ApprovalRecord,
    err: unknown,
    started: number,
    options: ApprovalOptions,
  ): Promise<Decision> {
    const open = err instanceof CircuitOpenError;
    const reason = open
      ? `${err.message}; the approval request was not sent`
      : deliveryFailure(this.options, err);
    const settled = await this.store.settle(record.id, { status: 'expired', statusReason: reason });
    // A receiver may have decided even though its answer to our POST failed.
    if (!settled.ok && settled.reason === 'not_pending') {
      const current = settled.record;
      if (current.status === 'approved' || current.status === 'rejected')
        return this.deliver(current, started, options);
    }
    this.validators.delete(record.id);
    return this.failClosed(
      record,
      open ? 'system:circuit_breaker' : 'webhook:unavailable',
      reason,
      started,
    );
  }

  private async await(
    record: ApprovalRecord,
    wait: Wait,
    options: ApprovalOptions & { timeoutMs: number },
    started: number,
  ): Promise<Decision> {
    const { signal, timeoutMs } = options;
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    let stop: (() => void) | undefined;
    const outcome = await Promise.race([
      wait.promise.then((r) => ({ kind: 'settled' as const, record: r })),
      new Promise<{ kind: 'timeout' }>((resolve) => {
        if (Number.isFinite(timeoutMs) && timeoutMs <= MAX_TIMER_MS)
          timer = setTimeout(() => resolve({ kind: 'timeout' }), Math.max(0, timeoutMs));
      }),
      new Promise<{ kind: 'aborted' }>((resolve) => {
        onAbort = () => resolve({ kind: 'aborted' });
        signal?.addEventListener('abort', onAbort, { once: true });
      }),
      new Promise<{ kind: 'closed' }>((resolve) => {
        stop = () => resolve({ kind: 'closed' });
        // close() may have run while the request was being sent.
        if (this.closed) stop();
        else this.active.add(stop);
      }),
    ]);
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
    if (stop) this.active.delete(stop);
    wait.cancel();

    if (outcome.kind === 'settled') return this.deliver(outcome.record, started, options);
    if (outcome.kind === 'closed') {
      return this.failClosed(
        record,
        'webhook:unavailable',
        'the webhook approval backend was closed; the request stays pending in the store for recover()',
        started,
      );
    }
    const closing =
      outcome.kind === 'aborted'
        ? { status: 'withdrawn' as const, statusReason: 'the agent withdrew the call' }
        : {
            status: 'expired' as const,
            statusReason: `no decision arrived from the webhook within ${Math.round(timeoutMs / 100) / 10} s`,
          };
    const settled = await this.store.settle(record.id, closing);
    if (outcome.kind === 'aborted') {
      this.validators.delete(record.id);
      throw abortError(signal);
    }
    // A decision may have landed at the same instant; then it wins.
    if (!settled.ok && settled.reason === 'not_pending')
      return this.deliver(settled.record, started, options);
    this.validators.delete(record.id);
    return this.failClosed(record, 'webhook:timeout', closing.statusReason, started);
  }

  /** Hands a closed record's outcome to the caller and notes it as delivered. */
  private async deliver(
    record: ApprovalRecord,
    started: number,
    options: ApprovalOptions,
  ): Promise<Decision> {
    const validate = options.validateArgs ?? this.validators.get(record.id);
    this.validators.delete(record.id);
    if ((record.status === 'approved' || record.status === 'rejected') && record.decision) {
      await this.store.markDelivered(record.id, new Date().toISOString());
      const decision = record.decision;
      // Another process may have taken the callback without this request's
      // validator: check edited arguments before anything runs them.
      if (decision.approved && decision.editedArgs && validate) {
        const problems = safeValidate(validate, decision.editedArgs);
        if (problems.length > 0) {
          return this.failClosed(
            record,
            'webhook:invalid_args',
            `the reviewer's edited arguments do not match the tool's input schema (${problems.join('; ')}), so the call was not run`,
            started,
          );
        }
      }
      return decision;
    }
    const why = record.statusReason ?? `the request was ${record.status} without a decision`;
    return this.failClosed(
      record,
      record.status === 'expired' ? 'webhook:timeout' : 'webhook:unavailable',
      why,
      started,
    );
  }

  private failClosed(
    record: ApprovalRecord,
    decidedBy: string,
    reason: string,
    started: number,
  ): Decision {
    return {
      actionId: record.id,
      approved: false,
      reason: `${reason}; no human rejected this call`,
      decidedBy,
      latencyMs: performance.now() - started,
      tags: [],
      argsHash: record.argsHash,
      decidedAt: new Date().toISOString(),
    };
  }

  /**
   * Resolves when the record leaves `pending`, whoever settled it: one store
   * subscription serves every waiting request.
   */
  private waitSettled(id: string): Wait {
    let done = false;
    let resolve!: (record: ApprovalRecord) => void;
    const promise = new Promise<ApprovalRecord>((r) => {
      resolve = r;
    });
    const check = (): void => {
      if (done) return;
      this.store.get(id).then(
        (r) => {
          if (!done && r && r.status !== 'pending') {
            done = true;
            cancel();
            resolve(r);
          }
        },
        () => {
          // A store hiccup: the next change, or the timeout, settles it.
        },
      );
    };
    const set = this.watchers.get(id) ?? new Set();
    set.add(check);
    this.watchers.set(id, set);
    this.unwatch ??= this.store.watch((change) => this.onChange(change));
    // Notices sent while a store's listen connection was down are lost: a
    // slow re-read makes sure a decision never waits for the timeout.
    if (!this.recheckTimer) {
      this.recheckTimer = setInterval(() => {
        for (const checks of this.watchers.values()) for (const c of checks) c();
      }, this.options.recheckMs ?? 5_000);
      this.recheckTimer.unref();
    }
    const cancel = (): void => {
      set.delete(check);
      if (set.size === 0 && this.watchers.get(id) === set) this.watchers.delete(id);
      if (this.watchers.size === 0 && this.unwatch) {
        // SQLite polls while watched; stop when nobody waits.
        this.unwatch();
        this.unwatch = undefined;
      }
      if (this.watchers.size === 0 && this.recheckTimer) {
        clearInterval(this.recheckTimer);
        this.recheckTimer = undefined;
      }
    };
    // It may have been settled before the subscription started.
    check();
    return {
      promise,
      cancel: () => {
        done = true;
        cancel();
      },
    };
  }

  private onChange(change: StoreChange): void {
    if (change.type !== 'settled') return;
    for (const check of this.watchers.get(change.id) ?? []) check();
  }

  private toRecord(request: ApprovalRequest, timeoutMs: number): ApprovalRecord {
    return pendingRecordFor(request, {
      hubId: this.hubId,
      timeoutMs,
      channel: 'webhook',
      ...(this.threadId ? { threadId: this.threadId } : {}),
    });
  }
}

function safeValidate(
  validate: (args: Record<string, unknown>) => string[],
  args: Record<string, unknown>,
): string[] {
  try {
    return validate(args);
  } catch (err) {
    return [`validation failed: ${err instanceof Error ? err.message : String(err)}`];
  }
}

/**
 * Parses a resilience option at the constructor, so a typo (or a Python
 * hitloop name such as `maxRetries`) fails there with a ConfigError naming
 * the field, not as endless or no retries later.
 */
function parseOption<T>(schema: z.ZodType<T>, value: unknown, fallback: T, field: string): T {
  if (value === undefined) return fallback;
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw configErrorFromZod(parsed.error, undefined, `webhook.${field}`);
  return parsed.data;
}
