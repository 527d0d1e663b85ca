import { z } from 'zod';
import { truncate } from '../resume-value.js';

/** A decision type of LangChain's `humanInTheLoopMiddleware`. */
export type DecisionType = 'approve' | 'edit' | 'reject';

/** What the reviewer decided for one call, read from a `HITLResponse`. */
export type CallDecision =
  | { type: 'approve' }
  | { type: 'edit'; name: string; args: Record<string, unknown> }
  | { type: 'reject'; message?: string };

const Decision = z.discriminatedUnion('type', [
  z.object({ type: z.literal('approve') }),
  z.object({
    type: z.literal('edit'),
    editedAction: z.object({ name: z.string().min(1), args: z.record(z.string(), z.unknown()) }),
  }),
  z.object({ type: z.literal('reject'), message: z.string().optional() }),
]);
const HITLResponse = z.object({ decisions: z.array(Decision) });

/**
 * Reads a LangChain `HITLResponse` (`{ decisions: [...] }`) for the calls one
 * interrupt asked about, in the order of its `actionRequests`: exactly one
 * decision per call, each of a type that call's review config allows.
 * Anything else throws an Error that says what was expected, and then no
 * decision applies to any call.
 *
 * @example
 * parseHitlResponse({ decisions: [{ type: 'approve' }] }, [{ toolName: 'send_email', allowedDecisions: ['approve', 'reject'] }]);
 */
export function parseHitlResponse(
  value: unknown,
  asked: ReadonlyArray<{ toolName: string; allowedDecisions: readonly DecisionType[] }>,
): CallDecision[] {
  const parsed = HITLResponse.safeParse(value);
  if (!parsed.success) {
    throw new Error(
      `hitloop/langchain: the resume value is not a HITLResponse: ${truncate(value)}. Resume with Command({ resume: { decisions: [...] } }), one decision per action request, in order: { type: 'approve' } | { type: 'edit', editedAction: { name, args } } | { type: 'reject', message? }. Details: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(value)'}: ${i.message}`).join('; ')}`,
    );
  }
  const { decisions } = parsed.data;
  if (decisions.length !== asked.length) {
    throw new Error(
      `hitloop/langchain: ${decisions.length} decision(s) for ${asked.length} action request(s) (${asked.map((a) => a.toolName).join(', ')}); give exactly one decision per action request, in order. No call was decided.`,
    );
  }
  return decisions.map((d, i) => {
    const { toolName, allowedDecisions } = asked[i] as (typeof asked)[number];
    if (!allowedDecisions.includes(d.type)) {
      throw new Error(
        `hitloop/langchain: decision ${i} ('${d.type}') is not allowed for '${toolName}'; allowed: ${allowedDecisions.join(', ')}. No call was decided.`,
      );
    }
    if (d.type === 'edit')
      return { type: 'edit', name: d.editedAction.name, args: d.editedAction.args };
    if (d.type === 'reject')
      return d.message === undefined ? { type: 'reject' } : { type: 'reject', message: d.message };
    return { type: 'approve' };
  });
}
