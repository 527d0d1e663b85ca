import { createRequire } from 'node:module';
import { NodeSqliteDatabase, type NodeSqliteModule } from './node-sqlite.js';
import type { SqliteDatabase, SqliteDriverName, SqliteOpenOptions } from './types.js';

// Which SQLite driver a process uses, chosen once:
// 1. better-sqlite3 where it loads: its native module must be built for this
//    very runtime (npm builds it for the Node that installed hitloop);
// 2. else node:sqlite, built into Node >= 22.13 (and 22.5 with
//    --experimental-sqlite), so into the Node of code-server and of VS Code's
//    remote server, and the Electron of desktop VS Code: the proxy carried in
//    the VSIX uses this one;
// 3. else an error naming both reasons and the fixes.
// HITLOOP_SQLITE_DRIVER=better-sqlite3 or node:sqlite forces one (tests, or
// to rule a driver out); a forced driver that does not load is an error.

/** The environment variable that forces a driver. */
export const SQLITE_DRIVER_ENV = 'HITLOOP_SQLITE_DRIVER';

type Opener = (file: string, options: SqliteOpenOptions) => SqliteDatabase;

interface Driver {
  name: SqliteDriverName;
  open: Opener;
}

let chosen: Driver | undefined;

/**
 * No SQLite driver loads in this runtime. `reasons` says why each failed.
 *
 * @example
 * try { openSqlite(file); } catch (err) { if (err instanceof SqliteUnavailableError) console.error(err.message); }
 */
export class SqliteUnavailableError extends Error {
  readonly code = 'HITLOOP_SQLITE_UNAVAILABLE' as const;
  readonly reasons: Readonly<Partial<Record<SqliteDriverName, string>>>;

  constructor(message: string, reasons: Partial<Record<SqliteDriverName, string>>) {
    super(message);
    this.name = 'SqliteUnavailableError';
    this.reasons = reasons;
  }
}

// import.meta.url is this module's file, so better-sqlite3 resolves from
// hitloop's own node_modules, as a static import would.
const requireHere = createRequire(import.meta.url);

function loadBetterSqlite3(): Opener {
  const Database = requireHere('better-sqlite3') as new (
    file: string,
    options?: { readonly?: boolean; fileMustExist?: boolean },
  ) => SqliteDatabase;
  // The native module loads with the first database: a build for another
  // Node (NODE_MODULE_VERSION mismatch) fails here, not at require.
  new Database(':memory:').close();
  return (file, options) => new Database(file, options);
}

function loadNodeSqlite(): Opener {
  const sqlite = withoutSqliteWarning(() => {
    const builtin = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule?.(
      'node:sqlite',
    );
    return (builtin ?? requireHere('node:sqlite')) as NodeSqliteModule;
  });
  if (typeof sqlite?.DatabaseSync !== 'function')
    throw new Error('node:sqlite has no DatabaseSync');
  return (file, options) => new NodeSqliteDatabase(sqlite, file, options);
}

// Node 22 and 24 print "ExperimentalWarning: SQLite is an experimental
// feature" when node:sqlite loads; for a proxy that line lands in the MCP
// client's log as if something were wrong. Only that warning is held back.
function withoutSqliteWarning<T>(load: () => T): T {
  const emit = process.emitWarning;
  process.emitWarning = function (this: unknown, warning: string | Error, ...rest: unknown[]) {
    const text = typeof warning === 'string' ? warning : warning?.message;
    const type =
      typeof rest[0] === 'string' ? rest[0] : (rest[0] as { type?: string } | undefined)?.type;
    if (type === 'ExperimentalWarning' && /sqlite/i.test(String(text))) return;
    return (emit as (...args: unknown[]) => void).call(process, warning, ...rest);
  } as typeof process.emitWarning;
  try {
    return load();
  } finally {
    process.emitWarning = emit;
  }
}

const LOADERS: Record<SqliteDriverName, () => Opener> = {
  'better-sqlite3': loadBetterSqlite3,
  'node:sqlite': loadNodeSqlite,
};

function reason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n')[0] ?? message;
}

function choose(): Driver {
  const forced = process.env[SQLITE_DRIVER_ENV]?.trim();
  const reasons: Partial<Record<SqliteDriverName, string>> = {};
  if (forced && forced !== 'auto') {
    if (forced !== 'better-sqlite3' && forced !== 'node:sqlite') {
      throw new SqliteUnavailableError(
        `${SQLITE_DRIVER_ENV}=${forced} names no SQLite driver; use better-sqlite3, node:sqlite or auto (or unset it)`,
        {},
      );
    }
    try {
      return { name: forced, open: LOADERS[forced]() };
    } catch (err) {
      reasons[forced] = reason(err);
      throw new SqliteUnavailableError(
        `${SQLITE_DRIVER_ENV}=${forced}, but ${forced} does not load in this runtime (Node ${process.versions.node}): ${reasons[forced]}. Unset ${SQLITE_DRIVER_ENV} to let hitloop pick the driver that loads.`,
        reasons,
      );
    }
  }
  for (const name of ['better-sqlite3', 'node:sqlite'] as const) {
    try {
      return { name, open: LOADERS[name]() };
    } catch (err) {
      reasons[name] = reason(err);
    }
  }
  throw new SqliteUnavailableError(
    `hitloop needs SQLite, and no driver loads in this runtime (Node ${process.versions.node}${process.versions.electron ? `, Electron ${process.versions.electron}` : ''}): better-sqlite3: ${reasons['better-sqlite3']}; node:sqlite: ${reasons['node:sqlite']}. Fix: run hitloop with Node 22.13 or newer (node:sqlite is built in), or rebuild better-sqlite3 for this Node (npm rebuild better-sqlite3).`,
    reasons,
  );
}

function driver(): Driver {
  chosen ??= choose();
  return chosen;
}

/**
 * The SQLite driver this process uses (loading it on first call); throws a
 * SqliteUnavailableError when none loads.
 *
 * @example
 * sqliteDriverName() // 'better-sqlite3' under the Node that installed hitloop, 'node:sqlite' in VS Code
 */
export function sqliteDriverName(): SqliteDriverName {
  return driver().name;
}

/**
 * Where another thread finds this process's driver: its name, and for
 * better-sqlite3 the resolved path of the package, so a worker loads the
 * very build that loaded here.
 *
 * @example
 * const { name, modulePath } = sqliteDriverModule(); // 'better-sqlite3', '/…/node_modules/better-sqlite3/lib/index.js'
 */
export function sqliteDriverModule(): { name: SqliteDriverName; modulePath?: string } {
  const name = driver().name;
  return name === 'better-sqlite3'
    ? { name, modulePath: requireHere.resolve('better-sqlite3') }
    : { name };
}

/**
 * Opens (creating unless `readonly` or `fileMustExist`) a SQLite database
 * with the driver this runtime has (see sqliteDriverName). `:memory:` works.
 *
 * @example
 * const db = openSqlite(join(hitloopHome(), 'approvals.db'));
 * db.pragma('journal_mode = WAL');
 */
export function openSqlite(file: string, options: SqliteOpenOptions = {}): SqliteDatabase {
  return driver().open(file, options);
}
