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
 * @example
 * const d = Decision.parse({ actionId: 'a1', approved: false, reason: 'wrong recipient', decidedBy: 'cli:alice', latencyMs: 4200 });
 */
export const Decision = z.object({
  actionId: z.string().min(1),
  approved: z.boolean(),
  reason: z.string().default(''),
  decidedBy: z.string().min(1),
  latencyMs: z.number().nonnegative(),
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
  return decision.decidedBy.endsWith(':timeout');
}
