import { z } from 'zod';
import { ToolArgs } from '../models/action.js';
import type { ApprovalRequest } from '../models/approval-request.js';
import type { Decision } from '../models/decision.js';
import { RiskClass } from '../models/risk.js';
import { argsHash } from '../util/canonical-json.js';

// The webhook channel's wire format: what hitloop POSTs to a receiver (a Slack
// or Telegram bridge, a ticketing system, a custom app) and what the receiver
// POSTs back to the callback URL. Both directions are parsed with these
// schemas; the receiver is outside hitloop's trust boundary.

/** Header carrying `sha256=<hex>`, the HMAC-SHA256 of the raw body under the shared secret. */
export const SIGNATURE_HEADER = 'X-Hitloop-Signature';
/** Header naming the payload's `callbackId`, so a receiver can de-duplicate retried deliveries. */
export const DELIVERY_HEADER = 'X-Hitloop-Delivery';

const Sha256Hex = z
  .string()
  .regex(/^[0-9a-f]{64}$/, 'must be the 64-character SHA-256 hex of the arguments you reviewed');

/**
 * The approval as a receiver sees it: everything a reviewer needs to decide.
 * `argsHash` must come back in the callback unchanged.
 */
export const WebhookApproval = z.object({
  id: z.string().min(1),
  runId: z.string().min(1),
  server: z.string().optional(),
  tool: z.string().min(1),
  riskClass: RiskClass,
  sideEffects: z.array(z.string()).default([]),
  policyName: z.string(),
  policyReason: z.string(),
  rationale: z.string().default(''),
  args: ToolArgs,
  argsHash: Sha256Hex,
  createdAt: z.string(),
});
export type WebhookApproval = z.infer<typeof WebhookApproval>;

/**
 * The body hitloop POSTs to the webhook URL. Signed with `X-Hitloop-Signature`;
 * receivers must verify it before trusting anything in it.
 *
 * @example
 * const payload = WebhookApprovalRequest.parse(JSON.parse(rawBody));
 * console.log(payload.approval.tool, payload.callbackUrl);
 */
export const WebhookApprovalRequest = z.object({
  type: z.literal('hitloop.approval_request'),
  version: z.literal(1),
  callbackId: z.string().min(1),
  /** Where to POST the decision; carries its own capability (`?sig=`), so keep it secret. */
  callbackUrl: z.string().url(),
  /** After this moment the decision is no longer applied (it is kept as late). */
  expiresAt: z.string(),
  sentAt: z.string(),
  approval: WebhookApproval,
});
export type WebhookApprovalRequest = z.infer<typeof WebhookApprovalRequest>;

/**
 * `decidedBy` names a person (`slack:U024BE7LH`, `alice@example.com`). Labels
 * that other code reads as "no human decided" are refused, so a receiver
 * cannot disguise a rejection as a timeout.
 */
const DecidedBy = z
  .string()
  .min(1)
  .max(200)
  .refine((s) => !/\p{C}/u.test(s), 'must not contain control or invisible characters')
  .refine(
    (s) => !/:(timeout|unavailable)$/.test(s),
    'must name who decided; ":timeout" and ":unavailable" are reserved for decisions nobody made',
  );

/**
 * The body a receiver POSTs to `callbackUrl`. `argsHash` is required: it is
 * the hash of the arguments the reviewer saw, and a decision naming other
 * arguments is refused (409), so an approval never applies to arguments
 * nobody looked at.
 *
 * @example
 * WebhookCallbackBody.parse({ approved: false, argsHash: payload.approval.argsHash, reason: 'wrong recipient', decidedBy: 'slack:U024BE7LH' });
 */
export const WebhookCallbackBody = z
  .object({
    approved: z.boolean(),
    argsHash: Sha256Hex,
    reason: z.string().max(4000).optional(),
    decidedBy: DecidedBy.optional(),
    /** Replacement arguments; only with `approved: true`. */
    editedArgs: ToolArgs.optional(),
  })
  .strict()
  .refine((b) => b.approved || b.editedArgs === undefined, {
    message: 'editedArgs only make sense with approved: true',
    path: ['editedArgs'],
  });
export type WebhookCallbackBody = z.infer<typeof WebhookCallbackBody>;

/** Why a callback was refused, with the HTTP status a callback endpoint answers. */
export type CallbackErrorCode =
  | 'invalid_body'
  | 'unauthorized'
  | 'not_found'
  | 'already_decided'
  | 'request_closed'
  | 'args_changed'
  | 'invalid_args';

/**
 * What handling a callback produced. Callback endpoints answer `status` with
 * `{ error: { code, message, details? } }`, or 200 with the decision.
 *
 * @example
 * const r = await backend.handleCallback(id, sig, body);
 * res.writeHead(r.ok ? 200 : r.status).end(JSON.stringify(r.ok ? { decision: r.decision } : { error: r }));
 */
export type CallbackResult =
  | { ok: true; decision: Decision }
  | {
      ok: false;
      status: 400 | 401 | 404 | 409 | 422;
      code: CallbackErrorCode;
      message: string;
      details?: string[];
    };

/** Schema of the JSON error body callback endpoints answer with. */
export const CallbackErrorBody = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: z.array(z.string()).optional(),
  }),
});

/**
 * Builds the signed payload for one request (the caller signs its JSON).
 *
 * @example
 * const payload = buildApprovalRequestPayload(request, 'a1', 'https://me/cb/a1?sig=...', expiresAt);
 */
export function buildApprovalRequestPayload(
  request: ApprovalRequest,
  callbackId: string,
  callbackUrl: string,
  expiresAt: string,
  sentAt: string = new Date().toISOString(),
): WebhookApprovalRequest {
  const action = request.action;
  return {
    type: 'hitloop.approval_request',
    version: 1,
    callbackId,
    callbackUrl,
    expiresAt,
    sentAt,
    approval: {
      id: action.id,
      runId: request.runId,
      ...(action.server ? { server: action.server } : {}),
      tool: action.toolName,
      riskClass: action.riskClass,
      sideEffects: action.sideEffects,
      policyName: request.policyName,
      policyReason: request.policyReason,
      rationale: action.rationale,
      args: action.toolArgs,
      argsHash: argsHash(action.toolArgs),
      createdAt: request.createdAt,
    },
  };
}

/** Zod issues as one-line strings a receiver's developer can act on. */
export function describeIssues(error: z.ZodError): string[] {
  return error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(body)'}: ${i.message}`);
}
