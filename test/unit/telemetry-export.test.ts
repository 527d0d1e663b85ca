import { rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../shared/errors.js';
import { openSqlite } from '../../shared/sqlite/open.js';
import {
  CSV_COLUMNS,
  csvField,
  type ExportSummary,
  exportEventsCsv,
  exportTelemetry,
  exportTelemetryJson,
  openTelemetryForExport,
} from '../../shared/telemetry/export.js';
import { TelemetryLogger } from '../../shared/telemetry/logger.js';
import { makeTempDir } from '../helpers/temp-dir.js';

let dir: string;
let file: string;

beforeEach(() => {
  dir = makeTempDir('hitloop-telemetry-export-');
  file = join(dir, 'telemetry.db');
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A strict RFC 4180 reader, so the test checks our quoting against the spec, not against itself. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') {
      if (field !== '') throw new Error(`quote inside an unquoted field at ${i}`);
      quoted = true;
    } else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else if (c === '\n' || c === '\r') {
      throw new Error(`bare line break outside quotes at ${i}`);
    } else field += c;
  }
  if (quoted) throw new Error('unterminated quoted field');
  if (field !== '' || row.length > 0) throw new Error('last record does not end with CRLF');
  return rows;
}

const TRICKY = {
  note: 'commas, "quotes", and\nnew\r\nlines',
  emoji: 'naïve ☕',
};

function seed(): { r1: string; r2: string } {
  const log = new TelemetryLogger({ dbPath: file });
  const r1 = log.startRun({
    runId: 'run-1',
    condition: 'risk_based, strict',
    scenario: 'email_draft',
  });
  log.logEvent({
    runId: r1,
    eventType: 'action_proposed',
    payload: { tool_name: 'send_email', ...TRICKY },
  });
  log.logEvent({
    runId: r1,
    eventType: 'approval_decided',
    payload: { approved: false, reason: 'say "no"' },
  });
  log.endRun(r1, { success: false, metadata: { note: 'a,b' } });
  const r2 = log.startRun({ runId: 'run-2', condition: 'always_approve' });
  log.logEvent({ runId: r2, eventType: 'tool_execution_end', payload: { success: true } });
  log.logEvent({ runId: 'orphan', eventType: 'error', payload: { error: 'no run row' } });
  log.close();
  return { r1, r2 };
}

describe('csvField', () => {
  it('quotes only what RFC 4180 requires', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField('cr\r')).toBe('"cr\r"');
    expect(csvField(null)).toBe('');
    expect(csvField(12)).toBe('12');
  });
});

