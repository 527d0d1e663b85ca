export {
  openSqlite,
  SQLITE_DRIVER_ENV,
  SqliteUnavailableError,
  sqliteDriverName,
} from './open.js';
export type {
  SqliteDatabase,
  SqliteDriverName,
  SqliteOpenOptions,
  SqliteParam,
  SqliteRunResult,
  SqliteStatement,
  SqliteTransaction,
} from './types.js';
