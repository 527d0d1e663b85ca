import { z } from 'zod';
import { ApprovalRecord, RememberedRule, RememberScope } from '../../shared/hub/protocol.js';
import { RiskClass } from '../../shared/models/risk.js';

// The one message protocol between the extension host and the Approvals
// webview. Both sides import this file and parse every message they receive
// with it: the webview renders text that came from a model, and the host acts
// on clicks from a page that renders it, so neither trusts the other's shape.

/** Hubs answer over loopback; ids are theirs (UUIDs), bounded to keep messages sane. */
const Id = z.string().min(1).max(200);

/** An approval's address: the hub that asked and its id there. */
export const ItemRef = z.object({ hubId: Id, id: Id }).strict();
export type ItemRef = z.infer<typeof ItemRef>;

/** A request as the list shows it; the detail view fetches the whole record. */
export const PendingSummary = z.object({
  hubId: Id,
  hubName: z.string(),
  id: Id,
  server: z.string().optional(),
  tool: z.string(),
  riskClass: RiskClass,
  policyName: z.string(),
  policyReason: z.string(),
  /** The agent's rationale, cut to a few hundred characters with an explicit "…". */
  rationale: z.string(),
  clientName: z.string().optional(),
  createdAt: z.string(),
  expiresAt: z.string().optional(),
  argsHash: z.string(),
  /** The arguments on one line, hidden characters made visible, cut with "…". */
  argsPreview: z.string(),
  /** Size of the arguments as JSON, in UTF-8 bytes. */
  argsBytes: z.number().int().nonnegative(),
  /** Whether "Show diff" applies (a file-writing tool). */
  diffAvailable: z.boolean(),
});
export type PendingSummary = z.infer<typeof PendingSummary>;

/**
 * A hub in the sidebar's status line. A local hub (a hitloop process on this
 * machine) has the process's `cwd` and `pid`; a remote hub (`hitloop.remoteHubs`)
 * has its `url` instead, and neither of the others.
 */
export const HubStatusView = z
  .object({
    hubId: Id,
    name: z.string(),
    remote: z.boolean(),
    /** The remote hub's address (remote hubs only). */
    url: z.string().optional(),
    /** The process's working directory (local hubs only). */
    cwd: z.string().optional(),
    pid: z.number().int().positive().optional(),
    state: z.enum(['connecting', 'live', 'retrying']),
    lastError: z.string().optional(),
    inScope: z.boolean(),
    pendingCount: z.number().int().nonnegative(),
  })
  .refine(
    (h) =>
      h.remote
        ? h.url !== undefined && h.cwd === undefined && h.pid === undefined
        : h.cwd !== undefined && h.pid !== undefined,
    { message: 'a remote hub has a url and no cwd or pid; a local hub has a cwd and a pid' },
  );
export type HubStatusView = z.infer<typeof HubStatusView>;

export const RememberChoice = z.enum(['none', 'session', 'workspace', 'always']);
export type RememberChoice = z.infer<typeof RememberChoice>;

/** One approval with everything needed to decide (the detail view). */
export const DetailItem = z.object({
  hubId: Id,
  hubName: z.string(),
  /** The approval came through a remote hub: its paths are on another machine. */
  hubRemote: z.boolean(),
  /** The local hub's working directory (absent for a remote hub). */
  hubCwd: z.string().optional(),
  approval: ApprovalRecord,
  /** True while it is pending and its hub is connected: the buttons work. */
  actionable: z.boolean(),
  diffAvailable: z.boolean(),
});
export type DetailItem = z.infer<typeof DetailItem>;

export const HistoryView = z.object({
  hubId: Id,
  hubName: z.string(),
  id: Id,
  server: z.string().optional(),
  tool: z.string(),
  status: z.enum(['pending', 'approved', 'rejected', 'withdrawn', 'expired']),
  riskClass: RiskClass,
  reason: z.string(),
  decidedBy: z.string().optional(),
  edited: z.boolean(),
  createdAt: z.string(),
  decidedAt: z.string().optional(),
});
export type HistoryView = z.infer<typeof HistoryView>;

