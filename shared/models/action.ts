import { z } from 'zod';
import { uuidv7 } from '../util/uuidv7.js';
import { RiskClass } from './risk.js';

/**
 * MCP tool annotations. They are hints from a possibly untrusted server, so a
 * policy uses them only where the user trusts that server.
 */
export const ToolAnnotations = z
  .object({
    title: z.string().optional(),
    readOnlyHint: z.boolean().optional(),
    destructiveHint: z.boolean().optional(),
    idempotentHint: z.boolean().optional(),
    openWorldHint: z.boolean().optional(),
  })
  .passthrough();
export type ToolAnnotations = z.infer<typeof ToolAnnotations>;

/** A JSON object of tool arguments. */
export const ToolArgs = z.record(z.string(), z.unknown());
export type ToolArgs = z.infer<typeof ToolArgs>;

/**
 * A tool call an agent proposes. `server` names the MCP server that owns the
 * tool when the call comes through the proxy.
 *
 * @example
 * const action = Action.parse({ id: 'a1', toolName: 'send_email', toolArgs: { to: 'x@y.z' }, riskClass: 'high' });
 */
export const Action = z.object({
  id: z.string().min(1),
  toolName: z.string().min(1),
  toolArgs: ToolArgs,
  riskClass: RiskClass.default('low'),
  sideEffects: z.array(z.string()).default([]),
  rationale: z.string().default(''),
  contextRefs: z.array(z.string()).default([]),
  server: z.string().optional(),
  annotations: ToolAnnotations.optional(),
});
export type Action = z.infer<typeof Action>;
/** What callers pass in: defaults may be left out. */
export type ActionInput = z.input<typeof Action>;

/**
 * Builds a validated Action, filling in a random id and the defaults.
 *
 * @example
 * const action = createAction({ toolName: 'delete_record', toolArgs: { id: 7 }, riskClass: 'high' });
 */
export function createAction(input: Omit<ActionInput, 'id'> & { id?: string }): Action {
  return Action.parse({ id: input.id ?? uuidv7(), ...input });
}
