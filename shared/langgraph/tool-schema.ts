import type { StructuredToolInterface } from '@langchain/core/tools';
import { interopSafeParse, isInteropZodSchema } from '@langchain/core/utils/types';

type ToolWithSchema = Pick<StructuredToolInterface, 'name' | 'schema'>;

/**
 * Why `args` do not fit the tool's zod schema (empty: they fit, or the schema
 * is JSON Schema, which this does not check). The gate uses it to refuse an
 * edit at the decision, instead of recording it as approved and failing in the tool.
 *
 * @example
 * toolArgsProblems(sendEmail, { to: 3 }) // ['to: Expected string, received number']
 */
export function toolArgsProblems(tool: ToolWithSchema, args: Record<string, unknown>): string[] {
  if (!isInteropZodSchema(tool.schema)) return [];
  const result = interopSafeParse(tool.schema, args);
  if (result.success) return [];
  const issues = (result.error as { issues?: Array<{ path?: unknown[]; message: string }> }).issues;
  if (!issues?.length) return ['the arguments do not match the tool schema'];
  return issues.map((i) => `${i.path?.length ? `${i.path.join('.')}: ` : ''}${i.message}`);
}

/**
 * A `validateArgs` for the gate options that checks edits against the
 * schemas of these tools (a tool not in the list is not checked).
 *
 * @example
 * createHitlGateNode({ policy, validateArgs: validateArgsWith([sendEmail, readInbox]) });
 */
export function validateArgsWith(
  tools: ToolWithSchema[],
): (toolName: string, args: Record<string, unknown>) => string[] {
  const byName = new Map(tools.map((t) => [t.name, t]));
  return (toolName, args) => {
    const tool = byName.get(toolName);
    return tool ? toolArgsProblems(tool, args) : [];
  };
}
