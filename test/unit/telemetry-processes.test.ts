import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openSqlite } from '../../shared/sqlite/open.js';
import { makeTempDir } from '../helpers/temp-dir.js';

// These run the built library in real child processes (`npm test` builds first).
const built = fileURLToPath(new URL('../../dist/shared/telemetry/index.js', import.meta.url));
const writerFixture = fileURLToPath(new URL('../fixtures/telemetry-writer.mjs', import.meta.url));
const exitFixture = fileURLToPath(new URL('../fixtures/telemetry-exit.mjs', import.meta.url));

let dir: string;
beforeAll(() => {
  if (!existsSync(built))
    throw new Error(`${built} is missing: run "npm run build" (npm test does) first`);
});
beforeEach(() => {
  dir = makeTempDir('hitloop-telemetry-proc-');
});

function run(args: string[]): Promise<{ code: number | null; stderr: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr, ms: Date.now() - started }));
  });
}

describe('telemetry across processes', () => {
  it('two processes writing one new file under WAL keep every event, in each writer’s order', async () => {
    const file = join(dir, 'shared.db');
    const count = 10_000;
    // Small batches make the two writers' transactions interleave many times.
    const startAt = String(Date.now() + 1500);
    const results = await Promise.all([
      run([writerFixture, file, 'writer-a', String(count), '25', startAt]),
      run([writerFixture, file, 'writer-b', String(count), '25', startAt]),
    ]);
    for (const r of results) expect(r).toMatchObject({ code: 0, stderr: '' });

    const db = openSqlite(file, { readonly: true });
    const perWriter = (writer: string) =>
      (
        db
          .prepare(
            "SELECT payload FROM trace_events WHERE run_id = ? AND event_type = 'llm_call' ORDER BY id",
          )
          .pluck()
          .all(writer) as string[]
      ).map((p) => (JSON.parse(p) as { i: number }).i);
    const expected = Array.from({ length: count }, (_, i) => i);
    expect(perWriter('writer-a')).toEqual(expected);
    expect(perWriter('writer-b')).toEqual(expected);
    expect(db.prepare('SELECT count(*) AS n FROM trace_events').get()).toEqual({
      n: 2 * count + 4,
    });
    expect(
      db
        .prepare(
          "SELECT run_id, task_success AS success FROM runs WHERE condition_id = 'multi_process' ORDER BY run_id",
        )
        .all(),
    ).toEqual([
      { run_id: 'writer-a', success: 1 },
      { run_id: 'writer-b', success: 1 },
    ]);
    // Interleaving really happened: writer-b's rows are not all after writer-a's.
    const firstB = db
      .prepare("SELECT min(id) FROM trace_events WHERE run_id = 'writer-b'")
      .pluck()
      .get() as number;
    const lastA = db
      .prepare("SELECT max(id) FROM trace_events WHERE run_id = 'writer-a'")
      .pluck()
      .get() as number;
    const firstA = db
      .prepare("SELECT min(id) FROM trace_events WHERE run_id = 'writer-a'")
      .pluck()
      .get() as number;
    const lastB = db
      .prepare("SELECT max(id) FROM trace_events WHERE run_id = 'writer-b'")
      .pluck()
      .get() as number;
    expect(firstB < lastA && firstA < lastB).toBe(true);
    db.close();
  });

  it.each(['natural', 'exit', 'later'])(
    'writes buffered events at process exit (%s) and does not hold the process open',
    async (mode) => {
      const file = join(dir, `exit-${mode}.db`);
      const result = await run([exitFixture, file, '321', mode]);
      expect(result).toMatchObject({ code: 0, stderr: '' });
      // The timer is 10 minutes; an un-unref'd timer would hang far past this.
      expect(result.ms).toBeLessThan(15_000);
      const db = openSqlite(file, { readonly: true });
      const rows = db
        .prepare('SELECT payload FROM trace_events ORDER BY id')
        .pluck()
        .all() as string[];
      db.close();
      expect(rows.map((p) => (JSON.parse(p) as { i: number }).i)).toEqual(
        Array.from({ length: 321 }, (_, i) => i),
      );
    },
  );
});
