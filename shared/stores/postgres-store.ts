import { randomUUID } from 'node:crypto';
// Types only: `pg` itself is loaded on first use, so importing hitloop does
// not load a PostgreSQL driver in processes that never talk to PostgreSQL.
import type pg from 'pg';
import { z } from 'zod';
import { ApprovalRecord, HubPresence, RememberedRule } from '../hub/protocol.js';
import { backoffDelay } from '../util/backoff.js';
import { safeJson } from '../util/safe-json.js';
import {
  type ApprovalFilter,
  type ApprovalStore,
  ChangeFanout,
  type Settlement,
  type SettleResult,
  type StoreChange,
} from './approval-store.js';

/** Options of {@link PostgresApprovalStore}. */
export interface PostgresStoreOptions {
  /**
   * The schema holding hitloop's tables (created by `setup()` if missing).
   * Letters, digits and `_`, at most 40 characters; default `hitloop`.
   * Stores with different schemas in one database do not see each other.
   */
  schema?: string;
  /** Warnings: unreadable rows (skipped) and a lost LISTEN connection. Default: stderr. */
  onInvalid?: (message: string) => void;
  /** First delay before reconnecting a dropped LISTEN connection; doubles up to 10 s. Default 500 ms. */
  reconnectDelayMs?: number;
}

/** A change announced with NOTIFY; anyone who can connect can NOTIFY, so it is parsed. */
const ChangePayload = z.discriminatedUnion('type', [
  z.object({ type: z.literal('put'), id: z.string().min(1), source: z.string() }),
  z.object({ type: z.literal('settled'), id: z.string().min(1), source: z.string() }),
  z.object({ type: z.literal('rules'), source: z.string() }),
]);

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,39}$/;
const MAX_RECONNECT_DELAY_MS = 10_000;

/**
 * A team store in PostgreSQL: every hitloop process (on any machine) that
 * opens the same database and schema shares pending approvals, remembered
 * rules and hub heartbeats. Records are JSONB beside indexed columns;
 * `settle` and `registerPending` are single conditional statements, so the
 * first decision wins across processes. Changes are announced with NOTIFY in
 * the same statement and heard with LISTEN on one dedicated connection, held
 * only while someone watches.
 *
 * Call `setup()` once before use (it creates the schema and tables if they
 * are missing); `openApprovalStore('postgres://…')` does.
 *
 * @example
 * const store = PostgresApprovalStore.fromConnString('postgres://hitloop@db.internal/hitloop');
 * await store.setup();
 * const hub = new ApprovalHub({ store });
 */
export class PostgresApprovalStore implements ApprovalStore {
  readonly name = 'postgres';
  readonly instanceId = randomUUID();
  readonly schema: string;
  private readonly channel: string;
  private readonly poolSource: pg.Pool | pg.PoolConfig;
  private readonly ownsPool: boolean;
  private poolPromise: Promise<pg.Pool> | undefined;
  private readonly onInvalid: (message: string) => void;
  private readonly reconnectDelayMs: number;
  private readonly changes = new ChangeFanout();
  private listenClient: pg.PoolClient | undefined;
  private listening: Promise<void> | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reconnectAttempts = 0;
  private lostReported = false;
  private closed = false;

  /**
   * @param pool a `pg.Pool` (shared with the caller, who ends it) or a pool
   *   config (the store makes the pool and ends it in `close()`).
   */
  constructor(pool: pg.Pool | pg.PoolConfig, options: PostgresStoreOptions = {}) {
    const schema = options.schema ?? 'hitloop';
    if (!SCHEMA_NAME.test(schema))
      throw new Error(
        `invalid PostgreSQL schema name "${schema}": use lower-case letters, digits and _ (at most 40 characters, not starting with a digit)`,
      );
    this.schema = schema;
    // Per schema, so stores in different schemas of one database stay apart.
    this.channel = `${schema}_changes`;
    this.poolSource = pool;
    this.ownsPool = !isPool(pool);
    this.onInvalid = options.onInvalid ?? ((m) => process.stderr.write(`hitloop: warn: ${m}\n`));
    this.reconnectDelayMs = options.reconnectDelayMs ?? 500;
  }

