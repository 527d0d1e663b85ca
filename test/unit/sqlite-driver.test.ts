import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { openSqlite, sqliteDriverName } from '../../shared/sqlite/open.js';
import { makeTempDir } from '../helpers/temp-dir.js';

// The driver layer's contract, as better-sqlite3 behaves. The same file runs
// under the system Node (better-sqlite3) and, through
// scripts/test-sqlite-runtimes.sh, under Node 22.13, 22.23 and 24 (node:sqlite),
// so both drivers are held to the same expectations.

const dir = () => makeTempDir('hitloop-sqlite-driver-');
const errorCode = (fn: () => unknown): unknown => {
  try {
    fn();
  } catch (err) {
    return (err as { code?: unknown }).code;
  }
  return 'no error';
};

describe('the SQLite driver', () => {
  it('is the one this runtime is expected to use', () => {
    const expected =
      process.env.HITLOOP_EXPECT_SQLITE_DRIVER ??
      // The system Node has better-sqlite3 built for it by npm ci.
      (Number(process.versions.node.split('.')[0]) < 22 ? 'better-sqlite3' : undefined);
    if (expected) expect(sqliteDriverName()).toBe(expected);
    else expect(['better-sqlite3', 'node:sqlite']).toContain(sqliteDriverName());
  });

  it('runs statements: positional, spread arrays, named, get/all/iterate/pluck, run results', () => {
    const db = openSqlite(':memory:');
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, n INTEGER)');
    const insert = db.prepare('INSERT INTO t (name, n) VALUES (?, ?)');
    expect(insert.run('a', 1)).toEqual({ changes: 1, lastInsertRowid: 1 });
    expect(insert.run(['b', 2]).lastInsertRowid).toBe(2);
    db.prepare('INSERT INTO t (name, n) VALUES (@name, @n)').run({ name: 'c', n: 3 });
    // Keys the statement does not use are ignored, as better-sqlite3 does;
    // node:sqlite can only since Node 22.15 (documented in docs/telemetry.md).
    const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
    const extraKeys = () => db.prepare('SELECT @n AS n').pluck().get({ n: 1, unused: 2 });
    if (sqliteDriverName() === 'better-sqlite3' || major > 22 || minor >= 15)
      expect(extraKeys()).toBe(1);
    else expect(extraKeys).toThrow("Unknown named parameter 'unused'");
    const select = db.prepare('SELECT name, n FROM t WHERE n >= ? ORDER BY n');
    expect({ ...(select.get(2) as object) }).toEqual({ name: 'b', n: 2 });
    expect(select.all(1).map((r) => ({ ...(r as object) }))).toEqual([
      { name: 'a', n: 1 },
      { name: 'b', n: 2 },
      { name: 'c', n: 3 },
    ]);
    expect([...select.iterate(2)].length).toBe(2);
    expect(db.prepare('SELECT name FROM t ORDER BY n').pluck().all()).toEqual(['a', 'b', 'c']);
    expect(db.prepare('SELECT count(*) FROM t').pluck().get()).toBe(3);
    expect(select.get(99)).toBeUndefined();
    expect(db.prepare('DELETE FROM t WHERE n < ?').run(3).changes).toBe(2);
    db.close();
  });

  it('answers pragmas as rows, or with simple as one value', () => {
    const file = join(dir(), 'p.db');
    const db = openSqlite(file);
    // better-sqlite3's default, so a lock held elsewhere is waited for.
    expect(db.pragma('busy_timeout', { simple: true })).toBe(5000);
    expect(db.pragma('journal_mode = WAL', { simple: true })).toBe('wal');
    db.pragma('user_version = 7');
    expect(db.pragma('user_version', { simple: true })).toBe(7);
    expect(db.pragma('user_version')).toEqual([{ user_version: 7 }]);
    db.close();
  });

  it('commits, rolls back on a throw, nests as savepoints, and refuses a promise', () => {
    const db = openSqlite(':memory:');
    db.exec('CREATE TABLE t (v TEXT)');
    const add = db.prepare('INSERT INTO t (v) VALUES (?)');
    const count = () => db.prepare('SELECT count(*) AS n FROM t').get() as { n: number };
    const both = db.transaction((a: string, b: string) => {
      add.run(a);
      expect(db.inTransaction).toBe(true);
      add.run(b);
      return 'done';
    });
    expect(both('x', 'y')).toBe('done');
    expect(db.inTransaction).toBe(false);
    expect(count().n).toBe(2);

    const failing = db.transaction(() => {
      add.run('lost');
      throw new Error('boom');
    });
    expect(() => failing.immediate()).toThrow('boom');
    expect(db.inTransaction).toBe(false);
    expect(count().n).toBe(2);

    const inner = db.transaction(() => {
      add.run('inner');
      throw new Error('inner fails');
    });
    db.transaction(() => {
      add.run('outer');
      expect(() => inner()).toThrow('inner fails');
    }).exclusive();
    expect(db.prepare('SELECT v FROM t ORDER BY rowid').pluck().all()).toEqual(['x', 'y', 'outer']);

    const asyncFn = db.transaction(async () => add.run('never'));
    expect(() => asyncFn()).toThrow(TypeError);
    expect(db.inTransaction).toBe(false);
    expect(count().n).toBe(3);

    // BEGIN/ROLLBACK by hand, as the record-update scenario does.
    db.exec('BEGIN');
    expect(db.inTransaction).toBe(true);
    add.run('undone');
    db.exec('ROLLBACK');
    expect(db.inTransaction).toBe(false);
    expect(count().n).toBe(3);
    db.close();
  });

  it("names errors as better-sqlite3 does, so callers' code checks hold", () => {
    const base = dir();
    const db = openSqlite(':memory:');
    db.exec('CREATE TABLE t (id TEXT PRIMARY KEY)');
    db.prepare('INSERT INTO t VALUES (?)').run('a');
    expect(errorCode(() => db.prepare('INSERT INTO t VALUES (?)').run('a'))).toBe(
      'SQLITE_CONSTRAINT_PRIMARYKEY',
    );
    expect(errorCode(() => db.prepare('SELECT * FROM nope'))).toBe('SQLITE_ERROR');
    db.close();

    const text = join(base, 'not-a-db.db');
    writeFileSync(text, 'this is not a database, just some text that is long enough'.repeat(20));
    expect(errorCode(() => openSqlite(text).prepare('SELECT 1 FROM sqlite_master').all())).toBe(
      'SQLITE_NOTADB',
    );
    expect(
      errorCode(() =>
        openSqlite(join(base, 'missing.db'), { readonly: true, fileMustExist: true }),
      ),
    ).toBe('SQLITE_CANTOPEN');

    const file = join(base, 'ro.db');
    openSqlite(file).exec('CREATE TABLE t (v)').close();
    const ro = openSqlite(file, { readonly: true });
    expect(errorCode(() => ro.exec("INSERT INTO t VALUES ('x')"))).toBe('SQLITE_READONLY');
    ro.close();

    // Two connections, one holding the write lock: the other is told BUSY.
    const wal = join(base, 'busy.db');
    const a = openSqlite(wal);
    a.pragma('journal_mode = WAL');
    a.exec('CREATE TABLE t (v)');
    const b = openSqlite(wal);
    b.pragma('busy_timeout = 0');
    a.exec('BEGIN IMMEDIATE');
    expect(errorCode(() => b.exec('BEGIN IMMEDIATE'))).toBe('SQLITE_BUSY');
    a.exec('ROLLBACK');
    a.close();
    b.close();
  });

  it('reports closed, and closing twice is harmless', () => {
    const db = openSqlite(':memory:');
    expect(db.open).toBe(true);
    db.close();
    expect(db.open).toBe(false);
    expect(() => db.close()).not.toThrow();
  });
});

