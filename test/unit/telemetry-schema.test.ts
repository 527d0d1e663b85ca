import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../shared/errors.js';
import { openSqlite } from '../../shared/sqlite/open.js';
import type { SqliteDatabase } from '../../shared/sqlite/types.js';
import { TelemetryLogger } from '../../shared/telemetry/logger.js';
import { TELEMETRY_SCHEMA_VERSION } from '../../shared/telemetry/schema.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hitloop-telemetry-schema-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function columns(db: SqliteDatabase, table: string): string[] {
  return (db.prepare('SELECT name FROM pragma_table_info(?)').all(table) as { name: string }[]).map(
    (r) => r.name,
  );
}

function indexes(db: SqliteDatabase): string[] {
  return (
    db
      .prepare(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'idx_%' ORDER BY name",
      )
      .all() as { name: string }[]
  ).map((r) => r.name);
}

/** The seed's layout, created by hand the way the Python library did (user_version never set). */
function createSeedFile(file: string, userVersion = 0): void {
  const db = openSqlite(file);
  db.exec(`
    CREATE TABLE runs (run_id TEXT PRIMARY KEY, condition TEXT, start_time TEXT, end_time TEXT, success INTEGER, metadata TEXT);
    CREATE TABLE trace_events (event_id TEXT PRIMARY KEY, run_id TEXT, event_type TEXT, timestamp TEXT, payload TEXT);
  `);
  const run = db.prepare('INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?)');
  run.run(
    'seed-1',
    'risk_based',
    '2024-05-01T10:00:00.000Z',
    '2024-05-01T10:05:00.000Z',
    1,
    '{"seed":42}',
  );
  run.run('seed-2', 'always_approve', '2024-05-01T11:00:00.000Z', null, null, '{}');
  const event = db.prepare('INSERT INTO trace_events VALUES (?, ?, ?, ?, ?)');
  event.run(
    'e1',
    'seed-1',
    'action_proposed',
    '2024-05-01T10:00:01.000Z',
    '{"action_id":"a1","tool_name":"send_email"}',
  );
  event.run(
    'e2',
    'seed-1',
    'approval_decided',
    '2024-05-01T10:00:02.000Z',
    '{"action_id":"a1","approved":false,"latency_ms":1200}',
  );
  event.run('e3', 'seed-2', 'run_start', '2024-05-01T11:00:00.000Z', '{}');
  if (userVersion) db.pragma(`user_version = ${userVersion}`);
  db.close();
}

