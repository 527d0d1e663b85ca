import type { ApprovalRecord } from '../../shared/hub/protocol.js';
import { makeVisible } from '../../shared/util/visible-text.js';
import { proposedFileChange } from './file-edits.js';
import type { HubRef, HubStatus, HubsSnapshot, PendingItem } from './hub-connections.js';
import type {
  DetailItem,
  HistoryView,
  HubStatusView,
  PendingSummary,
  RememberChoice,
  ToWebview,
} from './protocol.js';

// Turns hub records into the webview protocol's shapes. No `vscode` import.

/** Cuts `text` to `max` characters with a visible "…" (never silently). */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

const encoder = new TextEncoder();

/**
 * The arguments on one line for the list: hidden characters made visible,
 * then cut. The detail view always shows everything.
 *
 * @example
 * argsPreview({ path: 'a\u202Eb' }) // '{"path":"a⟦U+202E RLO⟧b"}'
 */
export function argsPreview(args: Record<string, unknown>, max = 200): string {
  let json: string;
  try {
    json = JSON.stringify(args) ?? '';
  } catch {
    json = '[arguments cannot be shown as JSON]';
  }
  // Cut before making visible would risk splitting a marker; cut the source
  // generously, mark, then cut for display.
  return clip(makeVisible(json.slice(0, max * 2)), max);
}

export function argsBytes(args: Record<string, unknown>): number {
  try {
    return encoder.encode(JSON.stringify(args) ?? '').length;
  } catch {
    return 0;
  }
}

/**
 * Why "Show diff" cannot apply to a request that came through a remote hub
 * (undefined for a local hub): the "Show diff" command says this if invoked
 * anyway.
 *
 * @example
 * remoteDiffRefusal(team, write) // 'no diff for requests from the remote hub team (https://…): …'
 */
export function remoteDiffRefusal(hub: HubRef, approval: ApprovalRecord): string | undefined {
  if (!hub.remote) return undefined;
  return `no diff for requests from the remote hub ${hub.name} (${hub.url}): ${approval.tool} would change a file on another machine, which this editor cannot open`;
}

/**
 * Whether "Show diff" applies: a file-writing call asked on this machine. A
 * request that came through a remote hub names a file on another machine,
 * which the editor cannot open, so it never has a diff.
 *
 * @example
 * hasDiff(localHub, writeFileRecord) // true
 * hasDiff(remoteHub, writeFileRecord) // false
 */
export function hasDiff(hub: HubRef, approval: ApprovalRecord): boolean {
  if (hub.remote) return false; // see remoteDiffRefusal
  return proposedFileChange(approval.tool, approval.args, approval.cwd ?? hub.cwd) !== undefined;
}

export function toSummary({ hub, approval }: PendingItem): PendingSummary {
  return {
    hubId: hub.hubId,
    hubName: hub.name,
    id: approval.id,
    ...(approval.server !== undefined ? { server: approval.server } : {}),
    tool: approval.tool,
    riskClass: approval.riskClass,
    policyName: approval.policyName,
    policyReason: clip(approval.policyReason, 500),
    rationale: clip(approval.rationale, 300),
    ...(approval.client?.name ? { clientName: approval.client.name } : {}),
    createdAt: approval.createdAt,
    ...(approval.expiresAt ? { expiresAt: approval.expiresAt } : {}),
    argsHash: approval.argsHash,
    argsPreview: argsPreview(approval.args),
    argsBytes: argsBytes(approval.args),
    diffAvailable: hasDiff(hub, approval),
  };
}

export function toHubStatus(hub: HubStatus): HubStatusView {
  return {
    hubId: hub.hubId,
    name: hub.name,
    ...(hub.remote
      ? { remote: true, url: hub.url }
      : { remote: false, cwd: hub.cwd, pid: hub.pid }),
    state: hub.state,
    ...(hub.lastError ? { lastError: hub.lastError } : {}),
    inScope: hub.inScope,
    pendingCount: hub.pendingCount,
  };
}

export function toSnapshotMessage(
  snapshot: HubsSnapshot,
  defaultRemember: RememberChoice,
  now = new Date(),
): Extract<ToWebview, { type: 'snapshot' }> {
  return {
    type: 'snapshot',
    pending: snapshot.pending.map(toSummary),
    hubs: snapshot.hubs.map(toHubStatus),
    hiddenByScope: snapshot.hiddenByScope,
    scope: snapshot.scope,
    home: snapshot.home,
    defaultRemember,
    now: now.toISOString(),
  };
}

export function toDetail(item: PendingItem, actionable: boolean): DetailItem {
  return {
    hubId: item.hub.hubId,
    hubName: item.hub.name,
    hubRemote: item.hub.remote,
    ...(item.hub.remote ? {} : { hubCwd: item.hub.cwd }),
    approval: item.approval,
    actionable: actionable && item.approval.status === 'pending',
    diffAvailable: hasDiff(item.hub, item.approval),
  };
}

export function toHistory({ hub, approval }: PendingItem): HistoryView {
  const decision = approval.decision;
  return {
    hubId: hub.hubId,
    hubName: hub.name,
    id: approval.id,
    ...(approval.server !== undefined ? { server: approval.server } : {}),
    tool: approval.tool,
    status: approval.status,
    riskClass: approval.riskClass,
    reason: decision?.reason || approval.statusReason || '',
    ...(decision?.decidedBy ? { decidedBy: decision.decidedBy } : {}),
    edited: decision?.editedArgs !== undefined,
    createdAt: approval.createdAt,
    ...(decision?.decidedAt ? { decidedAt: decision.decidedAt } : {}),
  };
}
