import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConfigError } from '../errors.js';
import { isMemoryDatabase } from '../sqlite/memory-path.js';
import { openSqlite, SqliteUnavailableError } from '../sqlite/open.js';
import type { SqliteDatabase } from '../sqlite/types.js';
import { backoffDelay } from '../util/backoff.js';
import { ownerOnly } from '../util/owner-only.js';
import { EVENT_TABLES_V4_DDL, EVENT_VIEW_V5_MIGRATION } from './event-view.js';

/**
 * The schema version this code writes, stored in `PRAGMA user_version`.
 *
 * - 0/1: hitloop's first layout (`runs.condition`, `start_time`, `end_time`,
 *   `success`, `metadata`; `trace_events.event_id` as the key).
 * - 2: that layout plus `runs.scenario` and two indexes.
 * - 3: the Python hitloop's own tables, column for column (`runs.id`,
 *   `scenario_id`, `condition_id`, `agent_version`, `model`, `seed`,
 *   `started_at`, `finished_at`, `task_success`, `validation_details`;
 *   `trace_events.id`, `timestamp`, `run_id`, `event_type`, `payload`), then
 *   ours: `runs.metadata` and `trace_events.event_id` (the stable id that
 *   makes a replayed event idempotent). A file the Python library wrote
 *   (user_version 0, its tables) is adopted by adding ours.
 * - 4: the same columns, with `trace_events` a view over full rows
 *   (`stored_events`, the former table) and one compact row per allowed call
 *   (`tool_calls`, arguments once in `tool_args`); see event-view.ts.
 * - 5: the same view over a narrower compact row: what every call of a tool
 *   shares is stored once (`call_shapes`), short arguments in the row.
 *
 * @example
 * db.pragma('user_version', { simple: true }) === TELEMETRY_SCHEMA_VERSION // after opening with the logger
 */
export const TELEMETRY_SCHEMA_VERSION = 5;

/**
 * Columns of the current layout, in table order: the seed's first, then ours.
 *
 * @example
 * TELEMETRY_COLUMNS.trace_events.includes('payload') // true
 */
export const TELEMETRY_COLUMNS = {
  runs: [
    'id',
    'run_id',
    'scenario_id',
    'condition_id',
    'agent_version',
    'model',
    'seed',
    'started_at',
    'finished_at',
    'task_success',
    'validation_details',
    'metadata',
  ],
  trace_events: ['id', 'timestamp', 'run_id', 'event_type', 'payload', 'event_id'],
} as const satisfies Record<string, readonly string[]>;

/**
 * The columns a reader needs, per layout: the seed's (version 3 and files
 * the Python library wrote) and hitloop's first (versions 1 and 2), which
 * readers still accept read-only.
 *
 * @example
 * telemetryLayout(db) // 'seed' or 'legacy'
 */
export const LAYOUT_COLUMNS = {
  seed: {
    runs: ['run_id', 'scenario_id', 'condition_id', 'started_at', 'finished_at', 'task_success'],
    trace_events: ['id', 'timestamp', 'run_id', 'event_type', 'payload'],
  },
  legacy: {
    runs: ['run_id', 'condition', 'start_time', 'end_time', 'success', 'metadata'],
    trace_events: ['event_id', 'run_id', 'event_type', 'timestamp', 'payload'],
  },
} as const;

/**
 * Which column layout a telemetry file has.
 *
 * @example
 * const layout: TelemetryLayout = telemetryLayout(db);
 */
export type TelemetryLayout = keyof typeof LAYOUT_COLUMNS;

/**
 * The name of a telemetry table.
 *
 * @example
 * const table: TelemetryTable = 'trace_events';
 */
export type TelemetryTable = keyof typeof TELEMETRY_COLUMNS;

// The Python hitloop's tables as SQLAlchemy created them (same column names,
// declared types, NOT NULLs and index names), plus our two columns at the end.
const SEED_TABLES_DDL = `
CREATE TABLE runs (
  id INTEGER NOT NULL PRIMARY KEY,
  run_id VARCHAR(64) NOT NULL,
  scenario_id VARCHAR(128),
  condition_id VARCHAR(128),
  agent_version VARCHAR(64),
  model VARCHAR(128),
  seed INTEGER,
  started_at DATETIME NOT NULL,
  finished_at DATETIME,
  task_success INTEGER,
  validation_details TEXT,
  metadata TEXT
);
CREATE TABLE trace_events (
  id INTEGER NOT NULL PRIMARY KEY,
  timestamp DATETIME NOT NULL,
  run_id VARCHAR(64) NOT NULL,
  event_type VARCHAR(64) NOT NULL,
  payload JSON NOT NULL,
  event_id TEXT
);
`;

