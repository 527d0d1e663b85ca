import * as z from 'zod/mini';

// What the approval page reads from the hub, checked before use. These are
// zod/mini mirrors of shared/hub/protocol.ts, cut to the fields the page
// shows: the classic zod build alone is about 190 KB minified, more than the
// whole page may weigh on a phone; zod/mini is about 20 KB. Drift is caught by
// test/extension/hub-page.test.ts, which parses what a real hub sends with
// both and compares the fields.

const RiskClass = z.enum(['low', 'medium', 'high']);
const Status = z.enum(['pending', 'approved', 'rejected', 'withdrawn', 'expired']);

/**
 * An approval as the page needs it (a subset of the protocol's ApprovalRecord).
 *
 * @example
 * PageApproval.parse(await res.json()).tool
 */
export const PageApproval = z.object({
  id: z.string().check(z.minLength(1)),
  hubId: z.string().check(z.minLength(1)),
  status: Status,
  server: z.optional(z.string()),
  tool: z.string().check(z.minLength(1)),
  exposedName: z.optional(z.string()),
  toolDescription: z.optional(z.string()),
  riskClass: RiskClass,
  policyName: z.string(),
  policyReason: z.string(),
  rationale: z._default(z.string(), ''),
  client: z.optional(z.object({ name: z.optional(z.string()), version: z.optional(z.string()) })),
  cwd: z.optional(z.string()),
  args: z.record(z.string(), z.unknown()),
  argsHash: z.string().check(z.regex(/^[0-9a-f]{64}$/)),
  createdAt: z.string(),
  expiresAt: z.optional(z.string()),
  decision: z.optional(
    z.object({
      approved: z.boolean(),
      reason: z._default(z.string(), ''),
      decidedBy: z.string(),
      /** How hitloop authenticated the decider (`hub-token`, `webhook-signature`, ...). */
      decidedVia: z.optional(z.string()),
      decidedAt: z.optional(z.string()),
    }),
  ),
  statusReason: z.optional(z.string()),
});
export type PageApproval = z.infer<typeof PageApproval>;

/** `GET /v1/approvals`. */
export const PageApprovalList = z.object({ approvals: z.array(PageApproval) });

/** `GET /v1/info`, the part the page shows. */
export const PageHubInfo = z.object({ hubId: z.string(), name: z.string() });

/** The events on `GET /v1/events` the page acts on; rule events are accepted and ignored. */
export const PageHubEvent = z.discriminatedUnion('type', [
  z.object({ type: z.literal('requested'), approval: PageApproval }),
  z.object({ type: z.literal('decided'), approval: PageApproval }),
  z.object({ type: z.literal('withdrawn'), id: z.string(), reason: z.string() }),
  z.object({ type: z.literal('expired'), id: z.string(), reason: z.string() }),
  z.object({ type: z.literal('rule_added') }),
  z.object({ type: z.literal('rule_revoked') }),
]);
export type PageHubEvent = z.infer<typeof PageHubEvent>;

/** Error bodies: a code and a message a person can act on. */
export const PageHubError = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: z.optional(z.array(z.string())),
  }),
});
export type PageHubError = z.infer<typeof PageHubError>;