describe('telemetry schema', () => {
  it('creates the seed tables plus scenario, both indexes, WAL and user_version 2', () => {
    const file = join(dir, 'new.db');
    new TelemetryLogger({ dbPath: file }).close();
    const db = openSqlite(file, { readonly: true });
    expect(columns(db, 'runs')).toEqual([
      'run_id',
      'condition',
      'start_time',
      'end_time',
      'success',
      'metadata',
      'scenario',
    ]);
    expect(columns(db, 'trace_events')).toEqual([
      'event_id',
      'run_id',
      'event_type',
      'timestamp',
      'payload',
    ]);
    expect(indexes(db)).toEqual(['idx_runs_condition', 'idx_trace_events_run_id']);
    expect(db.pragma('user_version', { simple: true })).toBe(2);
    expect(TELEMETRY_SCHEMA_VERSION).toBe(2);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
  });

  it('creates the parent directory of a new database', () => {
    const file = join(dir, 'nested', 'deeper', 't.db');
    const logger = new TelemetryLogger({ dbPath: file });
    logger.logEvent({ runId: 'r', eventType: 'error' });
    logger.close();
    const db = openSqlite(file, { readonly: true });
    expect(db.prepare('SELECT count(*) AS n FROM trace_events').get()).toEqual({ n: 1 });
    db.close();
  });

  it('migrates a seed file (user_version 0) in place, keeping every row', () => {
    const file = join(dir, 'seed.db');
    createSeedFile(file);

    const logger = new TelemetryLogger({ dbPath: file });
    const db = logger.database;
    expect(db.pragma('user_version', { simple: true })).toBe(2);
    expect(columns(db, 'runs')).toContain('scenario');
    expect(indexes(db)).toEqual(['idx_runs_condition', 'idx_trace_events_run_id']);

    const runs = logger.getRunsByCondition('risk_based');
    expect(runs).toEqual([
      {
        runId: 'seed-1',
        condition: 'risk_based',
        scenario: null,
        startTime: '2024-05-01T10:00:00.000Z',
        endTime: '2024-05-01T10:05:00.000Z',
        success: true,
        metadata: { seed: 42 },
      },
    ]);
    expect(logger.getRunEvents('seed-1').map((e) => [e.eventId, e.eventType, e.payload])).toEqual([
      ['e1', 'action_proposed', { action_id: 'a1', tool_name: 'send_email' }],
      ['e2', 'approval_decided', { action_id: 'a1', approved: false, latency_ms: 1200 }],
    ]);
    expect(logger.getRun('seed-2')?.success).toBeNull();

    // New rows go into the migrated file next to the old ones.
    logger.startRun({ runId: 'new-1', condition: 'risk_based', scenario: 'email_draft' });
    expect(logger.getRunsByCondition('risk_based').map((r) => [r.runId, r.scenario])).toEqual([
      ['seed-1', null],
      ['new-1', 'email_draft'],
    ]);
    logger.close();

    const check = openSqlite(file, { readonly: true });
    expect(check.prepare('SELECT count(*) AS n FROM runs').get()).toEqual({ n: 3 });
    expect(check.prepare('SELECT count(*) AS n FROM trace_events').get()).toEqual({ n: 4 });
    check.close();
  });

  it('migrates a file that already says version 1', () => {
    const file = join(dir, 'v1.db');
    createSeedFile(file, 1);
    const logger = new TelemetryLogger({ dbPath: file });
    expect(logger.database.pragma('user_version', { simple: true })).toBe(2);
    expect(columns(logger.database, 'runs')).toContain('scenario');
    expect(logger.getRunEvents('seed-1')).toHaveLength(2);
    logger.close();
  });

  it('refuses a file written by a newer schema, naming the file and leaving it alone', () => {
    const file = join(dir, 'future.db');
    createSeedFile(file, 3);
    let error: unknown;
    try {
      new TelemetryLogger({ dbPath: file });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).file).toBe(file);
    expect((error as Error).message).toMatch(
      /schema version 3 is newer than this hitloop understands \(2\)/,
    );
    const db = openSqlite(file, { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(3);
    expect(columns(db, 'runs')).not.toContain('scenario');
    db.close();
  });

  it('refuses a file that is not SQLite with a ConfigError', () => {
    const file = join(dir, 'notes.db');
    writeFileSync(file, 'these are my notes, not a database\n'.repeat(200));
    expect(() => new TelemetryLogger({ dbPath: file })).toThrow(ConfigError);
    expect(() => new TelemetryLogger({ dbPath: file })).toThrow(/not a SQLite database/);
  });

  it('refuses a database whose runs table is someone else', () => {
    const file = join(dir, 'other-app.db');
    const db = openSqlite(file);
    db.exec('CREATE TABLE runs (id INTEGER PRIMARY KEY, name TEXT)');
    db.close();
    expect(() => new TelemetryLogger({ dbPath: file })).toThrow(
      /table "runs" lacks column\(s\) run_id, condition, start_time, end_time, success, metadata/,
    );
    const after = openSqlite(file, { readonly: true });
    expect(columns(after, 'runs')).toEqual(['id', 'name']);
    after.close();
  });
});

describe('telemetry file permissions', () => {
  it('creates a new database readable only by the user', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'hitloop-perm-')), 'sub', 't.db');
    const logger = new TelemetryLogger({ dbPath: file });
    logger.startRun({});
    logger.flush();
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(`${file}-wal`).mode & 0o777).toBe(0o600);
    logger.close();
  });
});
