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
});
export type Decision = z.infer<typeof Decision>;
export type DecisionInput = z.input<typeof Decision>;

/** True when the decision came from a timeout rather than a person. */
export function isTimeoutDecision(decision: Pick<Decision, 'decidedBy'>): boolean {
  return decision.decidedBy.endsWith(':timeout');
}
