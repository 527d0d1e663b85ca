import { signBody } from './signature.js';
import {
  DELIVERY_HEADER,
  SIGNATURE_HEADER,
  type WebhookApprovalRequest,
} from './webhook-protocol.js';

/** How long one delivery attempt may take before it counts as failed. */
export const WEBHOOK_ATTEMPT_TIMEOUT_MS = 10_000;

/** The `fetch` the webhook backends call; injectable for proxies and tests. */
export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

/**
 * A delivery that failed: the receiver answered non-2xx (`status` set), or
 * could not be reached / did not answer in time (`status` undefined).
 * `retriable` is false for answers that will not change on retry (4xx other
 * than 408 and 429): a bad signature or a malformed payload stays so.
 */
export class WebhookSendError extends Error {
  override readonly name = 'WebhookSendError';
  constructor(
    message: string,
    readonly url: string,
    readonly status: number | undefined,
    readonly retriable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Options for {@link sendSignedWebhook}. */
export interface SendWebhookOptions {
  secret: string;
  headers?: Record<string, string>;
  fetch?: FetchLike;
  attemptTimeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * POSTs one approval request, signed, and resolves when the receiver answers
 * 2xx. Rejects with {@link WebhookSendError} otherwise (the status, or the
 * network error, is in the message), or with the signal's AbortError.
 *
 * @example
 * await sendSignedWebhook('https://bridge.example/hitloop', payload, { secret });
 */
export async function sendSignedWebhook(
  url: string,
  payload: WebhookApprovalRequest,
  options: SendWebhookOptions,
): Promise<void> {
  const body = JSON.stringify(payload);
  const timeoutMs = options.attemptTimeoutMs ?? WEBHOOK_ATTEMPT_TIMEOUT_MS;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  const doFetch: FetchLike = options.fetch ?? fetch;
  let response: Response;
  try {
    response = await doFetch(url, {
      method: 'POST',
      body,
      signal,
      redirect: 'error',
      headers: {
        ...options.headers,
        'content-type': 'application/json',
        [SIGNATURE_HEADER]: signBody(options.secret, body),
        [DELIVERY_HEADER]: payload.callbackId,
        'user-agent': 'hitloop-webhook/1',
      },
    });
  } catch (err) {
    if (options.signal?.aborted) throw options.signal.reason ?? err;
    const why = timeout.aborted
      ? `no answer within ${Math.round(timeoutMs / 100) / 10} s`
      : describeNetworkError(err);
    throw new WebhookSendError(`POST ${url} failed: ${why}`, url, undefined, true, { cause: err });
  }
  // Drain the body so the connection can be reused; keep a little for the message.
  const text = await response.text().catch(() => '');
  if (response.ok) return;
  const status = response.status;
  const snippet = text.trim().slice(0, 200);
  throw new WebhookSendError(
    `POST ${url} answered HTTP ${status}${response.statusText ? ` ${response.statusText}` : ''}${snippet ? `: ${snippet}` : ''}`,
    url,
    status,
    status >= 500 || status === 408 || status === 429,
  );
}

function describeNetworkError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  // undici hides the useful part (ECONNREFUSED, ENOTFOUND) in `cause`.
  const cause = err.cause as { code?: string; message?: string } | undefined;
  if (cause?.code) return `${cause.code}${cause.message ? ` (${cause.message})` : ''}`;
  return err.message;
}
