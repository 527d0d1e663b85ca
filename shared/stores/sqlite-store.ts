import { chmodSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { ApprovalRecord, RememberedRule } from '../hub/protocol.js';
import type { ApprovalFilter, ApprovalStore, Settlement, SettleResult } from './approval-store.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS approvals (
  id TEXT PRIMARY KEY,
  hub_id TEXT NOT NULL,
  status TEXT NOT NULL,
  server TEXT,
  tool TEXT NOT NULL,
  created_at TEXT NOT NULL,
  data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS approvals_status ON approvals(status, created_at);
CREATE TABLE IF NOT EXISTS remembered_rules (
  id TEXT PRIMARY KEY,
  data TEXT NOT NULL
);
`;

/**
 * The embedded default store: one SQLite file (WAL) under `HITLOOP_HOME`,
 * shared by every hitloop process of the user, readable only by them.
 * `settle` is a single conditional UPDATE, so the first decision wins even
 * across processes.
 *
 * @example
 * const store = new SqliteApprovalStore(join(hitloopHome(), 'approvals.db'));
 */
export class SqliteApprovalStore implements ApprovalStore {
  readonly name = 'sqlite';
  private readonly db: Database.Database;
  private readonly onInvalid: (message: string) => void;

  constructor(file: string, options: { onInvalid?: (message: string) => void } = {}) {
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    this.db = new Database(file);
    if (file !== ':memory:') chmodSync(file, 0o600);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    this.onInvalid = options.onInvalid ?? ((m) => process.stderr.write(`hitloop: warn: ${m}\n`));
  }

  async put(record: ApprovalRecord): Promise<void> {
    this.db
      .prepare(
        'INSERT OR REPLACE INTO approvals (id, hub_id, status, server, tool, created_at, data) VALUES (?, ?, ?, ?, ?, ?, ?)',
      )
      .run(
        record.id,
        record.hubId,
        record.status,
        record.server ?? null,
        record.tool,
        record.createdAt,
        JSON.stringify(record),
      );
  }

  async get(id: string): Promise<ApprovalRecord | undefined> {
    const row = this.db.prepare('SELECT data FROM approvals WHERE id = ?').get(id) as
      | { data: string }
      | undefined;
    return row ? this.parse(row.data, id) : undefined;
  }

  async list(filter: ApprovalFilter = {}): Promise<ApprovalRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.status?.length) {
      where.push(`status IN (${filter.status.map(() => '?').join(',')})`);
      params.push(...filter.status);
    }
    if (filter.hubId) {
      where.push('hub_id = ?');
      params.push(filter.hubId);
    }
    if (filter.server) {
      where.push('server = ?');
      params.push(filter.server);
    }
    if (filter.tool) {
      where.push('tool = ?');
      params.push(filter.tool);
    }
    const sql = `SELECT id, data FROM approvals ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id ASC LIMIT ?`;
    const rows = this.db.prepare(sql).all(...params, filter.limit ?? 1000) as Array<{
      id: string;
      data: string;
    }>;
    return rows
      .map((r) => this.parse(r.data, r.id))
      .filter((r): r is ApprovalRecord => r !== undefined);
  }

  async settle(id: string, settlement: Settlement): Promise<SettleResult> {
    // One transaction: read, then a conditional update that only a pending row passes.
    return this.db
      .transaction((): SettleResult => {
        const row = this.db.prepare('SELECT data FROM approvals WHERE id = ?').get(id) as
          | { data: string }
          | undefined;
        const current = row && this.parse(row.data, id);
        if (!current) return { ok: false, reason: 'not_found' };
        if (current.status !== 'pending')
          return { ok: false, reason: 'not_pending', record: current };
        const next: ApprovalRecord = { ...current, ...settlement };
        const changed = this.db
          .prepare("UPDATE approvals SET status = ?, data = ? WHERE id = ? AND status = 'pending'")
          .run(next.status, JSON.stringify(next), id).changes;
        if (changed !== 1) return { ok: false, reason: 'not_pending', record: current };
        return { ok: true, record: next };
      })
      .immediate();
  }

  async addRule(rule: RememberedRule): Promise<void> {
    this.db
      .prepare('INSERT OR REPLACE INTO remembered_rules (id, data) VALUES (?, ?)')
      .run(rule.id, JSON.stringify(rule));
  }

  async listRules(): Promise<RememberedRule[]> {
    const rows = this.db
      .prepare('SELECT id, data FROM remembered_rules ORDER BY rowid')
      .all() as Array<{ id: string; data: string }>;
    const rules: RememberedRule[] = [];
    for (const row of rows) {
      const parsed = RememberedRule.safeParse(safeJson(row.data));
      if (parsed.success) rules.push(parsed.data);
      else this.onInvalid(`ignoring unreadable remembered rule ${row.id} in the approval store`);
    }
    return rules;
  }

  async removeRule(id: string): Promise<boolean> {
    return this.db.prepare('DELETE FROM remembered_rules WHERE id = ?').run(id).changes > 0;
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  // JSON read back from SQLite is a trust boundary: another process (or a
  // person with sqlite3) may have written it.
  private parse(text: string, id: string): ApprovalRecord | undefined {
    const parsed = ApprovalRecord.safeParse(safeJson(text));
    if (parsed.success) return parsed.data;
    this.onInvalid(`ignoring unreadable approval ${id} in the approval store`);
    return undefined;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
