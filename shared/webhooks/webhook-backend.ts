import { randomBytes, randomUUID } from 'node:crypto';
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

/**
 * What {@link SendApprovalRequest} gets besides the Python hitloop's three
 * arguments: what the callback body must carry, and when it stops counting.
 */
export interface SendRequestInfo {
  /** SHA-256 of the arguments shown; the callback body must echo it (`argsHash`). */
  argsHash: string;
  /** After this the decision is no longer applied. */
  expiresAt: string;
  /** Aborted when the request is withdrawn or times out; pass it to your HTTP client. */
  signal: AbortSignal;
}

/**
 * Your own delivery of an approval request to people, as the Python
 * hitloop's `send_request(request, callback_id, callback_url)`: post it to
 * Slack, Telegram, Discord, a ticket system, anything. The decision comes back
 * when someone POSTs `{ approved, argsHash, reason?, decidedBy? }` to
 * `callbackUrl` (served by `createCallbackListener`, or passed to
 * `handleCallback`). Resolve once the message is out; throw (or reject) when
 * it could not be sent, and the request fails closed at once.
 *
 * @example
 * const sendToSlack: SendApprovalRequest = async (request, callbackId, callbackUrl, { argsHash }) => {
 *   await slack.chat.postMessage({ channel: '#approvals', text: `Approve ${request.action.toolName}? ${callbackUrl}`, metadata: { event_type: 'hitloop', event_payload: { argsHash } } });
 * };
 */
export type SendApprovalRequest = (
  request: ApprovalRequest,
  callbackId: string,
  callbackUrl: string,
  info: SendRequestInfo,
) => Promise<void> | void;

/**
 * Options for {@link WebhookBackend} (and the base of the persistent one's).
 * Give exactly one way of sending: `url` (hitloop POSTs signed JSON there) or
 * `sendRequest` (your function delivers it).
 */
export interface WebhookBackendOptions {
  /** Where approval requests are POSTed (a Slack/Telegram bridge, your app). */
  url?: string;
  /**
   * Delivers each request yourself instead of the signed POST to `url`
   * (the Python hitloop's channel-agnostic `send_request`).
   */
  sendRequest?: SendApprovalRequest;
  /**
   * The public base of this process's callback endpoint; each request's
   * callback URL is `${callbackBaseUrl}/${encodeURIComponent(id)}?sig=...`.
   */
  callbackBaseUrl: string;
  /**
   * Shared with the receiver: signs requests and callback URLs. At least 16
   * characters. Optional with `sendRequest` on {@link WebhookBackend}: a
   * random one is made per process (its requests live in this process anyway).
   */
  secret?: string;
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
  private readonly secret: string;
  private closed = false;

  constructor(private readonly options: WebhookBackendOptions) {
    validateOptions(options, { secretOptional: options.sendRequest !== undefined });
    // Callback URLs still carry a capability: only whoever was sent the URL can decide.
    this.secret = options.secret ?? randomBytes(32).toString('hex');
  }

  /** The callback URL for an id: the base, the id, and its HMAC capability. */
  callbackUrl(callbackId: string): string {
    return callbackUrlFor(this.options.callbackBaseUrl, this.secret, callbackId);
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
      // Ends a delivery still under way (a user's sendRequest may pass it to
      // its HTTP client) once the request is over, whichever way it ended.
      const delivery = new AbortController();
      const finish = (outcome: Decision | Error, status: string, reason: string): void => {
        if (this.waiting.get(callbackId) !== entry) return;
        this.waiting.delete(callbackId);
        this.rememberClosed(callbackId, status, reason);
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        delivery.abort(new Error(`the approval request is ${status}`));
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
        signal: delivery.signal,
      }).then(undefined, (err: unknown) => {
        if (signal?.aborted || this.waiting.get(callbackId) !== entry) return; // already over
        const reason = deliveryFailure(this.options, err);
        finish(failClosed('webhook:unavailable', reason), 'expired', reason);
      });
    });
  }

  /**
   * Delivers one approval request: through the `sendRequest` function you
   * gave, or else POSTed to the webhook URL, signed, with a 10 s per-attempt
   * timeout. Rejects when delivery failed: the function threw, or (for the
   * POST) a `WebhookSendError` on a non-2xx answer (the status is in the
   * message) or when the receiver cannot be reached.
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
    await deliver(this.options, this.secret, request, callbackId, callbackUrl, {
      expiresAt,
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
    if (!verifyCallbackCapability(this.secret, callbackId, sig)) return unauthorizedCallback();
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

/**
 * Sends one request the configured way: the user's `sendRequest` function,
 * or the signed POST to `url`. Shared with `PersistentWebhookBackend`, whose
 * retries and circuit breaker wrap it.
 */
