import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TelemetryLogger } from '../../shared/telemetry/logger.js';
import { makeTempDir } from '../helpers/temp-dir.js';

// The real CLI in a child process (`npm test` builds first), so exit codes and
// what reaches the terminal are what a user gets.
const cli = fileURLToPath(new URL('../../dist/mcp-server/cli/main.js', import.meta.url));

let dir: string;
let db: string;

beforeAll(() => {
  if (!existsSync(cli))
    throw new Error(`${cli} is missing: run "npm run build" (npm test does) first`);
});
beforeEach(() => {
  dir = makeTempDir('hitloop-telemetry-cli-');
  db = join(dir, 'telemetry.db');
  const log = new TelemetryLogger({ dbPath: db });
  const r1 = log.startRun({ runId: 'run-1', condition: 'risk_based' });
  log.logEvent({
    runId: r1,
    eventType: 'action_proposed',
    payload: { tool_name: 'send_email', note: 'a, "b"\nc' },
  });
  log.endRun(r1, { success: true });
  const r2 = log.startRun({ runId: 'run-2', condition: 'always_approve' });
  log.logEvent({ runId: r2, eventType: 'llm_call', payload: { model: 'm' } });
  log.close();
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function hitloop(...args: string[]) {
  const result = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', cwd: dir });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

function expectNoStackTrace(stderr: string): void {
  expect(stderr).not.toMatch(/^\s+at /m);
  expect(stderr).not.toMatch(/Error:/);
}

describe('hitloop telemetry export', () => {
  it('writes CSV to stdout', () => {
    const { code, stdout, stderr } = hitloop('telemetry', 'export', '--db', db, '--format', 'csv');
    expect(stderr).toBe('');
    expect(code, stderr).toBe(0);
    const lines = stdout.split('\r\n');
    expect(lines[0]).toBe('id,timestamp,run_id,event_type,payload,event_id,condition_id');
    expect(stdout).toMatch(/,run-1,action_proposed,.*,risk_based\r\n/);
    // The payload's quotes are doubled and its newline kept inside the quoted field.
    expect(stdout).toContain('"{""tool_name"":""send_email"",""note"":""a, \\""b\\""\\nc""}"');
    expect(stdout.match(/,llm_call,/g)).toHaveLength(1);
    expect(stdout.endsWith('\r\n')).toBe(true);
  });

  it('writes JSON for one condition to --out', () => {
    const out = join(dir, 'export.json');
    const { code, stdout, stderr } = hitloop(
      'telemetry',
      'export',
      '--db',
      db,
      '--format',
      'json',
      '--condition',
      'risk_based',
      '--out',
      out,
    );
    expect(code, stderr).toBe(0);
    expect(stdout).toBe('');
    expect(stderr).toBe(`hitloop: wrote 1 run(s) and 3 event(s) to ${out}\n`);
    const doc = JSON.parse(readFileSync(out, 'utf8'));
    expect(doc.runs.map((r: { run_id: string }) => r.run_id)).toEqual(['run-1']);
    expect(doc.runs[0].task_success).toBe(1);
    expect(doc.events.map((e: { event_type: string }) => e.event_type)).toEqual([
      'run_start',
      'action_proposed',
      'run_end',
    ]);
    expect(doc.events[1].payload).toEqual({ tool_name: 'send_email', note: 'a, "b"\nc' });
    // No temporary file left behind (a read-only reader may leave SQLite's -wal/-shm).
    expect(
      readdirSync(dir)
        .filter((f) => !f.startsWith('telemetry.db'))
        .sort(),
    ).toEqual(['export.json']);
  });

  it('filters by --run', () => {
    const { code, stdout, stderr } = hitloop(
      'telemetry',
      'export',
      '--db',
      db,
      '--format',
      'csv',
      '--run',
      'run-2',
    );
    expect(code, stderr).toBe(0);
    expect(
      stdout
        .split('\r\n')
        .slice(1, -1)
        .map((l) => l.split(',')[2]),
    ).toEqual(['run-2', 'run-2']);
  });

  it('exits 2 naming a missing database, without creating it or printing a stack trace', () => {
    const missing = join(dir, 'nope.db');
    const { code, stdout, stderr } = hitloop(
      'telemetry',
      'export',
      '--db',
      missing,
      '--format',
      'csv',
    );
    expect(code, stderr).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain(missing);
    expect(stderr).toMatch(/no such telemetry database\n {2}fix: /);
    expectNoStackTrace(stderr);
    expect(existsSync(missing)).toBe(false);
  });

  it('exits 2 on an unknown --format, listing the choices', () => {
    const { code, stdout, stderr } = hitloop('telemetry', 'export', '--db', db, '--format', 'xml');
    expect(code, stderr).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/--format/);
    expect(stderr).toMatch(/xml/);
    expect(stderr).toMatch(/csv, json/);
  });

  it('exits 2 for a file that is not SQLite, or lacks the telemetry tables', () => {
    const notes = join(dir, 'notes.txt');
    writeFileSync(notes, 'just some text\n'.repeat(100));
    const text = hitloop('telemetry', 'export', '--db', notes, '--format', 'json');
    expect(text.code, text.stderr).toBe(2);
    expect(text.stderr).toContain(`${notes}: not a SQLite database`);
    expectNoStackTrace(text.stderr);

    const empty = join(dir, 'empty.db');
    writeFileSync(empty, '');
    const tables = hitloop('telemetry', 'export', '--db', empty, '--format', 'json');
    expect(tables.code, tables.stderr).toBe(2);
    expect(tables.stderr).toContain(
      `${empty}: not a hitloop telemetry database: table "runs" is missing`,
    );
  });

  it('exits 2 rather than overwrite the database with its own export', () => {
    const { code, stderr } = hitloop(
      'telemetry',
      'export',
      '--db',
      db,
      '--format',
      'csv',
      '--out',
      db,
    );
    expect(code, stderr).toBe(2);
    expect(stderr).toMatch(/--out: is the database being exported/);
    const check = new TelemetryLogger({ dbPath: db });
    expect(check.getRunEvents('run-1')).toHaveLength(3);
    check.close();
  });

  it('ends quietly with code 0 when the reader closes the pipe early (| head)', async () => {
    const big = join(dir, 'big.db');
    const log = new TelemetryLogger({ dbPath: big });
    const run = log.startRun({ runId: 'big', condition: 'risk_based' });
    for (let i = 0; i < 3000; i++)
      log.logEvent({ runId: run, eventType: 'llm_call', payload: { text: 'x'.repeat(200), i } });
    log.close();

    const child = spawn(
      process.execPath,
      [cli, 'telemetry', 'export', '--db', big, '--format', 'csv'],
      {
        cwd: dir,
      },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    // Like `head`: read the first chunk, then close our end of the pipe.
    child.stdout.once('data', () => child.stdout.destroy());
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });
});
