import { randomUUID } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { ApprovalRecord, HubPresence, RememberedRule } from '../hub/protocol.js';
import { openSqlite } from '../sqlite/open.js';
import type { SqliteDatabase } from '../sqlite/types.js';
import { ownerOnly } from '../util/owner-only.js';
import { type SecretKeyTest, secretKeyTest } from '../util/redact.js';
import { safeJson } from '../util/safe-json.js';
import {
  type ApprovalFilter,
  type ApprovalStore,
  ChangeFanout,
  reclaimed,
  type Settlement,
  type SettleResult,
  type StoreChange,
} from './approval-store.js';
import { redactedAtRest } from './redact-record.js';

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
CREATE TABLE IF NOT EXISTS hub_presence (
  hub_id TEXT PRIMARY KEY,
  data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS store_changes (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  type TEXT NOT NULL,
  id TEXT,
  source TEXT NOT NULL,
  at INTEGER NOT NULL
);
`;

/** How often other processes' changes are looked for while someone watches. */
const WATCH_INTERVAL_MS = 100;
/** Change rows older than this are pruned; watchers read them within milliseconds. */
const CHANGE_RETENTION_MS = 10 * 60_000;

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
  readonly instanceId = randomUUID();
  private readonly db: SqliteDatabase;
  private readonly onInvalid: (message: string) => void;
  private readonly changes = new ChangeFanout();
  private watchTimer: NodeJS.Timeout | undefined;
  private lastSeq = 0;
  private lastDataVersion = -1;
  private writes = 0;
  private readonly isSecret: SecretKeyTest | undefined;

  /**
   * `redactKeys`: secrets in the arguments of settled records are stored as
   * `sha256:<hex>` (see `redactedAtRest`); default true (the default key
   * words), a regular expression for other keys, false for none.
   */
  constructor(
    file: string,
    options: { onInvalid?: (message: string) => void; redactKeys?: string | RegExp | boolean } = {},
  ) {
    this.isSecret = secretKeyTest(options.redactKeys);
    if (file !== ':memory:') {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      // Created 0600 from the start; SQLite gives -wal and -shm the same mode.
      if (!existsSync(file)) closeSync(openSync(file, 'a', 0o600));
    }
    this.db = openSqlite(file);
    this.db.pragma('journal_mode = WAL');
    // Also a file (and -wal, -shm) that existed with a wider mode.
    if (file !== ':memory:') ownerOnly(file);
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    migrate(this.db);
    this.onInvalid = options.onInvalid ?? ((m) => process.stderr.write(`hitloop: warn: ${m}\n`));
  }

  async put(record: ApprovalRecord): Promise<void> {
    this.db.transaction(() => {
      this.write(record);
      this.logChange({ type: 'put', id: record.id, source: this.instanceId });
    })();
  }

  private write(record: ApprovalRecord): void {
    this.db
      .prepare(
        'INSERT OR REPLACE INTO approvals (id, hub_id, status, server, tool, created_at, thread_id, delivered, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(
        record.id,
        record.hubId,
        record.status,
        record.server ?? null,
        record.tool,
        record.createdAt,
        record.threadId ?? null,
        record.deliveredAt === undefined ? 0 : 1,
        JSON.stringify(this.atRest(record)),
      );
  }

  private atRest(record: ApprovalRecord): ApprovalRecord {
    return this.isSecret ? redactedAtRest(record, this.isSecret) : record;
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
    if (filter.status) {
      // An empty list matches nothing, as in every store.
      if (!filter.status.length) return [];
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
      // The name the agent used (SERVER__TOOL) finds the record too.
      where.push("(tool = ? OR json_extract(data, '$.exposedName') = ?)");
      params.push(filter.tool, filter.tool);
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
          .run(next.status, JSON.stringify(this.atRest(next)), id).changes;
        if (changed !== 1) return { ok: false, reason: 'not_pending', record: current };
        this.logChange({ type: 'settled', id, source: this.instanceId });
        return { ok: true, record: next };
      })
      .immediate();
  }

  async listPending(threadId: string): Promise<ApprovalRecord[]> {
    const rows = this.db
      .prepare(
        `SELECT id, data FROM approvals WHERE thread_id = ?
           AND (status = 'pending' OR (status IN ('approved', 'rejected') AND delivered = 0))
         ORDER BY created_at ASC, id ASC`,
      )
      .all(threadId) as Array<{ id: string; data: string }>;
    return rows
      .map((r) => this.parse(r.data, r.id))
      .filter((r): r is ApprovalRecord => r !== undefined);
  }

  async registerPending(record: ApprovalRecord): Promise<ApprovalRecord> {
    return this.db
      .transaction((): ApprovalRecord => {
        const row = this.db.prepare('SELECT data FROM approvals WHERE id = ?').get(record.id) as
          | { data: string }
          | undefined;
        const current = row && this.parse(row.data, record.id);
        if (current && current.status !== 'pending') return current;
        const next = current ? reclaimed(current, record) : record;
        this.write(next);
        this.logChange({ type: 'put', id: record.id, source: this.instanceId });
        return next;
      })
      .immediate();
  }

  async markDelivered(id: string, at: string): Promise<void> {
    this.db
      .transaction(() => {
        const row = this.db
          .prepare('SELECT data FROM approvals WHERE id = ? AND delivered = 0')
          .get(id) as { data: string } | undefined;
        const current = row && this.parse(row.data, id);
        if (!current) return;
        this.db
          .prepare('UPDATE approvals SET delivered = 1, data = ? WHERE id = ?')
          .run(JSON.stringify(this.atRest({ ...current, deliveredAt: at })), id);
      })
      .immediate();
  }

  async heartbeat(presence: HubPresence): Promise<void> {
    this.db
      .prepare('INSERT OR REPLACE INTO hub_presence (hub_id, data) VALUES (?, ?)')
      .run(presence.hubId, JSON.stringify(presence));
  }

  async listHubs(): Promise<HubPresence[]> {
    const rows = this.db.prepare('SELECT data FROM hub_presence').all() as Array<{ data: string }>;
    return rows.flatMap((r) => {
      const parsed = HubPresence.safeParse(safeJson(r.data));
      return parsed.success ? [parsed.data] : [];
    });
  }

  async removeHub(hubId: string): Promise<void> {
    this.db.prepare('DELETE FROM hub_presence WHERE hub_id = ?').run(hubId);
  }

  watch(listener: (change: StoreChange) => void): () => void {
    const off = this.changes.add(listener);
    if (!this.watchTimer) {
      this.lastSeq = (
        this.db.prepare('SELECT COALESCE(MAX(seq), 0) AS seq FROM store_changes').get() as {
          seq: number;
        }
      ).seq;
      this.watchTimer = setInterval(() => this.pollChanges(), WATCH_INTERVAL_MS);
      this.watchTimer.unref();
    }
    return () => {
      off();
      if (this.changes.size === 0 && this.watchTimer) {
        clearInterval(this.watchTimer);
        this.watchTimer = undefined;
      }
    };
  }

  // Other processes' changes arrive through the change table; `data_version`
  // tells cheaply whether anything was committed since the last look.
  private pollChanges(): void {
    if (!this.db.open) return;
    try {
      const version = this.db.pragma('data_version', { simple: true }) as number;
      if (version === this.lastDataVersion) return;
      this.lastDataVersion = version;
      const rows = this.db
        .prepare('SELECT seq, type, id, source FROM store_changes WHERE seq > ? ORDER BY seq')
        .all(this.lastSeq) as Array<{
        seq: number;
        type: string;
        id: string | null;
        source: string;
      }>;
      for (const row of rows) {
        this.lastSeq = row.seq;
        if (row.source === this.instanceId) continue;
        if (row.type === 'rules') this.changes.emit({ type: 'rules', source: row.source });
        else if ((row.type === 'put' || row.type === 'settled') && row.id)
          this.changes.emit({ type: row.type, id: row.id, source: row.source });
      }
    } catch (err) {
      this.onInvalid(
        `could not read approval store changes: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  }

  private logChange(change: StoreChange): void {
    const now = Date.now();
    this.db
      .prepare('INSERT INTO store_changes (type, id, source, at) VALUES (?, ?, ?, ?)')
      .run(change.type, 'id' in change ? change.id : null, change.source, now);
    if (++this.writes % 500 === 0)
      this.db.prepare('DELETE FROM store_changes WHERE at < ?').run(now - CHANGE_RETENTION_MS);
    if (this.changes.size) queueMicrotask(() => this.changes.emit(change));
  }

  async addRule(rule: RememberedRule): Promise<void> {
    this.db.transaction(() => {
      this.db
        .prepare('INSERT OR REPLACE INTO remembered_rules (id, data) VALUES (?, ?)')
        .run(rule.id, JSON.stringify(rule));
      this.logChange({ type: 'rules', source: this.instanceId });
    })();
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
    return this.db.transaction(() => {
      const removed =
        this.db.prepare('DELETE FROM remembered_rules WHERE id = ?').run(id).changes > 0;
      if (removed) this.logChange({ type: 'rules', source: this.instanceId });
      return removed;
    })();
  }

  async close(): Promise<void> {
    if (this.watchTimer) clearInterval(this.watchTimer);
    this.watchTimer = undefined;
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

/** Adds the columns later versions need to a store file an older hitloop created. */
function migrate(db: SqliteDatabase): void {
  const columns = new Set(
    (db.prepare('PRAGMA table_info(approvals)').all() as Array<{ name: string }>).map(
      (c) => c.name,
    ),
  );
  if (!columns.has('thread_id')) db.exec('ALTER TABLE approvals ADD COLUMN thread_id TEXT');
  if (!columns.has('delivered'))
    db.exec('ALTER TABLE approvals ADD COLUMN delivered INTEGER NOT NULL DEFAULT 0');
  db.exec('CREATE INDEX IF NOT EXISTS approvals_thread ON approvals(thread_id, status)');
}
