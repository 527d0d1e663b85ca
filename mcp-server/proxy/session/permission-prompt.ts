import { type GateOutcome, notExecutedMessage } from '../../../shared/gate/approval-gate.js';
import type { ToolDefinition } from '../upstream/upstream-server.js';

/**
 * The tool Claude Code calls for every permission prompt when started with
 * `claude --permission-prompt-tool mcp__hitloop__approve`.
 */
export const PERMISSION_TOOL = 'approve';

/** The `approve` tool as listed to the client: Claude Code's documented input shape. */
export function permissionToolDefinition(): ToolDefinition {
  return {
    name: PERMISSION_TOOL,
    title: 'hitloop permission prompt',
    description:
      "Claude Code permission prompt handled by hitloop: decides whether a tool call (Bash, Edit, MCP tools...) may run, via hitloop's policy and a human reviewer.",
    inputSchema: {
      type: 'object',
      properties: {
        tool_name: { type: 'string', description: 'The tool Claude Code wants to use' },
        input: { type: 'object', description: 'The tool input', additionalProperties: true },
        tool_use_id: { type: 'string', description: 'Claude Code tool-use id' },
      },
      required: ['tool_name', 'input'],
    },
    annotations: { readOnlyHint: true, openWorldHint: false },
  };
}

/**
 * The result text Claude Code expects: JSON with `behavior` allow (and the
 * input to use, edited if the reviewer edited it) or deny (with a message).
 *
 * @example
 * permissionResultText(outcome) // '{"behavior":"allow","updatedInput":{"command":"ls"}}'
 */
export function permissionResultText(outcome: GateOutcome): string {
  if (outcome.kind === 'allowed' || outcome.kind === 'approved') {
    return JSON.stringify({ behavior: 'allow', updatedInput: outcome.args });
  }
  return JSON.stringify({ behavior: 'deny', message: notExecutedMessage(outcome) });
}
