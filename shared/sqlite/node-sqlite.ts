import { existsSync } from 'node:fs';
import { sqliteCodeName } from './error-codes.js';
import { isMemoryDatabase } from './memory-path.js';
import type {
  SqliteDatabase,
  SqliteOpenOptions,
  SqliteParam,
  SqliteRunResult,
  SqliteStatement,
  SqliteTransaction,
  TransactionArgs,
  TransactionFunction,
} from './types.js';

// better-sqlite3's API over Node's built-in node:sqlite (DatabaseSync). The
// differences it covers: no pragma() or transaction() helpers; errors carry a
// number (`errcode`) instead of better-sqlite3's `code` name; arrays are not
// spread into parameters; `isOpen` (22.15) and `isTransaction` (22.16) are
// missing from the oldest Nodes that have node:sqlite without a flag (22.13),
// so both are also tracked here. The types are declared here because
// @types/node for Node 20 has none.

/** The members of node:sqlite's StatementSync used here. */
export interface NodeStatementSync {
  run(...params: unknown[]): { changes: number | bigint; lastInsertRowid: number | bigint };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  iterate?(...params: unknown[]): IterableIterator<unknown>;
  setAllowUnknownNamedParameters?(enabled: boolean): void;
}

/** The members of node:sqlite's DatabaseSync used here. */
export interface NodeDatabaseSync {
  prepare(sql: string): NodeStatementSync;
  exec(sql: string): void;
  close(): void;
  readonly isOpen?: boolean;
  readonly isTransaction?: boolean;
}

/** node:sqlite's module: the DatabaseSync class. */
export interface NodeSqliteModule {
  DatabaseSync: new (path: string, options?: { readOnly?: boolean }) => NodeDatabaseSync;
}

/**
 * Gives a node:sqlite error better-sqlite3's `code` (e.g. `SQLITE_BUSY`) from
 * its `errcode`, keeping the message; anything else is returned unchanged.
 *
 * @example
 * try { stmt.run(); } catch (err) { throw asSqliteError(err); }
 */
export function asSqliteError(err: unknown): unknown {
  if (err instanceof Error && typeof (err as { errcode?: unknown }).errcode === 'number') {
    try {
      (err as { code?: string }).code = sqliteCodeName(
        (err as unknown as { errcode: number }).errcode,
      );
    } catch {
      // A frozen error keeps its own code.
    }
  }
  return err;
}

// better-sqlite3 spreads arrays given as parameters; node:sqlite binds
// positional parameters only as separate arguments.
function bindable(params: readonly SqliteParam[]): unknown[] {
  if (!params.some(Array.isArray)) return params as unknown[];
  return params.flatMap((p) => (Array.isArray(p) ? p : [p]));
}

class NodeSqliteStatement implements SqliteStatement {
  private plucking = false;

  constructor(private readonly statement: NodeStatementSync) {
    // As better-sqlite3: keys of a named-parameter object that the statement
    // does not use are ignored (Node 22.15+; before, they are an error).
    statement.setAllowUnknownNamedParameters?.(true);
  }

  pluck(toggle = true): this {
    this.plucking = toggle;
    return this;
  }

  private row(row: unknown): unknown {
    return this.plucking && row !== undefined
      ? Object.values(row as Record<string, unknown>)[0]
      : row;
  }

  run(...params: SqliteParam[]): SqliteRunResult {
    try {
      const result = this.statement.run(...bindable(params));
      return { changes: Number(result.changes), lastInsertRowid: result.lastInsertRowid };
    } catch (err) {
      throw asSqliteError(err);
    }
  }

  get(...params: SqliteParam[]): unknown {
    try {
      return this.row(this.statement.get(...bindable(params)));
    } catch (err) {
      throw asSqliteError(err);
    }
  }

  all(...params: SqliteParam[]): unknown[] {
    try {
      const rows = this.statement.all(...bindable(params));
      return this.plucking ? rows.map((r) => this.row(r)) : rows;
    } catch (err) {
      throw asSqliteError(err);
    }
  }

  *iterate(...params: SqliteParam[]): IterableIterator<unknown> {
    try {
      const rows = this.statement.iterate
        ? this.statement.iterate(...bindable(params))
        : this.statement.all(...bindable(params));
      for (const row of rows) yield this.row(row);
    } catch (err) {
      throw asSqliteError(err);
    }
  }
}

const TRANSACTION_CONTROL = /^\s*(BEGIN|COMMIT|END|ROLLBACK)\b(?!\s+(TRANSACTION\s+)?TO\b)/i;

