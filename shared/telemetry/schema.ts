import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConfigError } from '../errors.js';
import { openSqlite, SqliteUnavailableError } from '../sqlite/open.js';
import type { SqliteDatabase } from '../sqlite/types.js';
import { ownerOnly } from '../util/owner-only.js';

/**
 * The schema version this code writes. Version 1 is the seed's layout (the
 * Python hitloop's `runs` and `trace_events`); version 2 adds `runs.scenario`
 * and the two indexes. Stored in `PRAGMA user_version`.
 *
 * @example
 * db.pragma('user_version', { simple: true }) === TELEMETRY_SCHEMA_VERSION // after opening with the logger
 */
export const TELEMETRY_SCHEMA_VERSION = 2;

/**
 * Columns every telemetry file has had since the seed; readers rely on these
 * and nothing else, so a seed file (version 1) can still be exported.
 *
 * @example
 * TELEMETRY_COLUMNS.trace_events.includes('payload') // true
 */
export const TELEMETRY_COLUMNS = {
  runs: ['run_id', 'condition', 'start_time', 'end_time', 'success', 'metadata'],
  trace_events: ['event_id', 'run_id', 'event_type', 'timestamp', 'payload'],
} as const satisfies Record<string, readonly string[]>;

/**
 * The name of a telemetry table.
 *
 * @example
 * const table: TelemetryTable = 'trace_events';
 */
export type TelemetryTable = keyof typeof TELEMETRY_COLUMNS;

// The seed's DDL, verbatim in column names and types. IF NOT EXISTS lets the
// same step adopt a seed file whose user_version was never set (0).
const SEED_DDL = `
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

/** Index `i` upgrades a file from version `i` to `i + 1`, inside one transaction. */
const MIGRATIONS: ReadonlyArray<(db: SqliteDatabase, file: string) => void> = [
  (db, file) => {
    db.exec(SEED_DDL);
    // A file with unrelated tables of the same name must not be silently altered.
    requireTelemetryTables(db, file);
  },
  (db) => {
    if (!columnNames(db, 'runs').has('scenario'))
      db.exec('ALTER TABLE runs ADD COLUMN scenario TEXT');
    db.exec(`
      CREATE INDEX IF NOT EXISTS idx_trace_events_run_id ON trace_events(run_id);
      CREATE INDEX IF NOT EXISTS idx_runs_condition ON runs(condition);
    `);
  },
];

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
  const inMemory = file === ':memory:' || file === '';
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
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
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
 * rows. A seed file (user_version 0 with the seed's tables) counts as version
 * 1. Safe when several processes open the same file at once: the version is
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
    if (version === 0 && hasTable(db, 'runs') && hasTable(db, 'trace_events')) {
      requireTelemetryTables(db, file);
      version = 1;
    }
    for (; version < TELEMETRY_SCHEMA_VERSION; version++) MIGRATIONS[version]!(db, file);
    db.pragma(`user_version = ${TELEMETRY_SCHEMA_VERSION}`);
    db.exec('COMMIT');
  } catch (err) {
    if (db.inTransaction) db.exec('ROLLBACK');
    throw err;
  }
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
 * Checks that the telemetry tables exist with the seed's columns, and says
 * which are missing in terms a person can act on. Used by readers, which must
 * not migrate (they open read-only).
 *
 * @example
 * requireTelemetryTables(openSqlite('results.db', { readonly: true }), 'results.db');
 */
export function requireTelemetryTables(db: SqliteDatabase, file: string): void {
  for (const [table, wanted] of Object.entries(TELEMETRY_COLUMNS)) {
    if (!hasTable(db, table)) {
      throw new ConfigError({
        file,
        problem: `not a hitloop telemetry database: table "${table}" is missing`,
        fix: 'give the path of a database written by hitloop (or the seed) TelemetryLogger',
      });
    }
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
 * columnNames(db, 'runs').has('scenario') // false for a seed file
 */
export function columnNames(db: SqliteDatabase, table: string): Set<string> {
  const rows = db.prepare('SELECT name FROM pragma_table_info(?)').all(table) as Array<{
    name: string;
  }>;
  return new Set(rows.map((r) => r.name));
}

function hasTable(db: SqliteDatabase, table: string): boolean {
  return (
    db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(table) !==
    undefined
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
  for (let wait = 5; ; wait = Math.min(wait * 2, 100)) {
    try {
      return fn();
    } catch (err) {
      const code = (err as { code?: unknown } | null)?.code;
      const busy = code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED';
      if (!busy || Date.now() >= deadline) throw err;
      // Opening is synchronous (the constructor of a synchronous logger), so
      // block briefly rather than spin.
      Atomics.wait(sleeper, 0, 0, wait);
    }
  }
}
