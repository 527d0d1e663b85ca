import type {
  ApprovalRecord,
  ApprovalStatus,
  HubPresence,
  RememberedRule,
} from '../hub/protocol.js';

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
  /** When it was settled (ISO 8601). */
  settledAt?: string;
  /** A decision that came too late to apply, kept with the closed record. */
  lateDecision?: ApprovalRecord['decision'];
}

export type SettleResult =
  | { ok: true; record: ApprovalRecord }
  | { ok: false; reason: 'not_found' }
  | { ok: false; reason: 'not_pending'; record: ApprovalRecord };

/**
 * A change made through any instance of a shared store. `source` is the
 * `instanceId` of the store object that made it, so a hub can tell its own
 * changes (already announced) from another process's.
 */
export type StoreChange =
  | { type: 'put'; id: string; source: string }
  | { type: 'settled'; id: string; source: string }
  | { type: 'rules'; source: string };

/**
 * The port every approval store implements: pending requests and remembered
 * rules, persisted. `settle` is atomic: of many concurrent decisions on one
 * request exactly one succeeds, so a tool runs at most once.
 *
 * Stores shared between processes (SQLite on one machine, PostgreSQL or Redis
 * for a team) also carry hub heartbeats and announce changes through `watch`,
 * so a decision made through any hub wakes the process that is waiting.
 *
 * @example
 * const r = await store.settle(id, { status: 'approved', decision });
 * if (!r.ok && r.reason === 'not_pending') console.log(`already ${r.record.status}`);
 */
export interface ApprovalStore {
  readonly name: string;
  /** Random per store object; names the source of the changes it makes. */
  readonly instanceId: string;
  put(record: ApprovalRecord): Promise<void>;
  get(id: string): Promise<ApprovalRecord | undefined>;
  list(filter?: ApprovalFilter): Promise<ApprovalRecord[]>;
  settle(id: string, settlement: Settlement): Promise<SettleResult>;
  /**
   * What a restarted process must pick up for `threadId`: requests still
   * awaiting a decision, and requests decided while it was away whose
   * decision it has not received (`deliveredAt` unset). Oldest first.
   */
  listPending(threadId: string): Promise<ApprovalRecord[]>;
  /**
   * Registers a pending request, or takes back one that already exists: if
   * the id is new the record is stored; if it is still pending its owner
   * (`hubId`) and `expiresAt` are updated and the stored arguments kept; if it
   * is already settled nothing changes. Returns the stored record, so the
   * caller applies a decision that arrived while it was away. Atomic.
   */
  registerPending(record: ApprovalRecord): Promise<ApprovalRecord>;
  /** Notes that the asking process received the decision (sets `deliveredAt` once). */
  markDelivered(id: string, at: string): Promise<void>;
  addRule(rule: RememberedRule): Promise<void>;
  listRules(): Promise<RememberedRule[]>;
  removeRule(id: string): Promise<boolean>;
  /** Records that a hub is alive (upsert by `hubId`). */
  heartbeat(presence: HubPresence): Promise<void>;
  /** Every hub that has sent a heartbeat, with its `lastSeen`. */
  listHubs(): Promise<HubPresence[]>;
  /** Removes a hub's heartbeat (on clean shutdown). */
  removeHub(hubId: string): Promise<void>;
  /**
   * Calls `listener` for changes made through any instance of this store
   * (including this one). Returns the unsubscribe function.
   */
  watch(listener: (change: StoreChange) => void): () => void;
  close(): Promise<void>;
}

/** The record `registerPending` stores when the id already exists and is pending. */
export function reclaimed(current: ApprovalRecord, incoming: ApprovalRecord): ApprovalRecord {
  return {
    ...current,
    hubId: incoming.hubId,
    ...(incoming.expiresAt ? { expiresAt: incoming.expiresAt } : {}),
  };
}

/** Whether a record belongs in `listPending(threadId)`. */
export function awaitsOwner(record: ApprovalRecord, threadId: string): boolean {
  if (record.threadId !== threadId) return false;
  if (record.status === 'pending') return true;
  return (
    (record.status === 'approved' || record.status === 'rejected') &&
    record.deliveredAt === undefined
  );
}

/** Oldest first, by creation time then id. */
export function oldestFirst(a: ApprovalRecord, b: ApprovalRecord): number {
  if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Delivers a change to listeners, isolating each from the others' failures. */
export class ChangeFanout {
  private readonly listeners = new Set<(change: StoreChange) => void>();

  get size(): number {
    return this.listeners.size;
  }

  add(listener: (change: StoreChange) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  emit(change: StoreChange): void {
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch {
        // A failing listener must not stop the others or the store.
      }
    }
  }
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
