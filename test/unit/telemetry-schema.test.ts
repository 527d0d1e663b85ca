import { copyFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../shared/errors.js';
import { openSqlite } from '../../shared/sqlite/open.js';
import type { SqliteDatabase } from '../../shared/sqlite/types.js';
import { TelemetryLogger } from '../../shared/telemetry/logger.js';
import { TELEMETRY_SCHEMA_VERSION } from '../../shared/telemetry/schema.js';
import { makeTempDir } from '../helpers/temp-dir.js';

let dir: string;
beforeEach(() => {
  dir = makeTempDir('hitloop-telemetry-schema-');
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
        "SELECT name FROM sqlite_master WHERE type = 'index' AND (name LIKE 'idx_%' OR name LIKE 'ix_%') ORDER BY name",
      )
      .all() as { name: string }[]
  ).map((r) => r.name);
}

/** hitloop's first layout (versions 0/1; version 2 added `scenario` and two indexes). */
function createLegacyFile(file: string, userVersion = 0, withScenario = false): void {
  const db = openSqlite(file);
  db.exec(`
    CREATE TABLE runs (run_id TEXT PRIMARY KEY, condition TEXT, start_time TEXT, end_time TEXT, success INTEGER, metadata TEXT);
    CREATE TABLE trace_events (event_id TEXT PRIMARY KEY, run_id TEXT, event_type TEXT, timestamp TEXT, payload TEXT);
  `);
  if (withScenario) {
    db.exec(`
      ALTER TABLE runs ADD COLUMN scenario TEXT;
      CREATE INDEX idx_trace_events_run_id ON trace_events(run_id);
      CREATE INDEX idx_runs_condition ON runs(condition);
    `);
  }
  const run = db.prepare(
    'INSERT INTO runs (run_id, condition, start_time, end_time, success, metadata) VALUES (?, ?, ?, ?, ?, ?)',
  );
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
  if (withScenario)
    db.prepare("UPDATE runs SET scenario = 'email_draft' WHERE run_id = 'seed-1'").run();
  if (userVersion) db.pragma(`user_version = ${userVersion}`);
  db.close();
}

/**
 * A file as the Python hitloop (SQLAlchemy, 0.5.1) created it: its DDL and
 * index names, DATETIME text as SQLAlchemy stores it, user_version never set.
 */
function createPythonSeedFile(file: string): void {
  const db = openSqlite(file);
  db.exec(`
    CREATE TABLE trace_events (
      id INTEGER NOT NULL, timestamp DATETIME NOT NULL, run_id VARCHAR(64) NOT NULL,
      event_type VARCHAR(64) NOT NULL, payload JSON NOT NULL, PRIMARY KEY (id)
    );
    CREATE INDEX ix_trace_events_timestamp ON trace_events (timestamp);
    CREATE INDEX ix_trace_events_run_id ON trace_events (run_id);
    CREATE INDEX ix_trace_events_event_type ON trace_events (event_type);
    CREATE TABLE runs (
      id INTEGER NOT NULL, run_id VARCHAR(64) NOT NULL, scenario_id VARCHAR(128),
      condition_id VARCHAR(128), agent_version VARCHAR(64), model VARCHAR(128), seed INTEGER,
      started_at DATETIME NOT NULL, finished_at DATETIME, task_success INTEGER,
      validation_details TEXT, PRIMARY KEY (id)
    );
    CREATE UNIQUE INDEX ix_runs_run_id ON runs (run_id);
    INSERT INTO runs (run_id, scenario_id, condition_id, agent_version, model, seed, started_at, finished_at, task_success, validation_details)
      VALUES ('py-1', 'email_draft', 'risk_based_human', '', '', 44, '2024-05-01 10:00:00.000000', '2024-05-01 10:00:00.512000', 1, '{"injected_error": true}');
    INSERT INTO trace_events (timestamp, run_id, event_type, payload) VALUES
      ('2024-05-01 10:00:00.001000', 'py-1', 'action_proposed', '{"action_id": "a1", "tool_name": "send_email", "args_hash": "a1b2c3d4e5f60718", "risk_class": "high", "side_effects": [], "injected_error": true}'),
      ('2024-05-01 10:00:00.002000', 'py-1', 'injected_error', '{"action_id": "a1", "tool_name": "send_email"}');
  `);
  db.close();
}

