import { z } from 'zod';
import { ToolArgs } from './action.js';

/**
 * A human's (or a system's) answer to an approval request.
 *
 * `decidedBy` says who decided, as `channel:who` (`cli:alice`, `cli:timeout`,
 * `auto:approve`, `system:circuit_breaker`). A timeout is never reported as a
 * human rejection. `argsHash` binds the decision to the exact arguments it
 * approved; `editedArgs`, when present, are what runs.
 *
 * `decidedBy` and `latencyMs` may be left out, as in the Python hitloop's
 * `Decision(action_id=..., approved=True)`: the approval gate fills them in
 * (`<channel>:unknown`, and the latency it measured around the backend), so
 * every decision it logs or returns is a {@link RecordedDecision}.
 *
 * @example
 * const d = Decision.parse({ actionId: 'a1', approved: false, reason: 'wrong recipient', decidedBy: 'cli:alice', latencyMs: 4200 });
 * const minimal: Decision = { actionId: 'a1', approved: true, reason: '', tags: [] };
 */
export const Decision = z.object({
  actionId: z.string().min(1),
  approved: z.boolean(),
  reason: z.string().default(''),
  decidedBy: z.string().min(1).optional(),
  latencyMs: z.number().nonnegative().optional(),
  editedArgs: ToolArgs.optional(),
  tags: z.array(z.string()).default([]),
  argsHash: z.string().optional(),
  decidedAt: z.string().optional(),
  /**
   * How the decider was authenticated, set by hitloop itself, never by the
   * decider: `hub-token` (the hub's bearer token: the CLI, the VS Code
   * sidebar and the phone page all hold it), `webhook-signature` (an
   * HMAC-signed callback), `terminal` (the CLI backend's prompt in the
   * proxy's own terminal), `mcp-elicitation` (the agent's MCP client asked
   * the user), `mcp-mrtr` (the same, through a 2026-07-28 input_required
   * round), `in-process` (code calling the hub directly). `decidedBy`
   * is the name the decider asserted; unset on system decisions (timeouts)
   * and on records from an older hitloop.
   */
  decidedVia: z.string().min(1).max(100).optional(),
});
export type Decision = z.infer<typeof Decision>;
export type DecisionInput = z.input<typeof Decision>;

/**
 * A decision as hitloop records it (gate outcomes, hub and store records,
 * telemetry): who decided and how long it took are always known.
 *
 * @example
 * RecordedDecision.parse({ actionId: 'a1', approved: true, decidedBy: 'cli:alice', latencyMs: 900 });
 */
export const RecordedDecision = Decision.required({ decidedBy: true, latencyMs: true });
export type RecordedDecision = z.infer<typeof RecordedDecision>;

/**
 * Fills what a backend left out of its decision: `decidedBy` becomes
 * `<channel>:unknown` (the channel is known, the person is not; the Python
 * hitloop wrote `unknown`), `latencyMs` the latency the caller measured.
 * Values the backend gave are kept.
 *
 * @example
 * recordDecision({ actionId: 'a1', approved: true, reason: '', tags: [] }, { channel: 'webhook', latencyMs: 1200 })
 * // { actionId: 'a1', approved: true, reason: '', tags: [], decidedBy: 'webhook:unknown', latencyMs: 1200 }
 */
export function recordDecision(
  decision: Decision,
  measured: { channel: string; latencyMs: number },
): RecordedDecision {
  return {
    ...decision,
    decidedBy: decision.decidedBy || `${measured.channel || 'unknown'}:unknown`,
    latencyMs: decision.latencyMs ?? Math.max(0, measured.latencyMs),
  };
}

/** Where a decision came from, for `Decision.decidedVia`. */
export type DecisionChannel =
  | 'hub-token'
  | 'webhook-signature'
  | 'terminal'
  | 'mcp-elicitation'
  | 'mcp-mrtr'
  | 'in-process';

/** True when the decision came from a timeout rather than a person. */
export function isTimeoutDecision(decision: Pick<Decision, 'decidedBy'>): boolean {
  return decision.decidedBy?.endsWith(':timeout') === true;
}