export async function deliver(
  options: WebhookBackendOptions,
  secret: string,
  request: ApprovalRequest,
  callbackId: string,
  callbackUrl: string,
  info: { expiresAt: string; signal?: AbortSignal },
): Promise<void> {
  if (options.sendRequest) {
    await options.sendRequest(request, callbackId, callbackUrl, {
      argsHash: argsHash(request.action.toolArgs),
      expiresAt: info.expiresAt,
      signal: info.signal ?? new AbortController().signal,
    });
    return;
  }
  const payload = buildApprovalRequestPayload(request, callbackId, callbackUrl, info.expiresAt);
  await sendSignedWebhook(options.url!, payload, {
    secret,
    ...(options.headers ? { headers: options.headers } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.attemptTimeoutMs ? { attemptTimeoutMs: options.attemptTimeoutMs } : {}),
    ...(info.signal ? { signal: info.signal } : {}),
  });
}

/**
 * Why a request failed closed when its delivery failed: names the webhook
 * URL, or the user's `sendRequest` function, and the error.
 *
 * @example
 * deliveryFailure({ sendRequest, callbackBaseUrl }, new Error('channel_not_found'))
 * // 'your sendRequest function could not send the approval request: channel_not_found'
 */
export function deliveryFailure(options: WebhookBackendOptions, err: unknown): string {
  const detail = err instanceof Error ? err.message : String(err);
  return options.sendRequest
    ? `your sendRequest function could not send the approval request: ${detail}`
    : `the approval request could not be delivered to ${options.url}: ${detail}`;
}

// Option names of the Python hitloop's WebhookBackend / PersistentWebhookBackend.
const SEED_OPTION_NAMES: Record<string, string> = {
  send_request: 'sendRequest',
  callback_base_url: 'callbackBaseUrl',
  timeoutSeconds: 'timeoutMs (milliseconds: timeoutSeconds × 1000)',
  timeout_seconds: 'timeoutMs (milliseconds: timeout_seconds × 1000)',
  retryConfig: 'retry',
  retry_config: 'retry',
  circuitBreakerConfig: 'circuitBreaker',
  circuit_breaker_config: 'circuitBreaker',
  onTimeout:
    'nothing: a request with no decision in time is rejected as webhook:timeout (set timeoutMs)',
  on_timeout:
    'nothing: a request with no decision in time is rejected as webhook:timeout (set timeoutMs)',
};

/**
 * Rejects options that would make every request fail or be forgeable, and
 * the Python hitloop's option names (saying which name to use). With
 * `secretOptional` (a `sendRequest` function on the in-process backend) the
 * secret may be left out.
 */
export function validateOptions(
  options: WebhookBackendOptions,
  { secretOptional = false }: { secretOptional?: boolean } = {},
): void {
  for (const [name, instead] of Object.entries(SEED_OPTION_NAMES)) {
    if (Object.hasOwn(options, name)) {
      throw new ConfigError({
        field: `webhook.${name}`,
        problem: `${name} is the Python hitloop's option name`,
        fix: `write ${instead}`,
      });
    }
  }
  const hasUrl = options.url !== undefined;
  const hasSender = options.sendRequest !== undefined;
  if (hasSender && typeof options.sendRequest !== 'function') {
    throw new ConfigError({
      field: 'webhook.sendRequest',
      problem: `must be a function (request, callbackId, callbackUrl, info) => Promise<void>, got ${typeof options.sendRequest}`,
      fix: 'pass the function that posts the request to your channel (Slack, Telegram, ...)',
    });
  }
  if (hasUrl === hasSender) {
    throw new ConfigError({
      field: hasUrl ? 'webhook.sendRequest' : 'webhook.url',
      problem: hasUrl
        ? 'give either url or sendRequest, not both'
        : 'no way to send approval requests was given',
      fix: 'give url (hitloop POSTs signed JSON there) or sendRequest (your function, e.g. one that posts to Slack)',
    });
  }
  for (const key of hasUrl
    ? (['url', 'callbackBaseUrl'] as const)
    : (['callbackBaseUrl'] as const)) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(options[key] as string);
    } catch {
      parsed = undefined;
    }
    if (!parsed || (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')) {
      throw new ConfigError({
        field: `webhook.${key}`,
        problem: `not an http(s) URL: ${JSON.stringify(options[key])}`,
        fix:
          key === 'url'
            ? 'give an absolute URL such as https://bridge.example.com/hitloop'
            : 'give the absolute URL your callback endpoint is reached at, such as https://me.example.com/hitloop/callbacks',
      });
    }
  }
  if (secretOptional && options.secret === undefined) return;
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
