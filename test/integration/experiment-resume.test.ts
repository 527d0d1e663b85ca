import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { CLI, runHitloop } from '../helpers/run-cli.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const tmp = () => makeTempDir('hitloop-exp-resume-');

// Both runs use the same (short) simulated latency, so their configs, and so
// their results, are the same; only the killed one sleeps (--realtime, which
// never changes results), which keeps it running long enough to be killed midway.
const ARGS = [
  'experiment',
  '--scenario',
  'record_update',
  '--n-trials',
  '150',
  '--injection-rate',
  '0.25',
  '--seed',
  '5',
  '--reviewer-latency-median-ms',
  '12',
  '--reviewer-latency-sigma',
  '0.2',
];

function journalLines(out: string): number {
  const path = join(out, 'journal.jsonl');
  if (!existsSync(path)) return 0;
  return readFileSync(path, 'utf8').split('\n').length - 1;
}

describe('hitloop experiment: a killed run resumes where it stopped', () => {
  it('SIGKILL midway, rerun the same command: results.csv is byte-identical to an uninterrupted run', {
    timeout: 120_000,
  }, async () => {
    const whole = tmp();
    const uninterrupted = runHitloop([...ARGS, '--out', whole]);
    expect(uninterrupted.code).toBe(0);

    const cut = tmp();
    const child = spawn(process.execPath, [CLI, ...ARGS, '--out', cut, '--realtime'], {
      stdio: 'ignore',
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    // Kill once the first condition is done and the second is under way.
    for (let i = 0; i < 2000 && journalLines(cut) < 200; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    child.kill('SIGKILL');
    const { signal } = await exited;
    expect(signal).toBe('SIGKILL');
    const done = journalLines(cut) - 1;
    expect(done).toBeGreaterThanOrEqual(199);
    expect(done).toBeLessThan(600);
    expect(existsSync(join(cut, 'results.csv'))).toBe(false);

    const resumed = runHitloop([...ARGS, '--out', cut]);
    expect(resumed.code).toBe(0);
    expect(resumed.stderr).toMatch(/resumed from/);
    expect(
      readFileSync(join(cut, 'results.csv')).equals(readFileSync(join(whole, 'results.csv'))),
    ).toBe(true);
    expect(
      readFileSync(join(cut, 'summary.json')).equals(readFileSync(join(whole, 'summary.json'))),
    ).toBe(true);

    // The trial cut off by the kill is not counted twice in telemetry.
    const db = new Database(join(cut, 'telemetry.db'), { readonly: true });
    const perRun = db
      .prepare(
        "SELECT run_id, count(*) AS n FROM trace_events WHERE event_type = 'run_start' GROUP BY run_id HAVING n > 1",
      )
      .all();
    const runs = db.prepare('SELECT count(*) AS n FROM runs').get() as { n: number };
    db.close();
    expect(perRun).toEqual([]);
    expect(runs.n).toBe(600);
  });

  it('Ctrl-C (SIGINT) without --realtime stops after the current trial, exits 1 keeping the journal, and the same command resumes', {
    timeout: 120_000,
  }, async () => {
    // Without --realtime every trial resolves in microtasks: the run must still
    // give the SIGINT handler a turn (it ran to the end and exited 0 before).
    const long = [...ARGS.slice(0, 4), '600', ...ARGS.slice(5)];
    const out = tmp();
    const child = spawn(process.execPath, [CLI, ...long, '--out', out, '--no-progress'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) =>
      child.on('exit', (code) => resolve(code)),
    );
    for (let i = 0; i < 3000 && journalLines(out) < 50; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    child.kill('SIGINT');
    expect(await exited).toBe(1);
    expect(stderr).toMatch(
      /interrupted after \d+ of 2400 trials; .*Run the same command again to resume\./,
    );
    expect(stderr).not.toMatch(/\n\s+at /);
    const done = journalLines(out) - 1;
    expect(done).toBeGreaterThanOrEqual(49);
    expect(done).toBeLessThan(2400);
    expect(existsSync(join(out, 'results.csv'))).toBe(false);
    const resumed = runHitloop([...long, '--out', out, '--no-progress']);
    expect(resumed.code).toBe(0);
    expect(resumed.stderr).toMatch(new RegExp(`\\(${done} trial\\(s\\) resumed from`));
  });
});
