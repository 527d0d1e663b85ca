import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAction } from '../../shared/models/action.js';
import { openSqlite } from '../../shared/sqlite/open.js';
import { TelemetryLogger } from '../../shared/telemetry/logger.js';
import {
  actionVerdictPayload,
  approvalDecidedPayload,
  approvalRequestedPayload,
  toolExecutionEndPayload,
  toolExecutionStartPayload,
} from '../../shared/telemetry/payloads.js';
// @ts-expect-error: a plain .mjs fixture, shared with the script that made the golden file
import { recordCallSequence } from '../fixtures/telemetry-call-sequence.mjs';
// @ts-expect-error: as above
import { readerView } from '../fixtures/telemetry-golden.mjs';

// The same calls, recorded by the base commit's logger (every event a full
// row; test/fixtures/telemetry-calls-golden.json, made by
// test/fixtures/telemetry-golden.mjs) and by the current one (allowed calls
// as compact rows behind the trace_events view), must read the same: SQL
// over trace_events, the runs, and `hitloop telemetry export` in both
// formats. Only event_id values differ between any two recordings (random
// UUIDs); they are compared by position instead.

const cli = fileURLToPath(new URL('../../dist/mcp-server/cli/main.js', import.meta.url));
const golden = JSON.parse(
  readFileSync(new URL('../fixtures/telemetry-calls-golden.json', import.meta.url), 'utf8'),
);