  /**
   * A store over a pool it creates from `url` and ends in `close()`.
   *
   * @example
   * const store = PostgresApprovalStore.fromConnString(process.env.HITLOOP_STORE!, { schema: 'team_a' });
   */
  static fromConnString(
    url: string,
    options: PostgresStoreOptions & { pool?: Omit<pg.PoolConfig, 'connectionString'> } = {},
  ): PostgresApprovalStore {
    const { pool, ...rest } = options;
    return new PostgresApprovalStore({ connectionString: url, ...pool }, rest);
  }

  private table(name: 'approvals' | 'remembered_rules' | 'hub_presence'): string {
    return `"${this.schema}"."${name}"`;
  }

  private pool(): Promise<pg.Pool> {
    if (this.closed) return Promise.reject(new Error('the PostgreSQL approval store is closed'));
    this.poolPromise ??= (async () => {
      if (isPool(this.poolSource)) return this.poolSource;
      const { default: driver } = await import('pg');
      const pool = new driver.Pool(this.poolSource);
      // An idle client losing its connection emits 'error' on the pool; with
      // no listener that would crash the process. The pool replaces the client.
      pool.on('error', (err) =>
        this.onInvalid(`PostgreSQL approval store: idle connection lost: ${err.message}`),
      );
      return pool;
    })();
    return this.poolPromise;
  }

  private async query<R extends pg.QueryResultRow>(
    text: string,
    values: unknown[] = [],
  ): Promise<pg.QueryResult<R>> {
    try {
      return await (await this.pool()).query<R>(text, values);
    } catch (err) {
      // JSONB cannot hold U+0000 (PostgreSQL text has no NUL); say so instead
      // of the server's "unsupported Unicode escape sequence".
      if ((err as { code?: string }).code === '22P05')
        throw new Error(
          'the PostgreSQL approval store cannot keep text containing the NUL character (U+0000), e.g. in tool arguments; use the SQLite or Redis store for such tools',
          { cause: err },
        );
      throw err;
    }
  }