describe('choosing a driver', () => {
  // A fresh process per case, since the choice is made once per process; it
  // imports the built library (npm run build), which needs no transpiler.
  const built = pathToFileURL(
    join(import.meta.dirname, '..', '..', 'dist', 'shared', 'sqlite', 'open.js'),
  ).href;
  const child = (env: Record<string, string>) =>
    spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { openSqlite, sqliteDriverName } from ${JSON.stringify(built)};
         try { openSqlite(':memory:').close(); console.log(sqliteDriverName()); }
         catch (err) { console.log(err.code + ': ' + err.message); }`,
      ],
      { encoding: 'utf8', env: { ...process.env, ...env } },
    );

  it('refuses an unknown HITLOOP_SQLITE_DRIVER, naming the choices', () => {
    const out = child({ HITLOOP_SQLITE_DRIVER: 'sqlite3' }).stdout;
    expect(out).toContain('HITLOOP_SQLITE_UNAVAILABLE');
    expect(out).toContain('better-sqlite3, node:sqlite or auto');
  });

  // The driver this runtime lacks: node:sqlite before Node 22, else
  // better-sqlite3 when it did not load (built for another Node).
  const lacks =
    Number(process.versions.node.split('.')[0]) < 22
      ? 'node:sqlite'
      : sqliteDriverName() === 'node:sqlite'
        ? 'better-sqlite3'
        : undefined;

  it.skipIf(!lacks)('says why a forced driver does not load here, and how to fix it', () => {
    const out = child({ HITLOOP_SQLITE_DRIVER: lacks! }).stdout;
    expect(out).toContain(`HITLOOP_SQLITE_UNAVAILABLE: HITLOOP_SQLITE_DRIVER=${lacks}, but`);
    expect(out).toContain(`Node ${process.versions.node}`);
    expect(out).toContain('Unset HITLOOP_SQLITE_DRIVER');
  });

  it('a forced driver that loads is used', () => {
    expect(child({ HITLOOP_SQLITE_DRIVER: sqliteDriverName() }).stdout.trim()).toBe(
      sqliteDriverName(),
    );
  });
});
