import type { ApprovalRecord, RememberedRule } from '../hub/protocol.js';
import {
  type ApprovalFilter,
  type ApprovalStore,
  matchesFilter,
  newestFirst,
  type Settlement,
  type SettleResult,
} from './approval-store.js';

/**
 * Keeps approvals in memory, for tests and throwaway processes. Records are
 * copied in and out so callers cannot mutate the stored state.
 *
 * @example
 * const hub = new ApprovalHub({ store: new MemoryApprovalStore() });
 */
export class MemoryApprovalStore implements ApprovalStore {
  readonly name = 'memory';
  private readonly records = new Map<string, ApprovalRecord>();
  private readonly rules = new Map<string, RememberedRule>();

  async put(record: ApprovalRecord): Promise<void> {
    this.records.set(record.id, structuredClone(record));
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
    return { ok: true, record: structuredClone(next) };
  }

  async addRule(rule: RememberedRule): Promise<void> {
    this.rules.set(rule.id, { ...rule });
  }

  async listRules(): Promise<RememberedRule[]> {
    return [...this.rules.values()].map((r) => ({ ...r }));
  }

  async removeRule(id: string): Promise<boolean> {
    return this.rules.delete(id);
  }

  async close(): Promise<void> {}
}
