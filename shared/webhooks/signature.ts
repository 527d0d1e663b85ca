import { createHmac, timingSafeEqual } from 'node:crypto';

// Two uses of one shared secret, kept apart by what is signed: the raw body of
// an outgoing request, and `hitloop-callback:v1:<callbackId>` for a callback
// URL's capability. The prefix means no request signature can ever serve as a
// callback capability, or the other way round.
const CAPABILITY_CONTEXT = 'hitloop-callback:v1:';

/**
 * The `X-Hitloop-Signature` value for a raw body: `sha256=<hex HMAC-SHA256>`.
 * Sign the exact bytes sent; re-serialising parsed JSON changes them.
 *
 * @example
 * const body = JSON.stringify(payload);
 * await fetch(url, { method: 'POST', body, headers: { 'X-Hitloop-Signature': signBody(secret, body) } });
 */
export function signBody(secret: string, rawBody: string | Uint8Array): string {
  return `sha256=${createHmac('sha256', secret).update(rawBody).digest('hex')}`;
}

/**
 * Checks an `X-Hitloop-Signature` header against the raw body, in constant
 * time so the signature cannot be found byte by byte. A missing or malformed
 * header is simply false.
 *
 * @example
 * if (!verifyBodySignature(secret, rawBody, req.headers['x-hitloop-signature'])) return res.writeHead(401).end();
 */
export function verifyBodySignature(
  secret: string,
  rawBody: string | Uint8Array,
  header: string | string[] | undefined,
): boolean {
  const value = Array.isArray(header) ? header[0] : header;
  if (typeof value !== 'string') return false;
  return constantTimeEqual(value.trim().toLowerCase(), signBody(secret, rawBody));
}

/**
 * The capability a callback URL carries (`?sig=`): HMAC-SHA256 of the callback
 * id, hex. Whoever holds the URL may decide that one request; a process that
 * restarted can verify it from the secret alone, with no stored state.
 *
 * @example
 * const url = `${base}/${encodeURIComponent(id)}?sig=${callbackCapability(secret, id)}`;
 */
export function callbackCapability(secret: string, callbackId: string): string {
  return createHmac('sha256', secret)
    .update(CAPABILITY_CONTEXT + callbackId, 'utf8')
    .digest('hex');
}

/**
 * True when `sig` is the capability for `callbackId` (constant-time).
 *
 * @example
 * if (!verifyCallbackCapability(secret, id, url.searchParams.get('sig'))) return unauthorized();
 */
export function verifyCallbackCapability(
  secret: string,
  callbackId: string,
  sig: string | null | undefined,
): boolean {
  if (typeof sig !== 'string') return false;
  return constantTimeEqual(sig.trim().toLowerCase(), callbackCapability(secret, callbackId));
}

function constantTimeEqual(given: string, expected: string): boolean {
  const a = Buffer.from(given, 'utf8');
  const b = Buffer.from(expected, 'utf8');
  // Length is not secret (it is fixed by the scheme); compare equal lengths only.
  return a.length === b.length && timingSafeEqual(a, b);
}
