// The part of better-sqlite3's API hitloop uses, as an interface both SQLite
// drivers satisfy: better-sqlite3 itself (a native module, built for one Node)
// and an adapter over Node's built-in node:sqlite (Node >= 22.13, so also VS
// Code's runtime, where a native module built for the system Node does not
// load). Same SQL, same files, same semantics.

/**
 * Values a statement binds: numbers, strings, bigints, Uint8Arrays and null;
 * an array is spread, a plain object gives named parameters (`@name`).
 *
 * @example
 * db.prepare('SELECT * FROM runs WHERE run_id = ?').get('r1');
 */
export type SqliteParam = unknown;

/**
 * What `run` reports.
 *
 * @example
 * const { changes } = db.prepare('DELETE FROM runs WHERE run_id = ?').run('r1');
 */
export interface SqliteRunResult {
  changes: number;
  lastInsertRowid: number | bigint;
}

/**
 * A prepared statement.
 *
 * @example
 * const select = db.prepare('SELECT payload FROM trace_events WHERE run_id = ?');
 * for (const row of select.iterate('r1')) console.log(row);
 */
export interface SqliteStatement {
  run(...params: SqliteParam[]): SqliteRunResult;
  get(...params: SqliteParam[]): unknown;
  all(...params: SqliteParam[]): unknown[];
  iterate(...params: SqliteParam[]): IterableIterator<unknown>;
  /** From now on rows are their first column's value instead of objects (false turns it off). */
  pluck(toggle?: boolean): this;
}

/**
 * A function wrapped in a transaction: BEGIN (`deferred`, the default),
 * BEGIN IMMEDIATE or BEGIN EXCLUSIVE before it, COMMIT after, ROLLBACK when
 * it throws; called inside another transaction, a savepoint instead.
 *
 * @example
 * const settle = db.transaction((id: string) => db.prepare('UPDATE approvals SET status = ? WHERE id = ?').run('approved', id));
 * settle.immediate('a1');
 */
export interface SqliteTransaction<F extends TransactionFunction> {
  (...args: TransactionArgs<F>): ReturnType<F>;
  deferred(...args: TransactionArgs<F>): ReturnType<F>;
  immediate(...args: TransactionArgs<F>): ReturnType<F>;
  exclusive(...args: TransactionArgs<F>): ReturnType<F>;
}

// Declared as @types/better-sqlite3 declares them, so that a better-sqlite3
// Database (which callers may still pass in) is a SqliteDatabase.
/**
 * A function a transaction can wrap.
 *
 * @example
 * const fn: TransactionFunction = (id: string) => id;
 */
// biome-ignore lint/suspicious/noExplicitAny: matches better-sqlite3's own declaration
export type TransactionFunction = (...params: any[]) => unknown;
/**
 * The parameters of a wrapped function.
 *
 * @example
 * type A = TransactionArgs<(id: string) => void>; // [id: string]
 */
export type TransactionArgs<F extends TransactionFunction> = F extends (...args: infer A) => unknown
  ? A
  : never;

/**
 * An open SQLite database.
 *
 * @example
 * const db: SqliteDatabase = openSqlite('telemetry.db');
 * db.pragma('journal_mode = WAL');
 * db.pragma('user_version', { simple: true }); // 2
 */
export interface SqliteDatabase {
  /** False once closed. */
  readonly open: boolean;
  /** True between BEGIN and COMMIT/ROLLBACK. */
  readonly inTransaction: boolean;
  prepare(sql: string): SqliteStatement;
  /** Runs one or more statements without results. */
  exec(sql: string): this;
  /** `PRAGMA <source>`: every row, or with `simple` the first column of the first row. */
  pragma(source: string, options?: { simple?: boolean }): unknown;
  transaction<F extends TransactionFunction>(fn: F): SqliteTransaction<F>;
  close(): this;
}

/**
 * How to open a database.
 *
 * @example
 * openSqlite('results.db', { readonly: true, fileMustExist: true });
 */
export interface SqliteOpenOptions {
  readonly?: boolean;
  /** Fail (SQLITE_CANTOPEN) instead of creating a missing file. */
  fileMustExist?: boolean;
}

/**
 * The two drivers.
 *
 * @example
 * const name: SqliteDriverName = sqliteDriverName();
 */
export type SqliteDriverName = 'better-sqlite3' | 'node:sqlite';