export const RuleView = z.object({
  hubId: Id,
  hubName: z.string(),
  rule: RememberedRule,
});
export type RuleView = z.infer<typeof RuleView>;

/** Messages from the extension host to the webview. */
export const ToWebview = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('snapshot'),
    pending: z.array(PendingSummary),
    hubs: z.array(HubStatusView),
    hiddenByScope: z.number().int().nonnegative(),
    scope: z.enum(['workspace', 'all']),
    /** The discovery home, for the empty state's "looking in ..." line. */
    home: z.string(),
    defaultRemember: RememberChoice,
    /** The host's clock, so countdowns stay right if the webview's differs (code-server). */
    now: z.string(),
  }),
  z.object({
    type: z.literal('detail'),
    item: DetailItem,
    /** Focus the reject reason (the `r` key, or Reject from a notification). */
    focus: z.enum(['approve', 'reject']).optional(),
  }),
  z.object({ type: z.literal('detailError'), ref: ItemRef, message: z.string() }),
  z.object({ type: z.literal('history'), items: z.array(HistoryView) }),
  z.object({ type: z.literal('rules'), items: z.array(RuleView) }),
  z.object({
    type: z.literal('result'),
    requestId: Id,
    ok: z.boolean(),
    message: z.string(),
    code: z.string().optional(),
    /** The hub's details, e.g. which fields of edited arguments break the input schema (422). */
    details: z.array(z.string()).optional(),
  }),
  /** Open the detail of one request (a notification's "Show", a command). */
  z.object({ type: z.literal('focus'), ref: ItemRef }),
]);
export type ToWebview = z.infer<typeof ToWebview>;

/** Messages from the webview to the extension host. */
export const FromWebview = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready') }).strict(),
  z.object({ type: z.literal('refresh') }).strict(),
  z
    .object({
      type: z.literal('openDetail'),
      ref: ItemRef,
      focus: z.enum(['approve', 'reject']).optional(),
    })
    .strict(),
  z
    .object({
      type: z.literal('decide'),
      requestId: Id,
      /** Each with the hash of the arguments the reviewer was shown. */
      items: z
        .array(ItemRef.extend({ argsHash: z.string().regex(/^[0-9a-f]{64}$/) }).strict())
        .min(1)
        .max(10_000),
      approve: z.boolean(),
      reason: z.string().max(4000).optional(),
      editedArgs: z.record(z.string(), z.unknown()).optional(),
      remember: RememberScope.optional(),
    })
    .strict()
    .refine((m) => !m.editedArgs || (m.items.length === 1 && m.approve), {
      message: 'edited arguments apply to one approval, and only when approving',
      path: ['editedArgs'],
    }),
  z
    .object({
      type: z.literal('showDiff'),
      ref: ItemRef,
      editedArgs: z.record(z.string(), z.unknown()).optional(),
    })
    .strict(),
  z.object({ type: z.literal('loadHistory') }).strict(),
  z.object({ type: z.literal('loadRules') }).strict(),
  z.object({ type: z.literal('revokeRule'), requestId: Id, hubId: Id, ruleId: Id }).strict(),
  /** What is checked in the list, for the "Approve/Reject Selected" commands. */
  z.object({ type: z.literal('selection'), items: z.array(ItemRef).max(10_000) }).strict(),
  /** Which request the detail view shows (none: the list), for the palette commands. */
  z.object({ type: z.literal('viewing'), ref: ItemRef.optional() }).strict(),
  z.object({ type: z.literal('setScope'), scope: z.enum(['workspace', 'all']) }).strict(),
  /** The empty state's buttons; only these commands can be asked for. */
  z
    .object({
      type: z.literal('runCommand'),
      command: z.enum([
        'hitloop.routeWorkspaceServers',
        'hitloop.refresh',
        'hitloop.openWalkthrough',
      ]),
    })
    .strict(),
]);
export type FromWebview = z.infer<typeof FromWebview>;

/** The key of an approval in maps and DOM attributes. */
export function refKey(ref: { hubId: string; id: string }): string {
  return `${ref.hubId}/${ref.id}`;
}
