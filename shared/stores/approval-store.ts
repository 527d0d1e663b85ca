import type { ApprovalRecord, ApprovalStatus, RememberedRule } from '../hub/protocol.js';

/** Which approvals to list. */
export interface ApprovalFilter {
  status?: readonly ApprovalStatus[];
  hubId?: string;
  server?: string;
  tool?: string;
  /** Newest first; default 1000. */
  limit?: number;
}

/** A final state for a pending approval. */
export interface Settlement {
  status: Exclude<ApprovalStatus, 'pending'>;
  decision?: ApprovalRecord['decision'];
  statusReason?: string;
}

export type SettleResult =
  | { ok: true; record: ApprovalRecord }
  | { ok: false; reason: 'not_found' }
  | { ok: false; reason: 'not_pending'; record: ApprovalRecord };

/**
 * The port every approval store implements: pending requests and remembered
 * rules, persisted. `settle` is atomic: of many concurrent decisions on one
 * request exactly one succeeds, so a tool runs at most once.
 *
 * @example
 * const r = await store.settle(id, { status: 'approved', decision });
 * if (!r.ok && r.reason === 'not_pending') console.log(`already ${r.record.status}`);
 */
export interface ApprovalStore {
  readonly name: string;
  put(record: ApprovalRecord): Promise<void>;
  get(id: string): Promise<ApprovalRecord | undefined>;
  list(filter?: ApprovalFilter): Promise<ApprovalRecord[]>;
  settle(id: string, settlement: Settlement): Promise<SettleResult>;
  addRule(rule: RememberedRule): Promise<void>;
  listRules(): Promise<RememberedRule[]>;
  removeRule(id: string): Promise<boolean>;
  close(): Promise<void>;
}

/** Applies a filter in memory (shared by stores that cannot push it down). */
export function matchesFilter(record: ApprovalRecord, filter: ApprovalFilter): boolean {
  if (filter.status && !filter.status.includes(record.status)) return false;
  if (filter.hubId && record.hubId !== filter.hubId) return false;
  if (filter.server && record.server !== filter.server) return false;
  if (filter.tool && record.tool !== filter.tool && record.exposedName !== filter.tool)
    return false;
  return true;
}

/** Newest first, then by id for a stable order among equal timestamps. */
export function newestFirst(a: ApprovalRecord, b: ApprovalRecord): number {
  return a.createdAt < b.createdAt
    ? 1
    : a.createdAt > b.createdAt
      ? -1
      : a.id < b.id
        ? -1
        : a.id > b.id
          ? 1
          : 0;
}