// IF NOT EXISTS: the seed's own files already have the first five.
const SEED_INDEXES_DDL = `
CREATE UNIQUE INDEX IF NOT EXISTS ix_runs_run_id ON runs (run_id);
CREATE INDEX IF NOT EXISTS ix_trace_events_timestamp ON trace_events (timestamp);
CREATE INDEX IF NOT EXISTS ix_trace_events_run_id ON trace_events (run_id);
CREATE INDEX IF NOT EXISTS ix_trace_events_event_type ON trace_events (event_type);
CREATE UNIQUE INDEX IF NOT EXISTS ix_trace_events_event_id ON trace_events (event_id);
CREATE INDEX IF NOT EXISTS ix_runs_condition_id ON runs (condition_id);
`;

// hitloop's first layout, kept for the step from version 0 to 1.
const LEGACY_DDL = `
CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY,
  condition TEXT,
  start_time TEXT,
  end_time TEXT,
  success INTEGER,
  metadata TEXT
);
CREATE TABLE IF NOT EXISTS trace_events (
  event_id TEXT PRIMARY KEY,
  run_id TEXT,
  event_type TEXT,
  timestamp TEXT,
  payload TEXT
);
`;

// Events written before version 3 lack some of the seed's payload keys; a
// script written for the seed reads them as `payload["channel"]`, so each is
// added where it is missing (json_insert never overwrites): from what the
// event already says where it can (`requested_at` from `created_at`,
// `execution_time_ms` from `duration_ms`, the channel from `decided_via` or
// the `decided_by` prefix, the run's columns for run_start), else null as the
// seed wrote for unknowns. `args_hash` stays null: the stored arguments may be
// redacted, so a hash of them would not be the call's. New keys go last.
const BOOL = (path: string) =>
  `json(CASE json_type(payload, '${path}') WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' ELSE 'null' END)`;
const DECIDED_BY = "coalesce(json_extract(payload, '$.decided_by'), '')";
const BACKFILL_SEED_KEYS = `
UPDATE trace_events SET payload = CASE event_type
  WHEN 'run_start' THEN json_insert(payload,
    '$.scenario_id', (SELECT r.scenario_id FROM runs r WHERE r.run_id = trace_events.run_id),
    '$.condition_id', (SELECT r.condition_id FROM runs r WHERE r.run_id = trace_events.run_id),
    '$.agent_version', NULL, '$.model', NULL,
    '$.seed', (SELECT r.seed FROM runs r WHERE r.run_id = trace_events.run_id))
  WHEN 'run_end' THEN json_insert(payload,
    '$.task_success', ${BOOL('$.success')}, '$.validation_details', json('{}'))
  WHEN 'action_proposed' THEN json_insert(payload,
    '$.args_hash', NULL, '$.risk_class', NULL, '$.side_effects', json('[]'))
  WHEN 'approval_requested' THEN json_insert(payload,
    '$.channel', 'unknown', '$.policy_name', NULL, '$.policy_reason', NULL,
    '$.requested_at', json_extract(payload, '$.created_at'))
  WHEN 'approval_decided' THEN json_insert(payload,
    '$.reason', '', '$.tags', json('[]'),
    '$.channel', coalesce(json_extract(payload, '$.decided_via'),
      CASE WHEN instr(${DECIDED_BY}, ':') > 1 THEN substr(${DECIDED_BY}, 1, instr(${DECIDED_BY}, ':') - 1)
           WHEN ${DECIDED_BY} <> '' THEN ${DECIDED_BY} ELSE 'unknown' END),
    '$.decided_at', timestamp)
  WHEN 'tool_execution_end' THEN json_insert(payload,
    '$.error_class', NULL, '$.retry_count', 0,
    '$.execution_time_ms', json_extract(payload, '$.duration_ms'))
  WHEN 'error' THEN json_insert(payload,
    '$.error_message', json_extract(payload, '$.error'), '$.context', json('{}'))
  WHEN 'llm_call' THEN json_insert(payload,
    '$.prompt_hash', NULL, '$.template_id', NULL, '$.tokens_in', NULL, '$.tokens_out', NULL,
    '$.latency_ms', NULL, '$.model', NULL)
  WHEN 'injected_error' THEN json_insert(payload, '$.action_id', NULL, '$.tool_name', NULL)
  ELSE payload END
WHERE json_valid(payload) AND json_type(payload) = 'object';
`;

