import type { ApprovalRequest } from '../models/approval-request.js';
import { argsHash } from '../util/canonical-json.js';
import type { ApprovalRecord } from './protocol.js';

/**
 * The pending ApprovalRecord a channel stores for a request: everything a
 * reviewer needs, from the action and the context the proxy or the gate
 * attached (exposed name, description, schema, client, cwd). Every channel
 * that keeps requests in an ApprovalStore builds its record here, so a card
 * looks the same whichever channel asked.
 *
 * @example
 * const record = pendingRecordFor(request, { hubId: hub.hubId, timeoutMs: 600_000 });
 */
export function pendingRecordFor(
  request: ApprovalRequest,
  options: { hubId: string; timeoutMs: number; threadId?: string; channel?: 'webhook' },
): ApprovalRecord {
  const { action, context: ctx } = request;
  const annotations =
    action.annotations ??
    (ctx.annotations && typeof ctx.annotations === 'object'
      ? (ctx.annotations as ApprovalRecord['annotations'])
      : undefined);
  return {
    id: action.id,
    hubId: options.hubId,
    runId: request.runId,
    status: 'pending',
    tool: action.toolName,
    riskClass: action.riskClass,
    policyName: request.policyName,
    policyReason: request.policyReason,
    rationale: action.rationale,
    args: action.toolArgs,
    argsHash: argsHash(action.toolArgs),
    createdAt: request.createdAt,
    // An unbounded timeout would make an invalid date; 1e15 ms is ~31,000 years.
    expiresAt:
      request.expiresAt ??
      new Date(Date.parse(request.createdAt) + Math.min(options.timeoutMs, 1e15)).toISOString(),
    ...(options.channel ? { channel: options.channel } : {}),
    ...(options.threadId ? { threadId: options.threadId } : {}),
    ...(action.server ? { server: action.server } : {}),
    ...(annotations ? { annotations } : {}),
    ...(typeof ctx.exposedName === 'string' ? { exposedName: ctx.exposedName } : {}),
    ...(typeof ctx.toolDescription === 'string' ? { toolDescription: ctx.toolDescription } : {}),
    ...(ctx.inputSchema && typeof ctx.inputSchema === 'object'
      ? { inputSchema: ctx.inputSchema as Record<string, unknown> }
      : {}),
    ...(ctx.client && typeof ctx.client === 'object'
      ? { client: ctx.client as ApprovalRecord['client'] }
      : {}),
    ...(typeof ctx.cwd === 'string' ? { cwd: ctx.cwd } : {}),
  };
}
