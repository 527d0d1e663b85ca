// SQLite result codes by number, named as better-sqlite3 names them in an
// error's `code`. node:sqlite reports only the number (`errcode`); hitloop's
// callers test the names (SQLITE_BUSY, SQLITE_NOTADB, ...), so the node:sqlite
// adapter puts the name in `code` too. From sqlite3.h.

const PRIMARY: readonly string[] = [
  'OK',
  'ERROR',
  'INTERNAL',
  'PERM',
  'ABORT',
  'BUSY',
  'LOCKED',
  'NOMEM',
  'READONLY',
  'INTERRUPT',
  'IOERR',
  'CORRUPT',
  'NOTFOUND',
  'FULL',
  'CANTOPEN',
  'PROTOCOL',
  'EMPTY',
  'SCHEMA',
  'TOOBIG',
  'CONSTRAINT',
  'MISMATCH',
  'MISUSE',
  'NOLFS',
  'AUTH',
  'FORMAT',
  'RANGE',
  'NOTADB',
  'NOTICE',
  'WARNING',
];

// Extended codes are the primary code plus (n << 8).
const EXTENDED: Readonly<Record<number, string>> = {
  261: 'BUSY_RECOVERY',
  517: 'BUSY_SNAPSHOT',
  773: 'BUSY_TIMEOUT',
  262: 'LOCKED_SHAREDCACHE',
  518: 'LOCKED_VTAB',
  264: 'READONLY_RECOVERY',
  520: 'READONLY_CANTLOCK',
  776: 'READONLY_ROLLBACK',
  1032: 'READONLY_DBMOVED',
  1288: 'READONLY_CANTINIT',
  1544: 'READONLY_DIRECTORY',
  266: 'IOERR_READ',
  522: 'IOERR_SHORT_READ',
  778: 'IOERR_WRITE',
  1034: 'IOERR_FSYNC',
  1290: 'IOERR_DIR_FSYNC',
  1546: 'IOERR_TRUNCATE',
  1802: 'IOERR_FSTAT',
  2058: 'IOERR_UNLOCK',
  2314: 'IOERR_RDLOCK',
  2570: 'IOERR_DELETE',
  3082: 'IOERR_NOMEM',
  3338: 'IOERR_ACCESS',
  3594: 'IOERR_CHECKRESERVEDLOCK',
  3850: 'IOERR_LOCK',
  4106: 'IOERR_CLOSE',
  4618: 'IOERR_SHMOPEN',
  4874: 'IOERR_SHMSIZE',
  5386: 'IOERR_SHMMAP',
  5642: 'IOERR_SEEK',
  5898: 'IOERR_DELETE_NOENT',
  6154: 'IOERR_MMAP',
  6410: 'IOERR_GETTEMPPATH',
  6666: 'IOERR_CONVPATH',
  267: 'CORRUPT_VTAB',
  523: 'CORRUPT_SEQUENCE',
  779: 'CORRUPT_INDEX',
  270: 'CANTOPEN_NOTEMPDIR',
  526: 'CANTOPEN_ISDIR',
  782: 'CANTOPEN_FULLPATH',
  1038: 'CANTOPEN_CONVPATH',
  1550: 'CANTOPEN_SYMLINK',
  275: 'CONSTRAINT_CHECK',
  531: 'CONSTRAINT_COMMITHOOK',
  787: 'CONSTRAINT_FOREIGNKEY',
  1043: 'CONSTRAINT_FUNCTION',
  1299: 'CONSTRAINT_NOTNULL',
  1555: 'CONSTRAINT_PRIMARYKEY',
  1811: 'CONSTRAINT_TRIGGER',
  2067: 'CONSTRAINT_UNIQUE',
  2323: 'CONSTRAINT_VTAB',
  2579: 'CONSTRAINT_ROWID',
  2835: 'CONSTRAINT_PINNED',
  3091: 'CONSTRAINT_DATATYPE',
  516: 'ABORT_ROLLBACK',
};

/**
 * The name better-sqlite3 gives a SQLite result code; an extended code
 * without a name here gets its primary code's name.
 *
 * @example
 * sqliteCodeName(5) // 'SQLITE_BUSY'
 * sqliteCodeName(2067) // 'SQLITE_CONSTRAINT_UNIQUE'
 */
export function sqliteCodeName(code: number): string {
  const name = EXTENDED[code] ?? PRIMARY[code & 0xff] ?? `UNKNOWN_${code}`;
  return `SQLITE_${name}`;
}
