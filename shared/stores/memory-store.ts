import { randomUUID } from 'node:crypto';
import type { ApprovalRecord, HubPresence, RememberedRule } from '../hub/protocol.js';
import {
  type ApprovalFilter,
  type ApprovalStore,
  awaitsOwner,
  ChangeFanout,
  matchesFilter,
  newestFirst,
  oldestFirst,
  reclaimed,
  type Settlement,
  type SettleResult,
  type StoreChange,
} from './approval-store.js';

/**
 * Keeps approvals in memory, for tests and throwaway processes. Records are
 * copied in and out so callers cannot mutate the stored state. Hubs sharing
 * one MemoryApprovalStore object see each other's changes through `watch`.
 *
 * @example
 * const hub = new ApprovalHub({ store: new MemoryApprovalStore() });
 */
export class MemoryApprovalStore implements ApprovalStore {
  readonly name = 'memory';
  readonly instanceId = randomUUID();
  private readonly records = new Map<string, ApprovalRecord>();
  private readonly rules = new Map<string, RememberedRule>();
  private readonly hubs = new Map<string, HubPresence>();
  private readonly changes = new ChangeFanout();

  async put(record: ApprovalRecord): Promise<void> {
    this.records.set(record.id, structuredClone(record));
    this.announce({ type: 'put', id: record.id, source: this.instanceId });
  }

  async get(id: string): Promise<ApprovalRecord | undefined> {
    const r = this.records.get(id);
    return r && structuredClone(r);
  }

  async list(filter: ApprovalFilter = {}): Promise<ApprovalRecord[]> {
    return [...this.records.values()]
      .filter((r) => matchesFilter(r, filter))
      .sort(newestFirst)
      .slice(0, filter.limit ?? 1000)
      .map((r) => structuredClone(r));
  }

  async settle(id: string, settlement: Settlement): Promise<SettleResult> {
    // Check and set happen in one synchronous step: JavaScript runs no other
    // callback in between, so concurrent decisions cannot both win.
    const current = this.records.get(id);
    if (!current) return { ok: false, reason: 'not_found' };
    if (current.status !== 'pending')
      return { ok: false, reason: 'not_pending', record: structuredClone(current) };
    const next: ApprovalRecord = { ...current, ...settlement };
    this.records.set(id, next);
    this.announce({ type: 'settled', id, source: this.instanceId });
    return { ok: true, record: structuredClone(next) };
  }

  async listPending(threadId: string): Promise<ApprovalRecord[]> {
    return [...this.records.values()]
      .filter((r) => awaitsOwner(r, threadId))
      .sort(oldestFirst)
      .map((r) => structuredClone(r));
  }

  async registerPending(record: ApprovalRecord): Promise<ApprovalRecord> {
    const current = this.records.get(record.id);
    if (current && current.status !== 'pending') return structuredClone(current);
    const next = current ? reclaimed(current, record) : structuredClone(record);
    this.records.set(record.id, next);
    this.announce({ type: 'put', id: record.id, source: this.instanceId });
    return structuredClone(next);
  }

  async markDelivered(id: string, at: string): Promise<void> {
    const current = this.records.get(id);
    if (current && current.deliveredAt === undefined) current.deliveredAt = at;
  }

  async addRule(rule: RememberedRule): Promise<void> {
    this.rules.set(rule.id, { ...rule });
    this.announce({ type: 'rules', source: this.instanceId });
  }

  async listRules(): Promise<RememberedRule[]> {
    return [...this.rules.values()].map((r) => ({ ...r }));
  }

  async removeRule(id: string): Promise<boolean> {
    const removed = this.rules.delete(id);
    if (removed) this.announce({ type: 'rules', source: this.instanceId });
    return removed;
  }

  async heartbeat(presence: HubPresence): Promise<void> {
    this.hubs.set(presence.hubId, { ...presence });
  }

  async listHubs(): Promise<HubPresence[]> {
    return [...this.hubs.values()].map((h) => ({ ...h }));
  }

  async removeHub(hubId: string): Promise<void> {
    this.hubs.delete(hubId);
  }

  watch(listener: (change: StoreChange) => void): () => void {
    return this.changes.add(listener);
  }

  async close(): Promise<void> {}

  // Listeners run after the caller's await resolves, as with a remote store,
  // so no caller depends on a change being seen synchronously.
  private announce(change: StoreChange): void {
    if (this.changes.size) queueMicrotask(() => this.changes.emit(change));
  }
}
