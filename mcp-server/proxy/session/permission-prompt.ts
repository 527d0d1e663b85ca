import { type GateOutcome, notExecutedMessage } from '../../../shared/gate/approval-gate.js';
import type { HITLPolicy } from '../../../shared/policies/policy.js';
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

/** Claude Code's spelling of a server or tool name inside `mcp__SERVER__TOOL`. */
function clientSpelling(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]/g, '_');
}

/**
 * The exposed name of this proxy's own tool that a permission prompt is
 * about, if it is one: Claude Code asks `approve` before it calls any tool,
 * including this proxy's (`mcp__hitloop__write_file`), which the proxy gates
 * again when the call arrives. One call would be approved twice.
 *
 * @example
 * ownToolOfPrompt('mcp__hitloop__write_file', 'hitloop', ['write_file']) // 'write_file'
 * ownToolOfPrompt('mcp__other__write_file', 'hitloop', ['write_file'])   // undefined
 */
export function ownToolOfPrompt(
  toolName: unknown,
  nameInClient: string,
  exposedTools: Iterable<string>,
): string | undefined {
  if (typeof toolName !== 'string') return undefined;
  const prefix = `mcp__${clientSpelling(nameInClient)}__`;
  if (!toolName.startsWith(prefix)) return undefined;
  const rest = toolName.slice(prefix.length);
  for (const exposed of exposedTools) {
    if (exposed !== PERMISSION_TOOL && clientSpelling(exposed) === rest) return exposed;
  }
  return undefined;
}

/**
 * The policy for a permission prompt about one of this proxy's own tools:
 * allow, because the call itself comes through the proxy's gate. Keeps the
 * configured policy's name, so telemetry still says which policy ran.
 *
 * @example
 * gatedOnArrival(policy, 'write_file').evaluate(action) // { verdict: 'allow', rule: 'gated_on_arrival', ... }
 */
export function gatedOnArrival(policy: HITLPolicy, exposed: string): HITLPolicy {
  return {
    name: policy.name,
    evaluate: () => ({
      verdict: 'allow',
      reason: `'${exposed}' is a tool of this hitloop proxy: the call is put through the policy (and a person, if it asks) when it arrives`,
      rule: 'gated_on_arrival',
    }),
  };
}
