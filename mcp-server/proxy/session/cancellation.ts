import type { JsonRpcNotification } from '../jsonrpc/messages.js';
import type { ProgressRelay } from './progress.js';
import type { SessionCore } from './session-core.js';

/**
 * The client's `notifications/cancelled` for one of its requests: a call
 * waiting for a human is withdrawn (its approval aborted), a forwarded one
 * is cancelled on its server, and neither is answered, as MCP wants.
 *
 * @example
 * cancelClientRequest(core, progress, { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 7 } });
 */
export function cancelClientRequest(
  core: SessionCore,
  progress: ProgressRelay,
  msg: JsonRpcNotification,
): void {
  const id = msg.params?.requestId;
  if (typeof id !== 'string' && typeof id !== 'number') return;
  const call = core.inflight.get(id);
  if (!call) return;
  core.inflight.delete(id);
  call.cancelled = true;
  clearInterval(call.keepAlive);
  call.deadline?.();
  const reason =
    typeof msg.params?.reason === 'string' ? msg.params.reason : 'cancelled by the client';
  call.abort?.abort(new Error(reason));
  if (call.server && call.upstreamId !== undefined) call.server.cancel(call.upstreamId, reason);
  progress.forget(call);
}

/**
 * Withdraws every call of a client that went away: in flight, or parked in
 * an input_required round. Approvals waiting for a human are aborted.
 *
 * @example
 * withdrawAll(core); // on close
 */
export function withdrawAll(core: SessionCore): void {
  for (const call of core.inflight.values()) {
    call.cancelled = true;
    clearInterval(call.keepAlive);
    call.deadline?.();
    call.abort?.abort(new Error('the client disconnected'));
  }
  core.inflight.clear();
  for (const call of core.rounds.closeAll()) {
    call.cancelled = true;
    call.abort?.abort(new Error('the client disconnected'));
  }
}
