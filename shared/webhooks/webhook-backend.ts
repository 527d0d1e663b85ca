import { randomUUID } from 'node:crypto';
import { type ApprovalBackend, type ApprovalOptions, abortError } from '../backends/backend.js';
import { ConfigError } from '../errors.js';
import type { ApprovalRequest } from '../models/approval-request.js';
import type { Decision } from '../models/decision.js';
import { argsHash } from '../util/canonical-json.js';
import {
  type CallbackRefusal,
  checkCallback,
  decisionFromCallback,
  parseCallbackBody,
  refuse,
  unauthorizedCallback,
} from './callback-handler.js';
import { callbackCapability, verifyCallbackCapability } from './signature.js';
import { buildApprovalRequestPayload, type CallbackResult } from './webhook-protocol.js';
import { type FetchLike, sendSignedWebhook } from './webhook-sender.js';

/** Ten minutes, as for the other channels: a forgotten message fails closed. */
export const WEBHOOK_DEFAULT_TIMEOUT_MS = 10 * 60 * 1000;
// setTimeout overflows above this and fires at once; treat longer as "no timeout".
const MAX_TIMER_MS = 2 ** 31 - 1;
// How many closed callback ids are remembered to answer 409 rather than 404.
const CLOSED_MEMORY = 1000;

/** Options for {@link WebhookBackend} (and the base of the persistent one's). */
export interface WebhookBackendOptions {
  /** Where approval requests are POSTed (a Slack/Telegram bridge, your app). */
  url: string;
  /**
   * The public base of this process's callback endpoint; each request's
   * callback URL is `${callbackBaseUrl}/${encodeURIComponent(id)}?sig=...`.
   */
  callbackBaseUrl: string;
  /** Shared with the receiver: signs requests and callback URLs. At least 16 characters. */
  secret: string;
  /** How long a request waits for a decision. Default 10 minutes. */
  timeoutMs?: number;
  /** Extra headers for every request (e.g. the receiver's own auth). */
  headers?: Record<string, string>;
  fetch?: FetchLike;
  /** How long one delivery attempt may take. Default 10 s. */
  attemptTimeoutMs?: number;
  /** Told about decisions that arrive after their request closed (never applied). */
  onLateDecision?: (decision: Decision, closed: { status: string; reason: string }) => void;
}

interface Waiting {
  readonly request: ApprovalRequest;
  readonly hash: string;
  readonly validateArgs: ApprovalOptions['validateArgs'];
  sentAt: number;
  settle(decision: Decision): void;
}

/**
 * Sends each approval request to a webhook (signed JSON, see
 * `docs/webhooks.md`) and waits for a person's decision to come back to its
 * callback URL, which your HTTP server passes to {@link handleCallback}.
 *
 * Fails closed: a delivery that fails is `webhook:unavailable` (the reason
 * names the URL and the error), no decision in time is `webhook:timeout`;
 * neither is a human rejection. Aborting withdraws the request (later
 * callbacks get 409). State lives in this process; for requests that must
 * survive a restart use `PersistentWebhookBackend`.
 *
 * @example
 * const backend = new WebhookBackend({ url: 'https://bridge.example/hitloop', callbackBaseUrl: 'https://me.example/cb', secret });
 * http.createServer(createCallbackListener((id, sig, body) => backend.handleCallback(id, sig, body), { pathPrefix: '/cb' }));
 * const decision = await backend.requestApproval(request, { validateArgs });
 */
export class WebhookBackend implements ApprovalBackend {
  readonly name = 'webhook';
  private readonly waiting = new Map<string, Waiting>();
  private readonly closedIds = new Map<string, { status: string; reason: string }>();
  private closed = false;

  constructor(private readonly options: WebhookBackendOptions) {
    validateOptions(options);
  }

  /** The callback URL for an id: the base, the id, and its HMAC capability. */
  callbackUrl(callbackId: string): string {
    return callbackUrlFor(this.options.callbackBaseUrl, this.options.secret, callbackId);
  }

