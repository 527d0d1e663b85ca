import { z } from 'zod';

/**
 * The outcome of running (or not running) a tool.
 *
 * @example
 * ToolResult.parse({ actionId: 'a1', success: true, output: { id: 3 }, durationMs: 12 });
 */
export const ToolResult = z.object({
  actionId: z.string().min(1),
  success: z.boolean(),
  output: z.unknown().optional(),
  error: z.string().optional(),
  durationMs: z.number().nonnegative().default(0),
  /** False when the call was rejected or failed before the tool ran. */
  executed: z.boolean().default(true),
});
export type ToolResult = z.infer<typeof ToolResult>;