/** Index `i` upgrades a file from version `i` to `i + 1`, inside one transaction. */
const MIGRATIONS: ReadonlyArray<(db: SqliteDatabase, file: string) => void> = [
  (db, file) => {
    db.exec(LEGACY_DDL);
    // A file with unrelated tables of the same name must not be silently altered.
    requireLayout(db, file, 'legacy');
  },
  (db) => {
    if (!columnNames(db, 'runs').has('scenario'))
      db.exec('ALTER TABLE runs ADD COLUMN scenario TEXT');
    db.exec(`
      CREATE INDEX IF NOT EXISTS idx_trace_events_run_id ON trace_events(run_id);
      CREATE INDEX IF NOT EXISTS idx_runs_condition ON runs(condition);
    `);
  },
  (db) => {
    // Rebuild both tables in the seed's layout, keeping every row and the
    // events' order (the new integer id follows the old rowid order). The
    // seed's NOT NULL columns get a placeholder where another tool left a
    // NULL, rather than losing the row.
    db.exec(
      'ALTER TABLE runs RENAME TO runs_v2; ALTER TABLE trace_events RENAME TO trace_events_v2;',
    );
    db.exec(
      'DROP INDEX IF EXISTS idx_trace_events_run_id; DROP INDEX IF EXISTS idx_runs_condition;',
    );
    db.exec(SEED_TABLES_DDL);
    db.exec(`
      INSERT INTO runs (run_id, scenario_id, condition_id, seed, started_at, finished_at,
                        task_success, validation_details, metadata)
      SELECT coalesce(run_id, 'unknown-run-' || rowid), scenario, condition,
             CASE WHEN json_valid(metadata) AND json_type(metadata, '$.seed') = 'integer'
                  THEN json_extract(metadata, '$.seed') END,
             coalesce(start_time, end_time, ''), end_time, success,
             CASE WHEN json_valid(metadata) AND json_type(metadata, '$.validation_problems') IS NOT NULL
                  THEN json_object('problems', json_extract(metadata, '$.validation_problems')) END,
             metadata
      FROM runs_v2 ORDER BY start_time, rowid;
      INSERT INTO trace_events (timestamp, run_id, event_type, payload, event_id)
      SELECT coalesce(timestamp, ''), coalesce(run_id, ''), coalesce(event_type, ''),
             coalesce(payload, '{}'), event_id
      FROM trace_events_v2 ORDER BY rowid;
      DROP TABLE runs_v2;
      DROP TABLE trace_events_v2;
    `);
    db.exec(BACKFILL_SEED_KEYS);
    db.exec(SEED_INDEXES_DDL);
  },
  (db) => {
    // Every row and id stays; the table keeps its index names.
    db.exec('ALTER TABLE trace_events RENAME TO stored_events');
    db.exec(EVENT_TABLES_V4_DDL);
  },
  (db) => {
    db.exec(EVENT_VIEW_V5_MIGRATION);
  },
];

/** The version of the seed's tables as such: the step to 4 puts the view in front of them. */
const SEED_LAYOUT_VERSION = 3;

/**
 * Options for {@link openTelemetryDatabase}.
 *
 * @example
 * openTelemetryDatabase(file, { busyTimeoutMs: 10_000, synchronous: 'FULL' });
 */
export interface OpenTelemetryOptions {
  /** How long a writer waits for another process's lock before failing, in ms. Default 5000. */
  busyTimeoutMs?: number;
  /**
   * `FULL` syncs every commit to disk; `NORMAL` (default) syncs only at WAL
   * checkpoints, which survives an application crash but may lose the last
   * commits on power loss. Never corrupts the file either way.
   */
  synchronous?: 'NORMAL' | 'FULL';
}

/**
 * The busy timeout a telemetry connection uses, in whole ms: the option as
 * given (at least 0), or 5000. The logger's checkpoint thread waits as long.
 *
 * @example
 * busyTimeoutOf(undefined) // 5000
 */
export function busyTimeoutOf(ms: number | undefined): number {
  return Math.max(0, Math.floor(ms ?? 5000));
}