describe('telemetry export', () => {
  it('writes CSV that an RFC 4180 reader turns back into the stored values', () => {
    seed();
    const db = openTelemetryForExport(file);
    const csv = exportEventsCsv(db);
    const rows = parseCsv(csv);
    const stored = db
      .prepare(
        'SELECT id, timestamp, run_id, event_type, payload, event_id FROM trace_events ORDER BY id',
      )
      .all() as Array<Record<string, string>>;
    db.close();

    expect(rows[0]).toEqual([...CSV_COLUMNS]);
    expect(rows).toHaveLength(1 + 7);
    const body = rows.slice(1);
    // The seed's columns first; every column but condition_id (checked
    // below) is the stored text, byte for byte.
    expect(body.map((r) => r.slice(0, 6))).toEqual(
      stored.map((s) => [String(s.id), s.timestamp, s.run_id, s.event_type, s.payload, s.event_id]),
    );
    expect(body.map((r) => [r[2], r[6], r[3]])).toEqual([
      ['run-1', 'risk_based, strict', 'run_start'],
      ['run-1', 'risk_based, strict', 'action_proposed'],
      ['run-1', 'risk_based, strict', 'approval_decided'],
      ['run-1', 'risk_based, strict', 'run_end'],
      ['run-2', 'always_approve', 'run_start'],
      ['run-2', 'always_approve', 'tool_execution_end'],
      ['orphan', '', 'error'],
    ]);
    expect(JSON.parse(body[1]![4]!)).toEqual({ tool_name: 'send_email', ...TRICKY });
    expect(JSON.parse(body[2]![4]!).reason).toBe('say "no"');
  });

  it('filters by run and by condition', () => {
    seed();
    const db = openTelemetryForExport(file);
    const runIds = (filter: object) =>
      parseCsv(exportEventsCsv(db, filter))
        .slice(1)
        .map((r) => r[2]);
    expect(runIds({ runId: 'run-2' })).toEqual(['run-2', 'run-2']);
    expect(runIds({ condition: 'risk_based, strict' })).toEqual([
      'run-1',
      'run-1',
      'run-1',
      'run-1',
    ]);
    expect(runIds({ condition: 'risk_based, strict', runId: 'run-2' })).toEqual([]);
    expect(
      exportTelemetryJson(db, { condition: 'always_approve' }).runs.map((r) => r.run_id),
    ).toEqual(['run-2']);
    db.close();
  });

  it('writes JSON with payload and metadata parsed, streaming the same document it returns', () => {
    seed();
    const db = openTelemetryForExport(file);
    const doc = exportTelemetryJson(db);
    let text = '';
    const chunks = exportTelemetry(db, 'json');
    let summary: ExportSummary | undefined;
    for (let r = chunks.next(); ; r = chunks.next()) {
      if (r.done) {
        summary = r.value;
        break;
      }
      text += r.value;
    }
    db.close();

    expect(JSON.parse(text)).toEqual(doc);
    expect(summary).toEqual({ runs: 2, events: 7, invalidJson: 0 });
    expect(doc.runs[0]).toMatchObject({
      id: 1,
      run_id: 'run-1',
      condition_id: 'risk_based, strict',
      scenario_id: 'email_draft',
      task_success: 0,
      metadata: { note: 'a,b' },
    });
    expect(doc.runs[1]).toMatchObject({
      run_id: 'run-2',
      task_success: null,
      finished_at: null,
      metadata: {},
    });
    expect(doc.events[1]).toMatchObject({
      id: 2,
      run_id: 'run-1',
      condition_id: 'risk_based, strict',
      event_type: 'action_proposed',
      payload: { tool_name: 'send_email', ...TRICKY },
    });
    expect(doc.events[6]).toMatchObject({ run_id: 'orphan', condition_id: null });
  });

  it('writes an empty but valid document when nothing matches', () => {
    seed();
    const db = openTelemetryForExport(file);
    const text = [...exportTelemetry(db, 'json', { runId: 'nobody' })].join('');
    expect(JSON.parse(text)).toEqual({ runs: [], events: [] });
    expect(exportEventsCsv(db, { runId: 'nobody' })).toBe(`${CSV_COLUMNS.join(',')}\r\n`);
    db.close();
  });

  it('keeps going past bad JSON in a row, keeping the raw text and saying why', () => {
    seed();
    const raw = openSqlite(file);
    raw
      .prepare(
        'INSERT INTO trace_events (event_id, run_id, event_type, timestamp, payload) VALUES (?, ?, ?, ?, ?)',
      )
      .run('bad', 'run-2', 'llm_call', 'x', '{"unterminated": ');
    raw.prepare("UPDATE runs SET metadata = 'not json' WHERE run_id = 'run-2'").run();
    raw.close();

    const db = openTelemetryForExport(file);
    const chunks = exportTelemetry(db, 'json', { runId: 'run-2' });
    let text = '';
    let r = chunks.next();
    for (; !r.done; r = chunks.next()) text += r.value;
    expect(r.value.invalidJson).toBe(2);
    const doc = JSON.parse(text) as ReturnType<typeof exportTelemetryJson>;
    const bad = doc.events.find((e) => e.event_id === 'bad');
    expect(bad).toMatchObject({ payload: null, payload_raw: '{"unterminated": ' });
    expect(bad?.payload_error).toMatch(/^invalid JSON/);
    expect(doc.runs[0]).toMatchObject({ metadata: null, metadata_raw: 'not json' });
    expect(doc.events.filter((e) => e.payload_error === undefined)).toHaveLength(2);
    db.close();
  });

  it('exports a file of hitloop’s first layout (schema version 1) read-only under the seed’s names, without migrating it', () => {
    const raw = openSqlite(file);
    raw.exec(`
      CREATE TABLE runs (run_id TEXT PRIMARY KEY, condition TEXT, start_time TEXT, end_time TEXT, success INTEGER, metadata TEXT);
      CREATE TABLE trace_events (event_id TEXT PRIMARY KEY, run_id TEXT, event_type TEXT, timestamp TEXT, payload TEXT);
      INSERT INTO runs VALUES ('s1', 'audit', '2024-01-01T00:00:00.000Z', NULL, 1, '{}');
      INSERT INTO trace_events VALUES ('e1', 's1', 'llm_call', '2024-01-01T00:00:01.000Z', '{"model":"m"}');
    `);
    raw.close();
    const before = statSync(file).mtimeMs;
    const db = openTelemetryForExport(file);
    expect(exportTelemetryJson(db)).toEqual({
      runs: [
        {
          id: 1,
          run_id: 's1',
          scenario_id: null,
          condition_id: 'audit',
          agent_version: null,
          model: null,
          seed: null,
          started_at: '2024-01-01T00:00:00.000Z',
          finished_at: null,
          task_success: 1,
          validation_details: null,
          metadata: {},
        },
      ],
      events: [
        {
          id: 1,
          timestamp: '2024-01-01T00:00:01.000Z',
          run_id: 's1',
          event_type: 'llm_call',
          payload: { model: 'm' },
          event_id: 'e1',
          condition_id: 'audit',
        },
      ],
    });
    expect(db.pragma('user_version', { simple: true })).toBe(0);
    db.close();
    expect(statSync(file).mtimeMs).toBe(before);
  });

  it('exports a file the Python hitloop wrote, read-only, as it is', () => {
    const raw = openSqlite(file);
    raw.exec(`
      CREATE TABLE trace_events (id INTEGER NOT NULL, timestamp DATETIME NOT NULL, run_id VARCHAR(64) NOT NULL,
        event_type VARCHAR(64) NOT NULL, payload JSON NOT NULL, PRIMARY KEY (id));
      CREATE TABLE runs (id INTEGER NOT NULL, run_id VARCHAR(64) NOT NULL, scenario_id VARCHAR(128),
        condition_id VARCHAR(128), agent_version VARCHAR(64), model VARCHAR(128), seed INTEGER,
        started_at DATETIME NOT NULL, finished_at DATETIME, task_success INTEGER, validation_details TEXT,
        PRIMARY KEY (id));
      INSERT INTO runs (run_id, scenario_id, condition_id, seed, started_at, task_success, validation_details)
        VALUES ('py-1', 'record_update', 'audit_escalate', 43, '2024-05-01 10:00:00.000000', 0, '{"ok": false}');
      INSERT INTO trace_events (timestamp, run_id, event_type, payload)
        VALUES ('2024-05-01 10:00:00.100000', 'py-1', 'llm_call', '{"tokens_in": 5, "tokens_out": 7}');
    `);
    raw.close();
    const db = openTelemetryForExport(file);
    expect(exportTelemetryJson(db)).toEqual({
      runs: [
        {
          id: 1,
          run_id: 'py-1',
          scenario_id: 'record_update',
          condition_id: 'audit_escalate',
          agent_version: null,
          model: null,
          seed: 43,
          started_at: '2024-05-01 10:00:00.000000',
          finished_at: null,
          task_success: 0,
          validation_details: { ok: false },
          metadata: null,
        },
      ],
      events: [
        {
          id: 1,
          timestamp: '2024-05-01 10:00:00.100000',
          run_id: 'py-1',
          event_type: 'llm_call',
          payload: { tokens_in: 5, tokens_out: 7 },
          event_id: null,
          condition_id: 'audit_escalate',
        },
      ],
    });
    expect(exportEventsCsv(db, { condition: 'audit_escalate' }).split('\r\n')[1]).toBe(
      '1,2024-05-01 10:00:00.100000,py-1,llm_call,"{""tokens_in"": 5, ""tokens_out"": 7}",,audit_escalate',
    );
    db.close();
  });

  it('refuses missing, non-SQLite and table-less files with a ConfigError naming the file', () => {
    const missing = join(dir, 'missing.db');
    expect(() => openTelemetryForExport(missing)).toThrow(ConfigError);
    expect(() => openTelemetryForExport(missing)).toThrow(missing);
    expect(() => statSync(missing)).toThrow(); // never created

    const text = join(dir, 'text.db');
    writeFileSync(text, 'hello, world\n'.repeat(100));
    expect(() => openTelemetryForExport(text)).toThrow(/text\.db: not a SQLite database/);

    const empty = join(dir, 'empty.db');
    openSqlite(empty).exec('CREATE TABLE other (x)').close();
    expect(() => openTelemetryForExport(empty)).toThrow(/table "runs" is missing/);

    expect(() => openTelemetryForExport(dir)).toThrow(/is a directory/);
  });
});