let dir: string;
beforeAll(() => {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run "npm run build" first`);
});
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hitloop-export-comparison-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const api = {
  TelemetryLogger,
  createAction,
  actionVerdictPayload,
  approvalRequestedPayload,
  approvalDecidedPayload,
  toolExecutionStartPayload,
  toolExecutionEndPayload,
};

describe('export comparison: full rows (schema 3) and compact calls (schema 5)', () => {
  it('reads the same through SQL, the runs, and hitloop telemetry export (CSV and JSON)', () => {
    const dbPath = join(dir, 'calls.db');
    recordCallSequence(api, dbPath);
    const view = readerView(openSqlite, cli, dbPath);
    expect(view.rows).toEqual(golden.rows);
    expect(view.runs).toEqual(golden.runs);
    expect(view.csv).toBe(golden.csv);
    expect(view.json).toBe(golden.json);

    // And the compact form did the work: most allowed calls are one row,
    // the rest (asked, denied, failed, odd text) full rows.
    const db = openSqlite(dbPath, { readonly: true });
    const count = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
    expect(count('SELECT count(*) AS n FROM tool_calls')).toBeGreaterThanOrEqual(12);
    expect(
      count(
        'SELECT count(*) AS n FROM tool_calls WHERE start_id IS NOT NULL AND end_id IS NOT NULL',
      ),
    ).toBeGreaterThanOrEqual(9);
    expect(
      count('SELECT count(*) AS n FROM stored_events') +
        count('SELECT count(*) AS n FROM tool_calls WHERE start_id IS NOT NULL') +
        count('SELECT count(*) AS n FROM tool_calls WHERE end_id IS NOT NULL') +
        count('SELECT count(*) AS n FROM tool_calls'),
    ).toBe(golden.rows.length);
    // Short arguments sit in the call's row; what calls of one tool share, once.
    expect(count(`SELECT count(*) AS n FROM tool_calls WHERE args = '{"message":"hi"}'`)).toBe(2);
    expect(count('SELECT count(*) AS n FROM tool_args')).toBe(0);
    expect(count('SELECT count(*) AS n FROM call_shapes')).toBeLessThan(
      count('SELECT count(*) AS n FROM tool_calls'),
    );
    db.close();
  });

  it('a file of schema version 4 (compact rows of 24 columns) reads the same after its migration to 5', () => {
    // Made by the version-4 logger from the same sequence (make-telemetry-v4.mjs).
    const dbPath = join(dir, 'v4.db');
    copyFileSync(fileURLToPath(new URL('../fixtures/telemetry-v4.db', import.meta.url)), dbPath);
    const before = openSqlite(dbPath, { readonly: true });
    expect(before.pragma('user_version', { simple: true })).toBe(4);
    before.close();
    new TelemetryLogger({ dbPath }).close(); // opening migrates
    const db = openSqlite(dbPath, { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(5);
    expect((db.prepare('SELECT count(*) AS n FROM tool_calls').get() as { n: number }).n).toBe(16);
    db.close();
    const view = readerView(openSqlite, cli, dbPath);
    expect(view.rows).toEqual(golden.rows);
    expect(view.runs).toEqual(golden.runs);
    expect(view.csv).toBe(golden.csv);
    expect(view.json).toBe(golden.json);
  });

  it('stores long arguments once however many calls carry them, and shows them in full', () => {
    const dbPath = join(dir, 'long.db');
    const log = new TelemetryLogger({ dbPath });
    const runId = log.startRun({ runId: 'long' });
    const content = 'x'.repeat(2000);
    const payloads: Array<Record<string, unknown>> = [];
    for (let i = 0; i < 3; i++) {
      const action = createAction({ id: `l${i}`, toolName: 'write', toolArgs: { content } });
      const payload = actionVerdictPayload(action, 'allow_all', { verdict: 'allow', reason: 'ok' });
      payloads.push(payload);
      log.logEvent({ runId, eventType: 'action_proposed', payload });
      log.logEvent({
        runId,
        eventType: 'tool_execution_start',
        payload: toolExecutionStartPayload(action, action.toolArgs),
      });
    }
    log.close();
    const db = openSqlite(dbPath, { readonly: true });
    const count = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
    expect(count('SELECT count(*) AS n FROM tool_calls WHERE args IS NULL')).toBe(3);
    expect(count('SELECT count(*) AS n FROM tool_args')).toBe(1);
    const proposed = db
      .prepare("SELECT payload FROM trace_events WHERE event_type = 'action_proposed' ORDER BY id")
      .pluck()
      .all();
    const started = db
      .prepare(
        "SELECT payload FROM trace_events WHERE event_type = 'tool_execution_start' ORDER BY id",
      )
      .pluck()
      .all();
    db.close();
    expect(proposed).toEqual(payloads.map((p) => JSON.stringify(p)));
    expect(started.map((t) => JSON.parse(t as string).tool_args.content)).toEqual([
      content,
      content,
      content,
    ]);
  });

  it('deletes and edits through the view as through the table', () => {
    const dbPath = join(dir, 'calls.db');
    recordCallSequence(api, dbPath);
    const db = openSqlite(dbPath);
    const before = db.prepare('SELECT * FROM trace_events ORDER BY id').all() as Array<{
      id: number;
      event_type: string;
      payload: string;
      run_id: string;
    }>;
    // One compact call's start changed alone: only that row differs.
    const start = before.find(
      (r) => r.event_type === 'tool_execution_start' && r.payload.includes('"a01"'),
    )!;
    db.prepare('UPDATE trace_events SET payload = ? WHERE id = ?').run('{"edited":true}', start.id);
    // One compact call's proposal deleted alone: its start and end stay.
    const proposal = before.find(
      (r) => r.event_type === 'action_proposed' && r.payload.includes('"a02"'),
    )!;
    db.prepare('DELETE FROM trace_events WHERE id = ?').run(proposal.id);
    const expected = before
      .filter((r) => r.id !== proposal.id)
      .map((r) => (r.id === start.id ? { ...r, payload: '{"edited":true}' } : r));
    expect(db.prepare('SELECT * FROM trace_events ORDER BY id').all()).toEqual(expected);
    // A whole run deleted (as `hitloop experiment` does when it resumes).
    db.prepare('DELETE FROM trace_events WHERE run_id = ?').run('calls-1');
    expect(db.prepare('SELECT * FROM trace_events ORDER BY id').all()).toEqual(
      expected.filter((r) => r.run_id !== 'calls-1'),
    );
    expect(
      db.prepare("SELECT count(*) AS n FROM tool_calls WHERE run_id = 'calls-1'").get(),
    ).toEqual({
      n: 0,
    });
    // Another tool's insert takes the next id.
    const last = expected[expected.length - 1]!.id;
    db.prepare(
      "INSERT INTO trace_events (timestamp, run_id, event_type, payload) VALUES ('t', 'py', 'llm_call', '{}')",
    ).run();
    expect(db.prepare("SELECT id FROM trace_events WHERE run_id = 'py'").get()).toEqual({
      id: last + 1,
    });
    db.close();
  });
});