/**
 * Opens (creating if needed) a telemetry database for writing: WAL mode so
 * several processes can write one file, a busy timeout so they wait for each
 * other instead of failing, and the schema migrated to the current version.
 * Throws a ConfigError for a file that is not SQLite, has foreign tables of
 * the same names, or was written by a newer hitloop.
 *
 * @example
 * const db = openTelemetryDatabase('.hitloop/telemetry.db');
 * db.prepare('SELECT count(*) AS n FROM trace_events').get();
 */
export function openTelemetryDatabase(
  file: string,
  options: OpenTelemetryOptions = {},
): SqliteDatabase {
  const inMemory = isMemoryDatabase(file);
  let db: SqliteDatabase;
  try {
    if (!inMemory) {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      // Telemetry holds tool arguments: create it readable only by the user.
      // SQLite gives its -wal and -shm files the same mode.
      if (!existsSync(file)) closeSync(openSync(file, 'a', 0o600));
    }
    db = openSqlite(file);
  } catch (err) {
    if (err instanceof SqliteUnavailableError) throw err;
    throw new ConfigError({
      file,
      problem: `cannot open the telemetry database (${errorText(err)})`,
      fix: 'check that the path names a file in a directory you can write to',
    });
  }
  try {
    db.pragma(`busy_timeout = ${busyTimeoutOf(options.busyTimeoutMs)}`);
    // Switching a new file to WAL takes a lock that does not always go through
    // the busy handler, so two processes creating one file can collide here.
    retryWhileBusy(() => db.pragma('journal_mode = WAL'), options.busyTimeoutMs ?? 5000);
    // A file that existed before (an older hitloop, a loose umask) is
    // tightened too, with the -wal and -shm files WAL mode has now made.
    if (!inMemory) ownerOnly(file);
    db.pragma(`synchronous = ${options.synchronous ?? 'NORMAL'}`);
    migrateTelemetrySchema(db, file);
    return db;
  } catch (err) {
    db.close();
    throw asConfigError(err, file);
  }
}

/**
 * Brings a telemetry database to {@link TELEMETRY_SCHEMA_VERSION}, keeping all
 * rows. A file the Python hitloop wrote (user_version 0 with its tables) is
 * adopted as the current version by adding hitloop's two columns. Safe when several processes open the same file at once: the version is
 * re-read under the write lock.
 *
 * @example
 * migrateTelemetrySchema(openSqlite('seed-results.db'), 'seed-results.db');
 */
export function migrateTelemetrySchema(db: SqliteDatabase, file: string): void {
  if (readVersion(db, file) === TELEMETRY_SCHEMA_VERSION) return;
  db.exec('BEGIN IMMEDIATE');
  try {
    let version = readVersion(db, file);
    if (version === 0) version = adoptUnversioned(db, file);
    for (; version < TELEMETRY_SCHEMA_VERSION; version++) MIGRATIONS[version]!(db, file);
    db.pragma(`user_version = ${TELEMETRY_SCHEMA_VERSION}`);
    db.exec('COMMIT');
  } catch (err) {
    if (db.inTransaction) db.exec('ROLLBACK');
    throw err;
  }
}

/**
 * A file with user_version 0 is new, written by the Python hitloop (which
 * never set the version), or hitloop's first layout. Returns the version it
 * is at after this step.
 */
function adoptUnversioned(db: SqliteDatabase, file: string): number {
  const hasRuns = hasTable(db, 'runs');
  const hasEvents = hasTable(db, 'trace_events');
  if (!hasRuns && !hasEvents) {
    db.exec(SEED_TABLES_DDL);
    db.exec(SEED_INDEXES_DDL);
    return SEED_LAYOUT_VERSION;
  }
  if (hasRuns && hasEvents && telemetryLayout(db) === 'seed') {
    requireLayout(db, file, 'seed');
    // The Python library's own file: add our two columns, keep the rest.
    if (!columnNames(db, 'runs').has('metadata'))
      db.exec('ALTER TABLE runs ADD COLUMN metadata TEXT');
    if (!columnNames(db, 'trace_events').has('event_id'))
      db.exec('ALTER TABLE trace_events ADD COLUMN event_id TEXT');
    db.exec(SEED_INDEXES_DDL);
    return SEED_LAYOUT_VERSION;
  }
  if (hasRuns && hasEvents) {
    requireLayout(db, file, 'legacy');
    return 1;
  }
  return 0;
}