describe('telemetry schema', () => {
  it('creates the seed’s tables (its columns, types and index names) plus ours, WAL and user_version 5', () => {
    const file = join(dir, 'new.db');
    new TelemetryLogger({ dbPath: file }).close();
    const db = openSqlite(file, { readonly: true });
    expect(columns(db, 'runs')).toEqual([
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
    ]);
    expect(columns(db, 'trace_events')).toEqual([
      'id',
      'timestamp',
      'run_id',
      'event_type',
      'payload',
      'event_id',
    ]);
    const types = db
      .prepare('SELECT name, type, "notnull" FROM pragma_table_info(\'stored_events\')')
      .all() as Array<{ name: string; type: string; notnull: number }>;
    expect(types.slice(0, 5)).toEqual([
      { name: 'id', type: 'INTEGER', notnull: 1 },
      { name: 'timestamp', type: 'DATETIME', notnull: 1 },
      { name: 'run_id', type: 'VARCHAR(64)', notnull: 1 },
      { name: 'event_type', type: 'VARCHAR(64)', notnull: 1 },
      { name: 'payload', type: 'JSON', notnull: 1 },
    ]);
    expect(indexes(db)).toEqual([
      'ix_runs_condition_id',
      'ix_runs_run_id',
      'ix_tool_calls_run_id',
      'ix_trace_events_event_id',
      'ix_trace_events_event_type',
      'ix_trace_events_run_id',
      'ix_trace_events_timestamp',
    ]);
    // The seed's table holds full rows under another name; trace_events is
    // the view that adds the compact allowed calls, with the same columns.
    expect(
      db.prepare("SELECT type FROM sqlite_master WHERE name = 'trace_events'").pluck().get(),
    ).toBe('view');
    expect(db.prepare("SELECT name, type FROM pragma_table_info('trace_events')").all()).toEqual(
      // The payload's declared type is lost in the union (its values are the same text).
      types.map(({ name, type }) => ({ name, type: name === 'payload' ? 'BLOB' : type })),
    );
    expect(db.pragma('user_version', { simple: true })).toBe(5);
    expect(TELEMETRY_SCHEMA_VERSION).toBe(5);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
  });

  it('writes the seed’s run columns: scenario_id, condition_id, seed, model, started_at, finished_at, task_success 0/1, validation_details', () => {
    const file = join(dir, 'runs.db');
    const logger = new TelemetryLogger({ dbPath: file });
    const runId = logger.startRun({
      condition: 'risk_based',
      scenario: 'email_draft',
      seed: 7,
      model: 'gpt-4o-mini',
      agentVersion: '1.2.0',
      timestamp: '2024-05-01T10:00:00.000Z',
    });
    logger.endRun(runId, {
      success: false,
      validationDetails: { problems: ['wrong recipient'] },
      timestamp: '2024-05-01T10:00:01.000Z',
    });
    logger.close();
    const db = openSqlite(file, { readonly: true });
    expect(db.prepare('SELECT * FROM runs').get()).toEqual({
      id: 1,
      run_id: runId,
      scenario_id: 'email_draft',
      condition_id: 'risk_based',
      agent_version: '1.2.0',
      model: 'gpt-4o-mini',
      seed: 7,
      started_at: '2024-05-01T10:00:00.000Z',
      finished_at: '2024-05-01T10:00:01.000Z',
      task_success: 0,
      validation_details: '{"problems":["wrong recipient"]}',
      metadata: '{}',
    });
    const events = db.prepare('SELECT id, event_type, payload FROM trace_events ORDER BY id').all();
    expect(events).toEqual([
      {
        id: 1,
        event_type: 'run_start',
        payload: JSON.stringify({
          scenario_id: 'email_draft',
          condition_id: 'risk_based',
          agent_version: '1.2.0',
          model: 'gpt-4o-mini',
          seed: 7,
          condition: 'risk_based',
          scenario: 'email_draft',
        }),
      },
      {
        id: 2,
        event_type: 'run_end',
        payload:
          '{"task_success":false,"validation_details":{"problems":["wrong recipient"]},"success":false}',
      },
    ]);
    db.close();
  });

  it("trace_events without ORDER BY lists events in id order, as the seed's table did (a quick script relies on it)", () => {
    const file = join(dir, 'order.db');
    const logger = new TelemetryLogger({ dbPath: file });
    const runId = logger.startRun({ condition: 'c', scenario: 's' });
    // Allowed calls (compact rows) between full rows: the view's two parts interleave.
    for (let i = 0; i < 3; i++) {
      const actionId = `a${i}`;
      const args = { i };
      logger.logEvent({
        runId,
        eventType: 'action_proposed',
        payload: {
          action_id: actionId,
          tool_name: 't',
          args_hash: 'h',
          risk_class: 'low',
          side_effects: [],
          tool_args: args,
          rationale: '',
          context_refs: [],
          policy_name: 'always_approve',
          policy_verdict: 'allow',
          policy_reason: 'ok',
          policy_rule: null,
        },
      });
      logger.logEvent({
        runId,
        eventType: 'tool_execution_start',
        payload: { action_id: actionId, tool_name: 't', tool_args: args },
      });
      logger.logToolExecutionEnd(runId, { actionId, success: true, durationMs: 1, executed: true });
      logger.logEvent({ runId, eventType: 'llm_call', payload: { model: 'm', i } });
    }
    logger.endRun(runId, { success: true });
    logger.close();
    const db = openSqlite(file, { readonly: true });
    const compact = db.prepare('SELECT count(*) AS n FROM tool_calls').get() as { n: number };
    expect(compact.n).toBe(3);
    const ids = (db.prepare('SELECT id FROM trace_events').all() as { id: number }[]).map(
      (r) => r.id,
    );
    const filtered = (
      db.prepare('SELECT id FROM trace_events WHERE run_id = ?').all(runId) as { id: number }[]
    ).map((r) => r.id);
    db.close();
    expect(ids).toEqual(Array.from({ length: 14 }, (_, i) => i + 1));
    expect(filtered).toEqual(ids);
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

  it('migrates a file the current release wrote (version 2) in place, keeping every row, id and order', () => {
    const file = join(dir, 'v2.db');
    createLegacyFile(file, 2, true);

    const logger = new TelemetryLogger({ dbPath: file });
    const db = logger.database;
    expect(db.pragma('user_version', { simple: true })).toBe(5);
    expect(columns(db, 'runs')).toContain('condition_id');
    expect(indexes(db)).not.toContain('idx_runs_condition');

    const runs = logger.getRunsByCondition('risk_based');
    expect(runs).toEqual([
      {
        runId: 'seed-1',
        condition: 'risk_based',
        scenario: 'email_draft',
        startTime: '2024-05-01T10:00:00.000Z',
        endTime: '2024-05-01T10:05:00.000Z',
        success: true,
        metadata: { seed: 42 },
      },
    ]);
    expect(db.prepare("SELECT seed FROM runs WHERE run_id = 'seed-1'").get()).toEqual({ seed: 42 });
    // Every key kept, and the seed's keys the old layout lacked added after them.
    const migrated = logger.getRunEvents('seed-1');
    expect(migrated.map((e) => [e.eventId, e.eventType, e.payload])).toEqual([
      [
        'e1',
        'action_proposed',
        {
          action_id: 'a1',
          tool_name: 'send_email',
          args_hash: null,
          risk_class: null,
          side_effects: [],
        },
      ],
      [
        'e2',
        'approval_decided',
        {
          action_id: 'a1',
          approved: false,
          latency_ms: 1200,
          reason: '',
          tags: [],
          channel: 'unknown',
          decided_at: '2024-05-01T10:00:02.000Z',
        },
      ],
    ]);
    expect(Object.keys(migrated[1]!.payload).slice(0, 3)).toEqual([
      'action_id',
      'approved',
      'latency_ms',
    ]);
    expect(logger.getRun('seed-2')?.success).toBeNull();

    // New rows go into the migrated file next to the old ones, and a
    // replayed event id is still stored once.
    logger.startRun({ runId: 'new-1', condition: 'risk_based', scenario: 'email_draft' });
    logger.logEvent({ runId: 'new-1', eventType: 'error', eventId: 'e1' });
    expect(logger.getRunsByCondition('risk_based').map((r) => [r.runId, r.scenario])).toEqual([
      ['seed-1', 'email_draft'],
      ['new-1', 'email_draft'],
    ]);
    logger.close();

    const check = openSqlite(file, { readonly: true });
    expect(check.prepare('SELECT count(*) AS n FROM runs').get()).toEqual({ n: 3 });
    expect(
      check.prepare('SELECT id, event_id FROM trace_events ORDER BY id').all().slice(0, 3),
    ).toEqual([
      { id: 1, event_id: 'e1' },
      { id: 2, event_id: 'e2' },
      { id: 3, event_id: 'e3' },
    ]);
    expect(check.prepare('SELECT count(*) AS n FROM trace_events').get()).toEqual({ n: 4 });
    check.close();
  });

  it('migrates a file the previous hitloop’s own TelemetryLogger wrote (schema 2, test/fixtures/telemetry-v2.db)', () => {
    const file = join(dir, 'users-file.db');
    copyFileSync(fileURLToPath(new URL('../fixtures/telemetry-v2.db', import.meta.url)), file);
    const logger = new TelemetryLogger({ dbPath: file });
    expect(logger.database.pragma('user_version', { simple: true })).toBe(5);
    expect(logger.getRunsByCondition('risk_based')).toEqual([
      {
        runId: 'v2-run-1',
        condition: 'risk_based',
        scenario: 'email_draft',
        startTime: '2026-03-01T09:00:00.000Z',
        endTime: '2026-03-01T09:00:03.000Z',
        success: false,
        metadata: { seed: 42, trial_index: 0, validation_problems: ['not sent'] },
      },
    ]);
    expect(logger.getRunsByCondition('no_oversight').map((r) => [r.runId, r.success])).toEqual([
      ['v2-run-2', true],
      ['v2-run-3', null],
    ]);
    const events = logger.getRunEvents('v2-run-1');
    expect(events.map((e) => e.eventType)).toEqual([
      'run_start',
      'action_proposed',
      'approval_requested',
      'approval_decided',
      'llm_call',
      'run_end',
      'injected_error',
    ]);
    expect(events[4]).toMatchObject({ eventId: 'llm-1', payload: { tokens_in: 10 } });
    // The secret the old logger redacted stays redacted.
    expect(JSON.stringify(events[1]!.payload)).not.toContain('sk-123');
    // The seed's columns are filled from what the old layout knew.
    expect(
      logger.database
        .prepare(
          "SELECT seed, scenario_id, condition_id, started_at, finished_at, task_success, validation_details FROM runs WHERE run_id = 'v2-run-1'",
        )
        .get(),
    ).toEqual({
      seed: 42,
      scenario_id: 'email_draft',
      condition_id: 'risk_based',
      started_at: '2026-03-01T09:00:00.000Z',
      finished_at: '2026-03-01T09:00:03.000Z',
      task_success: 0,
      validation_details: '{"problems":["not sent"]}',
    });
    // And it keeps working: an old event id is still idempotent, new rows follow.
    logger.logEvent({ runId: 'v2-run-1', eventType: 'llm_call', eventId: 'llm-1' });
    logger.endRun('v2-run-3', { success: true });
    expect(logger.getRunEvents('v2-run-1')).toHaveLength(7);
    expect(logger.getRun('v2-run-3')?.success).toBe(true);
    logger.close();
  });

  it('migrates hitloop’s first layout (user_version 0 or 1)', () => {
    for (const version of [0, 1]) {
      const file = join(dir, `v${version}.db`);
      createLegacyFile(file, version);
      const logger = new TelemetryLogger({ dbPath: file });
      expect(logger.database.pragma('user_version', { simple: true })).toBe(5);
      expect(logger.getRunEvents('seed-1')).toHaveLength(2);
      expect(logger.getRun('seed-1')).toMatchObject({ condition: 'risk_based', scenario: null });
      logger.close();
    }
  });

  it('adopts a file the Python hitloop wrote: adds our two columns, keeps its rows, and appends', () => {
    const file = join(dir, 'python.db');
    createPythonSeedFile(file);
    const logger = new TelemetryLogger({ dbPath: file });
    expect(logger.database.pragma('user_version', { simple: true })).toBe(5);
    expect(logger.getRun('py-1')).toMatchObject({
      condition: 'risk_based_human',
      scenario: 'email_draft',
      startTime: '2024-05-01 10:00:00.000000',
      success: true,
    });
    expect(logger.getRunEvents('py-1').map((e) => e.eventType)).toEqual([
      'action_proposed',
      'injected_error',
    ]);
    logger.logEvent({ runId: 'py-1', eventType: 'error', eventId: 'later' });
    logger.close();
    const db = openSqlite(file, { readonly: true });
    expect(columns(db, 'runs').at(-1)).toBe('metadata');
    expect(db.prepare('SELECT id, event_id FROM trace_events ORDER BY id').all()).toEqual([
      { id: 1, event_id: null },
      { id: 2, event_id: null },
      { id: 3, event_id: 'later' },
    ]);
    db.close();
  });

  it('refuses a file written by a newer schema, naming the file and leaving it alone', () => {
    const file = join(dir, 'future.db');
    createLegacyFile(file, 6);
    let error: unknown;
    try {
      new TelemetryLogger({ dbPath: file });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).file).toBe(file);
    expect((error as Error).message).toMatch(
      /schema version 6 is newer than this hitloop understands \(5\)/,
    );
    const db = openSqlite(file, { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(6);
    expect(columns(db, 'runs')).not.toContain('condition_id');
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
    const file = join(makeTempDir('hitloop-perm-'), 'sub', 't.db');
    const logger = new TelemetryLogger({ dbPath: file });
    logger.startRun({});
    logger.flush();
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(`${file}-wal`).mode & 0o777).toBe(0o600);
    logger.close();
  });
});
