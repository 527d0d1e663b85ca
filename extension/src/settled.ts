import type { ApprovalRecord } from '../../shared/hub/protocol.js';
import type { ItemRef } from './protocol.js';

// What a notification does once its call is decided elsewhere: it closes
// (the watch below ends its progress), and a click that still arrives (the
// race between a decision in the sidebar and a click on the notification)
// is told what happened and changes nothing. No `vscode` import.

/** The part of HubConnections this needs. */
export interface PendingSourceLike {
  findPending(hubId: string, id: string): unknown;
  onDidChange(listener: () => void): () => void;
}

/**
 * Resolves once none of `refs` is pending any more (decided in the sidebar,
 * from another window or terminal, withdrawn or expired), or when `stop`
 * fires. Resolves at once when none is pending now.
 *
 * @example
 * await untilSettled(hubs, [{ hubId, id }]); // then close the notification
 */
export function untilSettled(
  hubs: PendingSourceLike,
  refs: readonly ItemRef[],
  stop?: (listener: () => void) => void,
): Promise<void> {
  const anyPending = () => refs.some((r) => hubs.findPending(r.hubId, r.id) !== undefined);
  if (!anyPending()) return Promise.resolve();
  return new Promise((resolve) => {
    let off: (() => void) | undefined;
    const done = () => {
      off?.();
      off = undefined;
      resolve();
    };
    off = hubs.onDidChange(() => {
      if (!anyPending()) done();
    });
    stop?.(done);
  });
}

/**
 * One line for a click on a call that is no longer pending: what became of
 * it, who decided and when, and that nothing was changed. `record` is the
 * hub's current record, when it could be fetched.
 *
 * @example
 * settledMessage({ status: 'approved', decision: { decidedBy: 'vscode:alice', decidedAt: '2026-01-01T10:00:00Z', ... }, ... })
 * // 'hitloop: write_file was already decided (approved by vscode:alice at 10:00:00); nothing changed'
 */
export function settledMessage(
  tool: string,
  record: Pick<ApprovalRecord, 'status' | 'decision' | 'settledAt' | 'statusReason'> | undefined,
): string {
  if (!record || record.status === 'pending')
    return `hitloop: ${tool} is no longer waiting here; nothing changed`;
  const when = record.decision?.decidedAt ?? record.settledAt;
  const at = when ? ` at ${clock(when)}` : '';
  if (record.status === 'approved' || record.status === 'rejected') {
    const by = record.decision?.decidedBy ? ` by ${record.decision.decidedBy}` : '';
    return `hitloop: ${tool} was already decided (${record.status}${by}${at}); nothing changed`;
  }
  const why = record.statusReason ? `: ${record.statusReason}` : '';
  return `hitloop: ${tool} is no longer pending (${record.status}${at}${why}); nothing changed`;
}

function clock(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleTimeString('en-GB', { hour12: false });
}