  async requestApproval(
    request: ApprovalRequest,
    options: ApprovalOptions = {},
  ): Promise<Decision> {
    const { signal } = options;
    if (signal?.aborted) throw abortError(signal);
    const timeoutMs = options.timeoutMs ?? this.options.timeoutMs ?? WEBHOOK_DEFAULT_TIMEOUT_MS;
    const started = performance.now();
    // The action id names the request for people; a duplicate in flight (the
    // same action asked twice) gets a suffix so neither answer lands on the other.
    const callbackId = this.waiting.has(request.action.id)
      ? `${request.action.id}~${randomUUID().slice(0, 8)}`
      : request.action.id;
    const hash = argsHash(request.action.toolArgs);
    const failClosed = (decidedBy: string, reason: string): Decision => ({
      actionId: request.action.id,
      approved: false,
      reason: `${reason}; no human rejected this call`,
      decidedBy,
      latencyMs: performance.now() - started,
      tags: [],
      argsHash: hash,
      decidedAt: new Date().toISOString(),
    });
    if (this.closed)
      return failClosed('webhook:unavailable', 'the webhook approval backend was closed');

    return new Promise<Decision>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = (outcome: Decision | Error, status: string, reason: string): void => {
        if (this.waiting.get(callbackId) !== entry) return;
        this.waiting.delete(callbackId);
        this.rememberClosed(callbackId, status, reason);
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (outcome instanceof Error) reject(outcome);
        else resolve(outcome);
      };
      const entry: Waiting = {
        request,
        hash,
        validateArgs: options.validateArgs,
        sentAt: performance.now(),
        settle: (decision) =>
          finish(decision, decision.approved ? 'approved' : 'rejected', decision.reason),
      };
      const onAbort = (): void =>
        finish(abortError(signal), 'withdrawn', 'the agent withdrew the call');
      // Registered before sending: a fast receiver may call back before its
      // answer to our POST has reached us.
      this.waiting.set(callbackId, entry);
      signal?.addEventListener('abort', onAbort, { once: true });
      // The clock starts when the caller asks: the agent is blocked from now.
      if (Number.isFinite(timeoutMs) && timeoutMs <= MAX_TIMER_MS) {
        timer = setTimeout(
          () => {
            const reason = `no decision arrived from the webhook within ${formatSeconds(timeoutMs)} s`;
            finish(failClosed('webhook:timeout', reason), 'expired', reason);
          },
          Math.max(0, timeoutMs),
        );
      }
      const expiresAt =
        request.expiresAt ?? new Date(Date.now() + Math.min(timeoutMs, 1e15)).toISOString();
      entry.sentAt = performance.now();
      this.sendRequest(request, callbackId, this.callbackUrl(callbackId), {
        expiresAt,
        signal,
      }).then(undefined, (err: unknown) => {
        if (signal?.aborted) return; // already withdrawn
        const reason = `the approval request could not be delivered to ${this.options.url}: ${err instanceof Error ? err.message : String(err)}`;
        finish(failClosed('webhook:unavailable', reason), 'expired', reason);
      });
    });
  }

  /**
   * POSTs one approval request to the webhook URL, signed, with a 10 s
   * per-attempt timeout. Rejects with a `WebhookSendError` on a non-2xx answer
   * (the status is in the message) or when the receiver cannot be reached.
   *
   * @example
   * await backend.sendRequest(request, request.action.id, backend.callbackUrl(request.action.id));
   */
  async sendRequest(
    request: ApprovalRequest,
    callbackId: string,
    callbackUrl: string,
    options: { expiresAt?: string; signal?: AbortSignal } = {},
  ): Promise<void> {
    const timeoutMs = this.options.timeoutMs ?? WEBHOOK_DEFAULT_TIMEOUT_MS;
    const expiresAt =
      options.expiresAt ??
      request.expiresAt ??
      new Date(Date.now() + Math.min(timeoutMs, 1e15)).toISOString();
    const payload = buildApprovalRequestPayload(request, callbackId, callbackUrl, expiresAt);
    await sendSignedWebhook(this.options.url, payload, {
      secret: this.options.secret,
      ...(this.options.headers ? { headers: this.options.headers } : {}),
      ...(this.options.fetch ? { fetch: this.options.fetch } : {}),
      ...(this.options.attemptTimeoutMs ? { attemptTimeoutMs: this.options.attemptTimeoutMs } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  /**
   * Applies a callback: `sig` is the URL's `?sig=` capability, `body` the raw
   * body text or parsed JSON. Answers 401 (bad sig), 400 (bad body), 404
   * (unknown id), 409 (already closed, or `argsHash` names other arguments),
   * 422 (edited arguments fail `validateArgs`), or resolves the waiting
   * request. Latency runs from the moment the request was sent.
   *
   * @example
   * const r = await backend.handleCallback(id, url.searchParams.get('sig'), rawBody);
   */
  async handleCallback(
    callbackId: string,
    sig: string | null | undefined,
    body: unknown,
  ): Promise<CallbackResult> {
    if (!verifyCallbackCapability(this.options.secret, callbackId, sig))
      return unauthorizedCallback();
    const parsed = parseCallbackBody(body);
    if (!parsed.ok) return parsed;
    const entry = this.waiting.get(callbackId);
    if (!entry) return this.unknown(callbackId, parsed.body);
    const refusal = checkCallback(parsed.body, entry.hash, entry.validateArgs);
    if (refusal) return refusal;
    const decision = decisionFromCallback(
      entry.request.action.id,
      entry.hash,
      parsed.body,
      performance.now() - entry.sentAt,
    );
    entry.settle(decision);
    return { ok: true, decision };
  }

  /** Requests waiting for a callback. */
  get pending(): number {
    return this.waiting.size;
  }

  /**
   * Fails every waiting request closed (`webhook:unavailable`) and refuses
   * new ones the same way.
   *
   * @example
   * process.on('SIGTERM', () => void backend.close());
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const [id, entry] of [...this.waiting]) {
      const reason = 'the webhook approval backend was closed';
      entry.settle({
        actionId: entry.request.action.id,
        approved: false,
        reason: `${reason}; no human rejected this call`,
        decidedBy: 'webhook:unavailable',
        latencyMs: performance.now() - entry.sentAt,
        tags: [],
        argsHash: entry.hash,
        decidedAt: new Date().toISOString(),
      });
      this.rememberClosed(id, 'expired', reason);
    }
  }

  private unknown(
    callbackId: string,
    body: Parameters<typeof decisionFromCallback>[2],
  ): CallbackRefusal {
    const closed = this.closedIds.get(callbackId);
    if (!closed) {
      return refuse(
        404,
        'not_found',
        `no approval request with callback id ${JSON.stringify(callbackId)} is waiting in this process (it may have restarted; use PersistentWebhookBackend to survive restarts)`,
      );
    }
    if (closed.status === 'approved' || closed.status === 'rejected')
      return refuse(409, 'already_decided', `approval ${callbackId} was already ${closed.status}`);
    this.options.onLateDecision?.(decisionFromCallback(callbackId, body.argsHash, body, 0), closed);
    return refuse(
      409,
      'request_closed',
      `approval ${callbackId} is ${closed.status} (${closed.reason}); your decision was not applied`,
    );
  }

  private rememberClosed(id: string, status: string, reason: string): void {
    this.closedIds.set(id, { status, reason });
    if (this.closedIds.size > CLOSED_MEMORY) {
      const oldest = this.closedIds.keys().next().value;
      if (oldest !== undefined) this.closedIds.delete(oldest);
    }
  }
}

/** `${base}/${encodeURIComponent(id)}?sig=<capability>`. */
export function callbackUrlFor(base: string, secret: string, callbackId: string): string {
  return `${base.replace(/\/+$/, '')}/${encodeURIComponent(callbackId)}?sig=${callbackCapability(secret, callbackId)}`;
}

/** Rejects options that would make every request fail or be forgeable. */
export function validateOptions(options: WebhookBackendOptions): void {
  for (const key of ['url', 'callbackBaseUrl'] as const) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(options[key]);
    } catch {
      parsed = undefined;
    }
    if (!parsed || (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')) {
      throw new ConfigError({
        field: `webhook.${key}`,
        problem: `not an http(s) URL: ${JSON.stringify(options[key])}`,
        fix: 'give an absolute URL such as https://bridge.example.com/hitloop',
      });
    }
  }
  if (typeof options.secret !== 'string' || options.secret.length < 16) {
    throw new ConfigError({
      field: 'webhook.secret',
      problem: 'the shared secret must be at least 16 characters',
      fix: 'generate one with `openssl rand -hex 32` and give the same value to the receiver',
    });
  }
}

function formatSeconds(ms: number): string {
  return String(Math.round(ms / 10) / 100);
}
