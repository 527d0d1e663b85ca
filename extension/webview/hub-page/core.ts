// The approval page's logic that needs no DOM: reading the token from the
// link, building decisions and wording errors. Kept apart so it is tested
// without a browser. The event stream is read by shared/util/sse.ts, the
// parser the hub client uses too.

/** Where the page keeps the token for this tab (sessionStorage: gone when the tab closes). */
export const TOKEN_KEY = 'hitloop.hubToken';
/** Where the reviewer's name is kept across visits (localStorage: not a secret). */
export const NAME_KEY = 'hitloop.reviewerName';

/**
 * The token in a link's fragment (`#token=…`). The fragment never reaches the
 * server or its logs, which is why `hitloop serve` prints the link that way.
 *
 * @example
 * tokenFromFragment('#token=abc') // 'abc'
 * tokenFromFragment('') // undefined
 */
export function tokenFromFragment(hash: string): string | undefined {
  const text = hash.startsWith('#') ? hash.slice(1) : hash;
  if (!text) return undefined;
  const token = new URLSearchParams(text).get('token')?.trim();
  return token ? token : undefined;
}

/**
 * The fragment without the token (other parameters kept), for
 * `history.replaceState`, so the token does not stay in the address bar,
 * the history or a screenshot.
 *
 * @example
 * fragmentWithoutToken('#token=abc') // ''
 * fragmentWithoutToken('#token=abc&x=1') // '#x=1'
 */
export function fragmentWithoutToken(hash: string): string {
  const params = new URLSearchParams(hash.startsWith('#') ? hash.slice(1) : hash);
  params.delete('token');
  const rest = params.toString();
  return rest ? `#${rest}` : '';
}

/** The body of `POST /v1/approvals/:id/decision` as the page sends it. */
export interface PageDecision {
  approve: boolean;
  argsHash: string;
  reason?: string;
  decidedBy: string;
}

/**
 * Who decided, as the hub records it: `mobile`, or `mobile:<name>` when the
 * reviewer typed a name. Control and hidden characters are dropped and the
 * name is cut to fit the hub's 200-character limit.
 *
 * @example
 * decidedBy('') // 'mobile'
 * decidedBy(' alice ') // 'mobile:alice'
 */
export function decidedBy(name: string): string {
  const clean = name
    .replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, '')
    .trim()
    .slice(0, 100);
  return clean ? `mobile:${clean}` : 'mobile';
}

/**
 * A decision bound to the arguments the reviewer saw (`argsHash`); an empty
 * reason is left out.
 *
 * @example
 * decisionBody({ approve: false, argsHash: h, reason: 'wrong file', name: 'alice' })
 * // { approve: false, argsHash: h, reason: 'wrong file', decidedBy: 'mobile:alice' }
 */
export function decisionBody(input: {
  approve: boolean;
  argsHash: string;
  reason?: string;
  name?: string;
}): PageDecision {
  const reason = input.reason?.trim().slice(0, 4000);
  return {
    approve: input.approve,
    argsHash: input.argsHash,
    ...(reason ? { reason } : {}),
    decidedBy: decidedBy(input.name ?? ''),
  };
}

/** What the page says when it has no usable token. */
export const NO_TOKEN_MESSAGE =
  'This page needs the link printed by `hitloop serve` (it ends in #token=…). Open that link on this device.';
export const TOKEN_REJECTED_MESSAGE =
  'The hub did not accept the token from your link (the hub may have restarted with a new one). Open the link printed by `hitloop serve` again.';

/**
 * What to tell the reviewer when a decision is refused, and whether the list
 * should be fetched again (the request changed or is gone).
 *
 * @example
 * decisionProblem(409, { code: 'already_decided', message: '…' }).refresh // true
 */
export function decisionProblem(
  status: number,
  error: { code: string; message: string; details?: string[] } | undefined,
): { message: string; refresh: boolean; signedOut: boolean } {
  if (status === 401) return { message: TOKEN_REJECTED_MESSAGE, refresh: false, signedOut: true };
  switch (error?.code) {
    case 'already_decided':
      return {
        message: `Someone else decided this request first (${error.message}). Nothing was changed.`,
        refresh: true,
        signedOut: false,
      };
    case 'args_changed':
      return {
        message:
          'The arguments changed after you opened this card, so your decision was not applied. Review the current arguments and decide again.',
        refresh: true,
        signedOut: false,
      };
    case 'not_found':
      return {
        message: 'This request is gone from the hub.',
        refresh: true,
        signedOut: false,
      };
  }
  const details = error?.details?.length ? ` (${error.details.join('; ')})` : '';
  return {
    message: error
      ? `The hub refused the decision: ${error.message}${details}`
      : `The hub answered HTTP ${status}.`,
    refresh: false,
    signedOut: false,
  };
}

/**
 * Newest first, ties broken by id, like the sidebar.
 *
 * @example
 * [b, a].sort(newestFirst)
 */
export function newestFirst(
  a: { createdAt: string; id: string },
  b: { createdAt: string; id: string },
): number {
  const byTime = Date.parse(b.createdAt) - Date.parse(a.createdAt);
  if (byTime !== 0 && !Number.isNaN(byTime)) return byTime;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}