/**
 * A node:sqlite database behind the interface hitloop's SQLite code uses.
 *
 * @example
 * const db = new NodeSqliteDatabase(process.getBuiltinModule('node:sqlite'), 'telemetry.db');
 * db.transaction(() => db.prepare('INSERT INTO runs (run_id) VALUES (?)').run('r1')).immediate();
 */
export class NodeSqliteDatabase implements SqliteDatabase {
  private readonly db: NodeDatabaseSync;
  private closed = false;
  /** Whether a transaction is open, for Nodes without `isTransaction`. */
  private tracked = false;
  private savepoints = 0;

  constructor(sqlite: NodeSqliteModule, file: string, options: SqliteOpenOptions = {}) {
    const memory = isMemoryDatabase(file);
    if (options.fileMustExist && !memory && !existsSync(file)) {
      // What better-sqlite3 throws for the same case.
      const err = new Error('unable to open database file') as Error & { code: string };
      err.code = 'SQLITE_CANTOPEN';
      throw err;
    }
    try {
      this.db = new sqlite.DatabaseSync(file, options.readonly ? { readOnly: true } : {});
      // better-sqlite3 opens with a 5 s busy timeout; node:sqlite with none,
      // which would fail at once where another process holds a lock.
      this.db.exec('PRAGMA busy_timeout = 5000');
    } catch (err) {
      throw asSqliteError(err);
    }
  }

  get open(): boolean {
    return typeof this.db.isOpen === 'boolean' ? this.db.isOpen : !this.closed;
  }

  get inTransaction(): boolean {
    if (!this.open) return false;
    return typeof this.db.isTransaction === 'boolean' ? this.db.isTransaction : this.tracked;
  }

  prepare(sql: string): SqliteStatement {
    try {
      return new NodeSqliteStatement(this.db.prepare(sql));
    } catch (err) {
      throw asSqliteError(err);
    }
  }

  exec(sql: string): this {
    const control = TRANSACTION_CONTROL.exec(sql)?.[1]?.toUpperCase();
    try {
      this.db.exec(sql);
    } catch (err) {
      // Without isTransaction, a ROLLBACK after SQLite already rolled back
      // (SQLITE_FULL, SQLITE_IOERR) is the only way to learn it did.
      if (control === 'ROLLBACK' && typeof this.db.isTransaction !== 'boolean') {
        this.tracked = false;
        return this;
      }
      throw asSqliteError(err);
    }
    if (control) this.tracked = control === 'BEGIN';
    return this;
  }

  pragma(source: string, options: { simple?: boolean } = {}): unknown {
    const statement = this.prepare(`PRAGMA ${source}`);
    if (!options.simple) return statement.all();
    const row = statement.get() as Record<string, unknown> | undefined;
    return row === undefined ? undefined : Object.values(row)[0];
  }

  transaction<F extends TransactionFunction>(fn: F): SqliteTransaction<F> {
    const run =
      (begin: string) =>
      (...args: TransactionArgs<F>): ReturnType<F> => {
        if (this.inTransaction) return this.inSavepoint(fn, args);
        this.exec(begin);
        try {
          const result = fn(...args) as ReturnType<F>;
          notAPromise(result);
          this.exec('COMMIT');
          return result;
        } catch (err) {
          if (this.inTransaction) this.exec('ROLLBACK');
          throw err;
        }
      };
    const deferred = run('BEGIN');
    return Object.assign(deferred, {
      deferred,
      immediate: run('BEGIN IMMEDIATE'),
      exclusive: run('BEGIN EXCLUSIVE'),
    });
  }

  close(): this {
    if (this.open) this.db.close();
    this.closed = true;
    this.tracked = false;
    return this;
  }

  private inSavepoint<F extends TransactionFunction>(
    fn: F,
    args: TransactionArgs<F>,
  ): ReturnType<F> {
    const name = `hitloop_sp_${++this.savepoints}`;
    this.exec(`SAVEPOINT ${name}`);
    try {
      const result = fn(...args) as ReturnType<F>;
      notAPromise(result);
      this.exec(`RELEASE ${name}`);
      return result;
    } catch (err) {
      if (this.inTransaction) {
        this.exec(`ROLLBACK TO ${name}`);
        this.exec(`RELEASE ${name}`);
      }
      throw err;
    } finally {
      this.savepoints--;
    }
  }
}

// As better-sqlite3: a transaction cannot span an await, since other
// statements would run inside it meanwhile.
function notAPromise(value: unknown): void {
  if (value && typeof (value as { then?: unknown }).then === 'function')
    throw new TypeError('Transaction function cannot return a promise');
}
