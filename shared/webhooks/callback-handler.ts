import { discoverHubs } from '../hub/discovery.js';
import { LivenessView } from '../hub/liveness.js';
import type { ApprovalRecord } from '../hub/protocol.js';
import type { RecordedDecision } from '../models/decision.js';
import type { ApprovalStore } from '../stores/approval-store.js';
import { argsHash } from '../util/canonical-json.js';
import { unshowableReason } from '../util/faithful-args.js';
import { verifyCallbackCapability } from './signature.js';
import { type CallbackResult, describeIssues, WebhookCallbackBody } from './webhook-protocol.js';

/** A refused callback (the error arm of {@link CallbackResult}). */
export type CallbackRefusal = Extract<CallbackResult, { ok: false }>;

/**
 * Parses a callback body (the raw text, or JSON already parsed) with the
 * {@link WebhookCallbackBody} schema; a refusal (400) says what is wrong.
 */
export function parseCallbackBody(
  body: unknown,
): { ok: true; body: WebhookCallbackBody } | CallbackRefusal {
  let value = body;
  let text: string | undefined;
  if (typeof body === 'string' || body instanceof Uint8Array) {
    text = typeof body === 'string' ? body : Buffer.from(body).toString('utf8');
    try {
      value = JSON.parse(text);
    } catch (err) {
      return refuse(
        400,
        'invalid_body',
        `the callback body is not JSON: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  }
  // Before zod, which drops a top-level "__proto__" key of editedArgs: edits
  // run as sent, so they must be shown as sent (as on the hub's API).
  const unshowable = unshowableReason(
    (value as { editedArgs?: unknown } | null)?.editedArgs,
    text,
    'the callback body',
  );
  if (unshowable) return refuse(400, 'invalid_body', `decision refused: ${unshowable}`);
  const parsed = WebhookCallbackBody.safeParse(value);
  if (!parsed.success) {
    return refuse(
      400,
      'invalid_body',
      'the callback body does not match { approved: boolean, argsHash: string, reason?, decidedBy?, editedArgs? }',
      describeIssues(parsed.error),
    );
  }
  return { ok: true, body: parsed.data };
}

/** The refusal for a callback URL whose `sig` does not match its id. */
export function unauthorizedCallback(): CallbackRefusal {
  return refuse(
    401,
    'unauthorized',
    'the callback signature (?sig=) does not match this callback id; use the callbackUrl exactly as hitloop sent it',
  );
}

/**
 * Turns a checked callback into a Decision. `decidedBy` is always under the
 * `webhook:` channel (`webhook:slack:U024BE7LH`), so a receiver can name the
 * person but never pass as another channel. Edited arguments identical to the
 * originals are not an edit.
 */
export function decisionFromCallback(
  actionId: string,
  reviewedHash: string,
  body: WebhookCallbackBody,
  latencyMs: number,
): RecordedDecision {
  const edited =
    body.editedArgs && argsHash(body.editedArgs) !== reviewedHash ? body.editedArgs : undefined;
  return {
    actionId,
    approved: body.approved,
    reason: body.reason ?? (body.approved ? '' : '(no reason given)'),
    decidedBy: `webhook:${body.decidedBy ?? 'reviewer'}`,
    // The HMAC signature (or capability URL) authenticated it; the name is asserted.
    decidedVia: 'webhook-signature',
    latencyMs: Math.max(0, latencyMs),
    tags: edited ? ['edited'] : [],
    argsHash: edited ? argsHash(edited) : reviewedHash,
    decidedAt: new Date().toISOString(),
    ...(edited ? { editedArgs: edited } : {}),
  };
}

/**
 * Checks a parsed callback against the request it answers: the arguments
 * hash must be the one the request holds (409), and edited arguments must
 * pass `validateArgs` (422). Undefined means the callback may be applied.
 */
export function checkCallback(
  body: WebhookCallbackBody,
  requestHash: string,
  validateArgs: ((args: Record<string, unknown>) => string[]) | undefined,
): CallbackRefusal | undefined {
  if (body.argsHash !== requestHash) {
    return refuse(
      409,
      'args_changed',
      'the decision names other arguments than the request holds (argsHash differs); review the current arguments and decide again',
    );
  }
  if (body.editedArgs && validateArgs) {
    let problems: string[];
    try {
      problems = validateArgs(body.editedArgs);
    } catch (err) {
      problems = [`validation failed: ${err instanceof Error ? err.message : String(err)}`];
    }
    if (problems.length > 0) {
      return refuse(
        422,
        'invalid_args',
        "the edited arguments do not match the tool's input schema",
        problems,
      );
    }
  }
  return undefined;
}

/** Options for {@link handleWebhookCallback}. */
export interface HandleWebhookCallbackOptions {
  /**
   * Validates edited arguments for a record (e.g. against `record.inputSchema`).
   * Without it edits are accepted here and the waiting process validates them
   * before running anything.
   */
  validateArgs?: (args: Record<string, unknown>, record: ApprovalRecord) => string[];
  /** Epoch ms; injectable for tests of expiry. */
  now?: () => number;
  /**
   * How long the requests of an asker that stopped stay answerable for its
   * restart (threaded requests; default 120 s, as hubs use). A callback for a
   * request nobody can act on any more is recorded as late, not applied.
   */
  resumeWindowMs?: number;
  /** Where local hubs announce themselves (default `$HITLOOP_HOME`). */
  home?: string;
}

/**
 * Applies a webhook callback to a shared {@link ApprovalStore}, so any process
 * that shares the store can take callbacks for any other: mount it at
 * `POST /v1/callbacks/:id` (the `sig` query parameter is the capability).
 *
 * - bad `sig`: 401; body not matching {@link WebhookCallbackBody}: 400;
 * - unknown id: 404; already approved/rejected: 409 `already_decided`;
 * - expired or withdrawn (or pending past its `expiresAt`, whose asker is not
 *   there to expire it): the decision is kept on the record as
 *   `lateDecision`, never applied, and answered 409 `request_closed` with the
 *   status and its reason;
 * - `argsHash` differs: 409 `args_changed`; edited arguments invalid: 422;
 * - otherwise the record is settled (atomically: the first decision wins) and
 *   the waiting process, wherever it runs, is woken through `store.watch`.
 *
 * @example
 * const sig = url.searchParams.get('sig');
 * const result = await handleWebhookCallback(store, secret, id, sig, await readRequestBody(req, 1 << 20));
 * res.writeHead(result.ok ? 200 : result.status, { 'content-type': 'application/json' });
 * res.end(JSON.stringify(result.ok ? { decision: result.decision } : { error: result }));
 */
export async function handleWebhookCallback(
  store: ApprovalStore,
  secret: string,
  callbackId: string,
  sig: string | null | undefined,
  body: unknown,
  options: HandleWebhookCallbackOptions = {},
): Promise<CallbackResult> {
  if (!verifyCallbackCapability(secret, callbackId, sig)) return unauthorizedCallback();
  const parsed = parseCallbackBody(body);
  if (!parsed.ok) return parsed;
  const now = options.now ?? Date.now;
  const record = await store.get(callbackId);
  if (!record) {
    return refuse(
      404,
      'not_found',
      `no approval request with callback id ${JSON.stringify(callbackId)} is known to this store`,
    );
  }
  // The shared secret signs webhook requests only: it must not decide the
  // hub's own requests (a sidebar card) that no webhook receiver was sent.
  if (record.channel !== 'webhook')
    return refuse(
      404,
      'not_found',
      `approval ${record.id} was not sent to a webhook; decide it where it was asked`,
    );
  const latency = (): number => now() - Date.parse(record.createdAt);
  if (record.status !== 'pending') return closedAnswer(store, record, parsed.body, latency());

  // Applied only if someone can still act on it: the asker is alive, or it
  // may come back for a threaded request within the resume window.
  const view = new LivenessView(
    await store.listHubs(),
    discoverHubs(options.home),
    '',
    { staleAfterMs: 30_000, resumeWindowMs: options.resumeWindowMs ?? 120_000 },
    now(),
  );
  const state = view.answerable(record);
  if (!state.answerable) {
    const settled = await store.settle(record.id, {
      status: 'expired',
      statusReason: state.reason,
    });
    const current = settled.ok || settled.reason === 'not_pending' ? settled.record : undefined;
    if (!current)
      return refuse(404, 'not_found', `approval ${record.id} disappeared from the store`);
    return closedAnswer(store, current, parsed.body, latency());
  }

  if (record.expiresAt && Date.parse(record.expiresAt) <= now()) {
    // Nobody is waiting any more (the asker died or is gone): close it the
    // way its asker would have, then keep this decision as late.
    const reason = `expired at ${record.expiresAt} before a decision arrived`;
    const settled = await store.settle(record.id, { status: 'expired', statusReason: reason });
    const current = settled.ok
      ? settled.record
      : settled.reason === 'not_pending'
        ? settled.record
        : undefined;
    if (!current)
      return refuse(404, 'not_found', `approval ${record.id} disappeared from the store`);
    return closedAnswer(store, current, parsed.body, latency());
  }

  const refusal = checkCallback(parsed.body, record.argsHash, (args) =>
    options.validateArgs ? options.validateArgs(args, record) : [],
  );
  if (refusal) return refusal;
  const decision = decisionFromCallback(record.id, record.argsHash, parsed.body, latency());
  const result = await store.settle(record.id, {
    status: decision.approved ? 'approved' : 'rejected',
    decision,
  });
  if (result.ok) return { ok: true, decision };
  if (result.reason === 'not_found')
    return refuse(404, 'not_found', `approval ${record.id} disappeared from the store`);
  // Another decision or an expiry won the race.
  return closedAnswer(store, result.record, parsed.body, latency());
}

/** The answer for a request that is no longer pending; keeps a late decision. */
async function closedAnswer(
  store: ApprovalStore,
  record: ApprovalRecord,
  body: WebhookCallbackBody,
  latencyMs: number,
): Promise<CallbackRefusal> {
  if (record.status === 'approved' || record.status === 'rejected') {
    const by = record.decision ? ` by ${record.decision.decidedBy}` : '';
    return refuse(
      409,
      'already_decided',
      `approval ${record.id} was already ${record.status}${by}`,
    );
  }
  const why = record.statusReason ? ` (${record.statusReason})` : '';
  if (record.lateDecision) {
    return refuse(
      409,
      'request_closed',
      `approval ${record.id} is ${record.status}${why}; an earlier late decision is already recorded, so this one was not kept`,
    );
  }
  // Hashed against what the reviewer says they saw: a late decision is a
  // record of what someone decided, not something to apply.
  const late = decisionFromCallback(record.id, body.argsHash, body, latencyMs);
  await store.put({ ...record, lateDecision: late });
  return refuse(
    409,
    'request_closed',
    `approval ${record.id} is ${record.status}${why}; your decision was recorded as late and not applied`,
  );
}

export function refuse(
  status: CallbackRefusal['status'],
  code: CallbackRefusal['code'],
  message: string,
  details?: string[],
): CallbackRefusal {
  return { ok: false, status, code, message, ...(details?.length ? { details } : {}) };
}