function readVersion(db: SqliteDatabase, file: string): number {
  const version = Number(db.pragma('user_version', { simple: true }));
  if (version > TELEMETRY_SCHEMA_VERSION) {
    throw new ConfigError({
      file,
      problem: `telemetry schema version ${version} is newer than this hitloop understands (${TELEMETRY_SCHEMA_VERSION})`,
      fix: 'upgrade hitloop, or write to a different database file',
    });
  }
  return version;
}

/**
 * Which layout a file's tables have: `seed` (version 3, or written by the
 * Python hitloop) when `runs` has `condition_id`, else `legacy`.
 *
 * @example
 * telemetryLayout(openSqlite('seed.db', { readonly: true })) // 'seed'
 */
export function telemetryLayout(db: SqliteDatabase): TelemetryLayout {
  return columnNames(db, 'runs').has('condition_id') ? 'seed' : 'legacy';
}

/**
 * Checks that the telemetry tables exist with the columns of one of the
 * layouts readers understand, says which are missing in terms a person can
 * act on, and returns the layout. Used by readers, which must not migrate
 * (they open read-only).
 *
 * @example
 * const layout = requireTelemetryTables(openSqlite('results.db', { readonly: true }), 'results.db');
 */
export function requireTelemetryTables(db: SqliteDatabase, file: string): TelemetryLayout {
  for (const table of ['runs', 'trace_events']) {
    if (!hasTable(db, table)) {
      throw new ConfigError({
        file,
        problem: `not a hitloop telemetry database: table "${table}" is missing`,
        fix: 'give the path of a database written by hitloop (or the Python hitloop) TelemetryLogger',
      });
    }
  }
  const layout = telemetryLayout(db);
  requireLayout(db, file, layout);
  return layout;
}

function requireLayout(db: SqliteDatabase, file: string, layout: TelemetryLayout): void {
  const tables: Record<string, readonly string[]> = LAYOUT_COLUMNS[layout];
  for (const [table, wanted] of Object.entries(tables)) {
    const have = columnNames(db, table);
    const missing = wanted.filter((c) => !have.has(c));
    if (missing.length > 0) {
      throw new ConfigError({
        file,
        problem: `table "${table}" lacks column(s) ${missing.join(', ')}, so it was not written by hitloop`,
        fix: 'use a different database file for hitloop telemetry',
      });
    }
  }
}

/**
 * Column names of a table (empty when it does not exist).
 *
 * @example
 * columnNames(db, 'runs').has('condition_id') // true from version 3
 */
export function columnNames(db: SqliteDatabase, table: string): Set<string> {
  const rows = db.prepare('SELECT name FROM pragma_table_info(?)').all(table) as Array<{
    name: string;
  }>;
  return new Set(rows.map((r) => r.name));
}

/** A table, or (from version 4, `trace_events`) a view readers query the same way. */
function hasTable(db: SqliteDatabase, table: string): boolean {
  return (
    db
      .prepare("SELECT 1 FROM sqlite_master WHERE type IN ('table', 'view') AND name = ?")
      .get(table) !== undefined
  );
}

/**
 * Turns SQLite's file-level errors into a ConfigError naming the file and the
 * fix; anything else is returned unchanged.
 *
 * @example
 * try { db.prepare('SELECT 1 FROM runs').get(); } catch (err) { throw asConfigError(err, file); }
 */
export function asConfigError(err: unknown, file: string): unknown {
  if (err instanceof ConfigError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
    return new ConfigError({
      file,
      problem: 'not a SQLite database (or it is damaged)',
      fix: 'give the path of a telemetry database written by hitloop',
    });
  }
  if (code === 'SQLITE_CANTOPEN' || code === 'SQLITE_READONLY' || code === 'SQLITE_PERM') {
    return new ConfigError({
      file,
      problem: `cannot open the telemetry database (${errorText(err)})`,
      fix: 'check the path and its permissions',
    });
  }
  return err;
}

function errorText(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  return typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

function retryWhileBusy<T>(fn: () => T, budgetMs: number): T {
  const deadline = Date.now() + budgetMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return fn();
    } catch (err) {
      const code = (err as { code?: unknown } | null)?.code;
      const busy = code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED';
      if (!busy || Date.now() >= deadline) throw err;
      // Opening is synchronous (the constructor of a synchronous logger), so
      // block briefly rather than spin.
      Atomics.wait(sleeper, 0, 0, backoffDelay(attempt, { initialMs: 5, maxMs: 100 }));
    }
  }
}
