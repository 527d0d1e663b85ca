import { z } from 'zod';
import { ToolAnnotations, ToolArgs } from '../models/action.js';
import { RecordedDecision } from '../models/decision.js';
import { RiskClass } from '../models/risk.js';

// The approval hub's wire protocol: one file, used by the hub server, the
// CLI, the VS Code extension and any other channel. Every body that crosses
// the wire is parsed with these schemas on both sides.

/** Version of the HTTP API; part of every path (`/v1/...`). */
export const HUB_API_VERSION = 1;

export const ApprovalStatus = z.enum(['pending', 'approved', 'rejected', 'withdrawn', 'expired']);
export type ApprovalStatus = z.infer<typeof ApprovalStatus>;

export const RememberScope = z.enum(['session', 'workspace', 'always']);
export type RememberScope = z.infer<typeof RememberScope>;

/**
 * One approval as the hub publishes it: everything a reviewer needs to decide
 * in seconds, plus its current status.
 *
 * @example
 * const approval = ApprovalRecord.parse(await (await fetch(`${url}/v1/approvals/${id}`, { headers })).json());
 */
export const ApprovalRecord = z.object({
  id: z.string().min(1),
  hubId: z.string().min(1),
  runId: z.string().min(1),
  status: ApprovalStatus,
  server: z.string().optional(),
  tool: z.string().min(1),
  /** The name the agent used (e.g. `fs__write_file`). */
  exposedName: z.string().optional(),
  toolDescription: z.string().optional(),
  annotations: ToolAnnotations.optional(),
  inputSchema: z.record(z.string(), z.unknown()).optional(),
  riskClass: RiskClass,
  policyName: z.string(),
  policyReason: z.string(),
  rationale: z.string().default(''),
  client: z.object({ name: z.string().optional(), version: z.string().optional() }).optional(),
  cwd: z.string().optional(),
  args: ToolArgs,
  argsHash: z.string().regex(/^[0-9a-f]{64}$/),
  createdAt: z.string(),
  expiresAt: z.string().optional(),
  decision: RecordedDecision.optional(),
  /** Why a request was withdrawn or expired. */
  statusReason: z.string().optional(),
  /**
   * When the request left `pending` (decided, withdrawn or expired), so a late
   * `hitloop approve` can say when it closed. Unset on records settled by an
   * older hitloop.
   */
  settledAt: z.string().optional(),
  /**
   * Who can resume this request after a restart: a LangGraph thread id, or a
   * proxy's instance name. A process that restarts with the same thread id
   * takes its pending requests back (`ApprovalStore.registerPending`).
   */
  threadId: z.string().min(1).optional(),
  /**
   * The channel that asked, when it is not the hub: `webhook` requests are the
   * only ones a webhook callback may decide.
   */
  channel: z.enum(['webhook']).optional(),
  /** When the asking process received the decision; unset while it may still need it. */
  deliveredAt: z.string().optional(),
  /**
   * A decision that arrived after the request had closed (expired or
   * withdrawn). Kept so nobody's decision is silently dropped; never applied.
   */
  lateDecision: RecordedDecision.optional(),
});
export type ApprovalRecord = z.infer<typeof ApprovalRecord>;

/**
 * A reviewer's decision. `argsHash` is the hash of the arguments the reviewer
 * saw: if the request's arguments differ, the decision is refused, so an
 * approval can never apply to arguments nobody looked at.
 *
 * @example
 * DecideRequest.parse({ approve: false, reason: 'wrong file', argsHash });
 */
export const DecideRequest = z
  .object({
    approve: z.boolean(),
    argsHash: z
      .string()
      .regex(
        /^[0-9a-f]{64}$/,
        'must be the 64-character SHA-256 hex of the arguments you reviewed',
      ),
    reason: z.string().max(4000).optional(),
    editedArgs: ToolArgs.optional(),
    remember: RememberScope.optional(),
    /** Who decided, e.g. `vscode:alice`; the hub prefixes nothing. */
    decidedBy: z.string().min(1).max(200).optional(),
  })
  .strict();
export type DecideRequest = z.infer<typeof DecideRequest>;

/**
 * A remembered decision: a visible, revocable rule created with "remember".
 * It matches the same tool on the same server; `argsHash` narrows it to the
 * exact arguments when set.
 */
export const RememberedRule = z.object({
  id: z.string().min(1),
  scope: RememberScope,
  effect: z.enum(['allow', 'deny']),
  server: z.string().optional(),
  tool: z.string().min(1),
  argsHash: z.string().optional(),
  /** For workspace scope: the workspace (cwd) it applies to. */
  workspace: z.string().optional(),
  /** For session scope: the hub (process) it applies to. */
  hubId: z.string().optional(),
  createdAt: z.string(),
  createdBy: z.string(),
  sourceApprovalId: z.string().optional(),
});
export type RememberedRule = z.infer<typeof RememberedRule>;

/** Events on the SSE stream (`GET /v1/events`). */
export const HubEvent = z.discriminatedUnion('type', [
  z.object({ type: z.literal('requested'), approval: ApprovalRecord }),
  z.object({ type: z.literal('decided'), approval: ApprovalRecord }),
  z.object({ type: z.literal('withdrawn'), id: z.string(), reason: z.string() }),
  z.object({ type: z.literal('expired'), id: z.string(), reason: z.string() }),
  z.object({ type: z.literal('rule_added'), rule: RememberedRule }),
  z.object({ type: z.literal('rule_revoked'), id: z.string() }),
]);
export type HubEvent = z.infer<typeof HubEvent>;

/**
 * A hub's heartbeat in a shared store, so hubs on other machines can tell a
 * live asker from a dead one. `lastSeen` is ISO time.
 */
export const HubPresence = z.object({
  hubId: z.string().min(1),
  name: z.string(),
  host: z.string(),
  pid: z.number().int(),
  url: z.string().optional(),
  startedAt: z.string(),
  lastSeen: z.string(),
  /** How often this hub beats, so others judge staleness by its pace, not theirs. */
  heartbeatMs: z.number().int().positive().optional(),
});
export type HubPresence = z.infer<typeof HubPresence>;

/** `GET /v1/info`. */
export const HubInfo = z.object({
  hubId: z.string(),
  name: z.string(),
  pid: z.number().int(),
  cwd: z.string(),
  version: z.string(),
  apiVersion: z.literal(HUB_API_VERSION),
  startedAt: z.string(),
});
export type HubInfo = z.infer<typeof HubInfo>;

/** What a hub writes to `$HITLOOP_HOME/hubs/<hubId>.json` (mode 0600) so clients can find it. */
export const DiscoveryFile = z.object({
  apiVersion: z.literal(HUB_API_VERSION),
  hubId: z.string(),
  name: z.string(),
  pid: z.number().int(),
  url: z.string().url(),
  token: z.string().min(16),
  cwd: z.string(),
  startedAt: z.string(),
});
export type DiscoveryFile = z.infer<typeof DiscoveryFile>;

export const ApprovalList = z.object({ approvals: z.array(ApprovalRecord) });
export const RuleList = z.object({ rules: z.array(RememberedRule) });

/** Error bodies: a stable code and a message a person can act on. */
export const HubErrorBody = z.object({
  error: z.object({
    code: z.enum([
      'unauthorized',
      'forbidden',
      'not_found',
      'already_decided',
      'args_changed',
      'too_large',
      'invalid_body',
      'invalid_args',
      'method_not_allowed',
    ]),
    message: z.string(),
    details: z.array(z.string()).optional(),
  }),
});
export type HubErrorBody = z.infer<typeof HubErrorBody>;
export type HubErrorCode = HubErrorBody['error']['code'];