  /**
   * Creates the schema, tables and indexes if they are missing. Idempotent
   * and safe to run from many processes at once (an advisory lock orders
   * them). When everything exists it changes nothing, so a role without
   * CREATE privileges can call it too.
   */
  async setup(): Promise<void> {
    const pool = await this.pool();
    const exists = await pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = $1
         AND tablename IN ('approvals', 'remembered_rules', 'hub_presence')`,
      [this.schema],
    );
    if (exists.rows[0]?.n === 3) return;
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      // Concurrent CREATE ... IF NOT EXISTS can still collide in the catalog;
      // the lock makes a second process wait and then find everything there.
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [
        `hitloop.setup.${this.schema}`,
      ]);
      const schemaExists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [
        this.schema,
      ]);
      if (!schemaExists.rowCount) await client.query(`CREATE SCHEMA "${this.schema}"`);
      // COLLATE "C": ordering by byte value, the same as JavaScript's string
      // comparison for ISO timestamps and ids, whatever the database locale.
      await client.query(`
        CREATE TABLE IF NOT EXISTS ${this.table('approvals')} (
          id text COLLATE "C" PRIMARY KEY,
          hub_id text NOT NULL,
          status text NOT NULL,
          server text,
          tool text NOT NULL,
          created_at text COLLATE "C" NOT NULL,
          thread_id text,
          delivered boolean NOT NULL DEFAULT false,
          data jsonb NOT NULL
        );
        CREATE INDEX IF NOT EXISTS approvals_created ON ${this.table('approvals')} (created_at DESC, id);
        CREATE INDEX IF NOT EXISTS approvals_status ON ${this.table('approvals')} (status, created_at DESC);
        CREATE INDEX IF NOT EXISTS approvals_hub ON ${this.table('approvals')} (hub_id, status);
        CREATE INDEX IF NOT EXISTS approvals_thread ON ${this.table('approvals')} (thread_id, status)
          WHERE thread_id IS NOT NULL;
        CREATE TABLE IF NOT EXISTS ${this.table('remembered_rules')} (
          id text PRIMARY KEY,
          seq bigserial NOT NULL,
          data jsonb NOT NULL
        );
        CREATE TABLE IF NOT EXISTS ${this.table('hub_presence')} (
          hub_id text PRIMARY KEY,
          data jsonb NOT NULL
        );`);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }

  /** `pg_notify` arguments for a change made by this store. */
  private notice(change: StoreChange): [string, string] {
    return [this.channel, JSON.stringify(change)];
  }

  async put(record: ApprovalRecord): Promise<void> {
    await this.query(
      `INSERT INTO ${this.table('approvals')}
         (id, hub_id, status, server, tool, created_at, thread_id, delivered, data)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)
       ON CONFLICT (id) DO UPDATE SET hub_id = EXCLUDED.hub_id, status = EXCLUDED.status,
         server = EXCLUDED.server, tool = EXCLUDED.tool, created_at = EXCLUDED.created_at,
         thread_id = EXCLUDED.thread_id, delivered = EXCLUDED.delivered, data = EXCLUDED.data
       RETURNING pg_notify($10, $11)`,
      [...columns(record), ...this.notice({ type: 'put', id: record.id, source: this.instanceId })],
    );
  }

  async get(id: string): Promise<ApprovalRecord | undefined> {
    const { rows } = await this.query<{ data: unknown }>(
      `SELECT data FROM ${this.table('approvals')} WHERE id = $1`,
      [id],
    );
    return rows[0] ? this.parse(rows[0].data, id) : undefined;
  }

  async list(filter: ApprovalFilter = {}): Promise<ApprovalRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const param = (value: unknown) => {
      params.push(value);
      return `$${params.length}`;
    };
    // The same meaning as `matchesFilter`: an empty status list matches
    // nothing, and `tool` matches the tool or the name the agent used.
    if (filter.status) where.push(`status = ANY(${param([...filter.status])}::text[])`);
    if (filter.hubId) where.push(`hub_id = ${param(filter.hubId)}`);
    if (filter.server) where.push(`server = ${param(filter.server)}`);
    if (filter.tool) {
      const p = param(filter.tool);
      where.push(`(tool = ${p} OR data->>'exposedName' = ${p})`);
    }
    const { rows } = await this.query<{ id: string; data: unknown }>(
      `SELECT id, data FROM ${this.table('approvals')}
       ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY created_at DESC, id ASC LIMIT ${param(filter.limit ?? 1000)}`,
      params,
    );
    return this.parseRows(rows);
  }

  async settle(id: string, settlement: Settlement): Promise<SettleResult> {
    // Keys the caller set to undefined are removed, as `{...current, ...settlement}` would.
    const cleared = Object.entries(settlement)
      .filter(([, v]) => v === undefined)
      .map(([k]) => k);
    for (;;) {
      // One statement: only a row still pending passes the WHERE, so of any
      // number of concurrent settlements (from any process) exactly one wins.
      const won = await this.query<{ data: unknown }>(
        `UPDATE ${this.table('approvals')}
            SET status = $2, data = (data || $3::jsonb) - $4::text[]
          WHERE id = $1 AND status = 'pending'
          RETURNING data, pg_notify($5, $6)`,
        [
          id,
          settlement.status,
          JSON.stringify(settlement),
          cleared,
          ...this.notice({ type: 'settled', id, source: this.instanceId }),
        ],
      );
      if (won.rows[0]) {
        const record = this.parse(won.rows[0].data, id);
        return record ? { ok: true, record } : { ok: false, reason: 'not_found' };
      }
      const current = await this.get(id);
      if (!current) return { ok: false, reason: 'not_found' };
      if (current.status !== 'pending')
        return { ok: false, reason: 'not_pending', record: current };
      // Pending again: a `put` replaced the row between the two statements; try again.
    }
  }

  async listPending(threadId: string): Promise<ApprovalRecord[]> {
    const { rows } = await this.query<{ id: string; data: unknown }>(
      `SELECT id, data FROM ${this.table('approvals')} WHERE thread_id = $1
         AND (status = 'pending' OR (status IN ('approved', 'rejected') AND NOT delivered))
       ORDER BY created_at ASC, id ASC`,
      [threadId],
    );
    return this.parseRows(rows);
  }

  async registerPending(record: ApprovalRecord): Promise<ApprovalRecord> {
    // Insert, or take back a row that is still pending (new owner and expiry,
    // stored arguments kept, as `reclaimed` does); a settled row fails the
    // WHERE and returns nothing, and is then read as it is.
    const { rows } = await this.query<{ data: unknown }>(
      `INSERT INTO ${this.table('approvals')} AS a
         (id, hub_id, status, server, tool, created_at, thread_id, delivered, data)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)
       ON CONFLICT (id) DO UPDATE
         SET hub_id = EXCLUDED.hub_id,
             data = a.data || jsonb_build_object('hubId', EXCLUDED.hub_id::text) || $10::jsonb
         WHERE a.status = 'pending'
       RETURNING data, pg_notify($11, $12)`,
      [
        ...columns(record),
        JSON.stringify(record.expiresAt ? { expiresAt: record.expiresAt } : {}),
        ...this.notice({ type: 'put', id: record.id, source: this.instanceId }),
      ],
    );
    if (rows[0]) {
      const stored = this.parse(rows[0].data, record.id);
      if (stored) return stored;
      // An unreadable pending row was merged into: replace it, as the SQLite store does.
      await this.put(record);
      return record;
    }
    const current = await this.get(record.id);
    if (current) return current;
    await this.put(record);
    return record;
  }

  async markDelivered(id: string, at: string): Promise<void> {
    // `NOT delivered` makes the first delivery time stick.
    await this.query(
      `UPDATE ${this.table('approvals')}
          SET delivered = true, data = jsonb_set(data, '{deliveredAt}', to_jsonb($2::text))
        WHERE id = $1 AND NOT delivered`,
      [id, at],
    );
  }

  async addRule(rule: RememberedRule): Promise<void> {
    // A replaced rule moves to the end (seq = DEFAULT), as INSERT OR REPLACE does in SQLite.
    await this.query(
      `INSERT INTO ${this.table('remembered_rules')} (id, data) VALUES ($1, $2::jsonb)
       ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data, seq = DEFAULT
       RETURNING pg_notify($3, $4)`,
      [rule.id, JSON.stringify(rule), ...this.notice({ type: 'rules', source: this.instanceId })],
    );
  }

  async listRules(): Promise<RememberedRule[]> {
    const { rows } = await this.query<{ id: string; data: unknown }>(
      `SELECT id, data FROM ${this.table('remembered_rules')} ORDER BY seq`,
    );
    const rules: RememberedRule[] = [];
    for (const row of rows) {
      const parsed = RememberedRule.safeParse(row.data);
      if (parsed.success) rules.push(parsed.data);
      else this.onInvalid(`ignoring unreadable remembered rule ${row.id} in the approval store`);
    }
    return rules;
  }

  async removeRule(id: string): Promise<boolean> {
    const { rowCount } = await this.query(
      `DELETE FROM ${this.table('remembered_rules')} WHERE id = $1 RETURNING pg_notify($2, $3)`,
      [id, ...this.notice({ type: 'rules', source: this.instanceId })],
    );
    return (rowCount ?? 0) > 0;
  }

  async heartbeat(presence: HubPresence): Promise<void> {
    await this.query(
      `INSERT INTO ${this.table('hub_presence')} (hub_id, data) VALUES ($1, $2::jsonb)
       ON CONFLICT (hub_id) DO UPDATE SET data = EXCLUDED.data`,
      [presence.hubId, JSON.stringify(presence)],
    );
  }

  async listHubs(): Promise<HubPresence[]> {
    const { rows } = await this.query<{ hub_id: string; data: unknown }>(
      `SELECT hub_id, data FROM ${this.table('hub_presence')} ORDER BY hub_id`,
    );
    return rows.flatMap((r) => {
      const parsed = HubPresence.safeParse(r.data);
      if (parsed.success) return [parsed.data];
      this.onInvalid(`ignoring unreadable hub heartbeat ${r.hub_id} in the approval store`);
      return [];
    });
  }

  async removeHub(hubId: string): Promise<void> {
    await this.query(`DELETE FROM ${this.table('hub_presence')} WHERE hub_id = $1`, [hubId]);
  }

  watch(listener: (change: StoreChange) => void): () => void {
    const off = this.changes.add(listener);
    this.ensureListening();
    return () => {
      off();
      if (this.changes.size === 0) this.stopListening();
    };
  }

  /** Opens the LISTEN connection if someone watches and none is open or opening. */
  private ensureListening(): void {
    if (this.closed || this.changes.size === 0 || this.listenClient || this.listening) return;
    this.listening = this.listen()
      .catch((err: unknown) =>
        this.connectionLost(err instanceof Error ? err.message : String(err)),
      )
      .finally(() => {
        this.listening = undefined;
      });
  }

  private async listen(): Promise<void> {
    let client: pg.PoolClient | undefined;
    // Set once the client went back to the pool: releasing twice throws.
    let lost = false;
    try {
      client = await (await this.pool()).connect();
      const c = client;
      const onLost = (err?: Error) => {
        if (lost) return;
        lost = true;
        c.release(err ?? true);
        if (this.listenClient === c) this.listenClient = undefined;
        this.connectionLost(err?.message ?? 'connection ended');
      };
      // Without an 'error' listener a dropped connection would crash the process.
      c.on('error', onLost);
      c.on('end', () => onLost());
      c.on('notification', (msg) => {
        if (msg.channel !== this.channel || !msg.payload) return;
        const change = ChangePayload.safeParse(safeJson(msg.payload));
        if (change.success) this.changes.emit(change.data);
        else this.onInvalid(`ignoring an unreadable change notice on ${this.channel}`);
      });
      await c.query(`LISTEN "${this.channel}"`);
      if (lost) return;
      if (this.closed || this.changes.size === 0) {
        // Everyone stopped watching while the connection opened.
        lost = true;
        c.release(true);
        return;
      }
      this.listenClient = c;
      this.reconnectAttempts = 0;
      if (this.lostReported) {
        this.lostReported = false;
        this.onInvalid(`PostgreSQL approval store: listening for changes again`);
      }
    } catch (err) {
      if (client && !lost) {
        lost = true;
        client.release(true);
      }
      this.connectionLost(err instanceof Error ? err.message : String(err));
    }
  }

  /** Logs once per outage and tries again with a growing delay while anyone watches. */
  private connectionLost(reason: string): void {
    if (this.closed || this.changes.size === 0) return;
    if (!this.lostReported) {
      this.lostReported = true;
      this.onInvalid(
        `PostgreSQL approval store: lost the connection that listens for changes (${reason}); reconnecting`,
      );
    }
    if (this.reconnectTimer) return;
    const delay = backoffDelay(this.reconnectAttempts, {
      initialMs: this.reconnectDelayMs,
      maxMs: MAX_RECONNECT_DELAY_MS,
    });
    this.reconnectAttempts++;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.ensureListening();
    }, delay);
    this.reconnectTimer.unref();
  }

  private stopListening(): void {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.reconnectAttempts = 0;
    const client = this.listenClient;
    this.listenClient = undefined;
    // Destroyed rather than returned to the pool: it is subscribed to the channel.
    if (client) {
      for (const event of ['end', 'error', 'notification'] as const)
        client.removeAllListeners(event);
      // A late socket error on the discarded connection must not crash the process.
      client.on('error', () => {});
      client.release(true);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopListening();
    await this.listening;
    if (this.ownsPool && this.poolPromise) {
      const pool = await this.poolPromise.catch(() => undefined);
      await pool?.end();
    }
  }

  private parseRows(rows: Array<{ id: string; data: unknown }>): ApprovalRecord[] {
    return rows
      .map((r) => this.parse(r.data, r.id))
      .filter((r): r is ApprovalRecord => r !== undefined);
  }

  // Rows are a trust boundary: anyone with access to the database may have written them.
  private parse(data: unknown, id: string): ApprovalRecord | undefined {
    const parsed = ApprovalRecord.safeParse(data);
    if (parsed.success) return parsed.data;
    this.onInvalid(`ignoring unreadable approval ${id} in the approval store`);
    return undefined;
  }
}

/** The indexed columns and the JSONB body of a record, as $1..$9. */
function columns(record: ApprovalRecord): unknown[] {
  return [
    record.id,
    record.hubId,
    record.status,
    record.server ?? null,
    record.tool,
    record.createdAt,
    record.threadId ?? null,
    record.deliveredAt !== undefined,
    JSON.stringify(record),
  ];
}

function isPool(value: pg.Pool | pg.PoolConfig): value is pg.Pool {
  return typeof (value as pg.Pool).connect === 'function' && 'totalCount' in value;
}
