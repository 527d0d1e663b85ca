import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqlite } from '../../shared/sqlite/open.js';
import { SqliteApprovalStore } from '../../shared/stores/sqlite-store.js';
import { pendingRecord } from '../conformance/approval-store.spec.js';
import { cachedNode } from './node-runtimes.js';

// One ~/.hitloop shared by processes on different SQLite drivers, as on a
// user's machine: the proxy in the VSIX (VS Code's runtime, node:sqlite) next
// to a hitloop installed with npm (the system Node, better-sqlite3) and the
// CLI. Both libraries must agree on WAL, locking and the conditional UPDATE
// that makes the first decision win. Children run the built library.

const ROOT = join(import.meta.dirname, '..', '..');
const NODE24 = cachedNode(24);
const WRITER = join(ROOT, 'test/fixtures/telemetry-writer.mjs');
const SETTLER = join(ROOT, 'test/fixtures/store-settle-race.mjs');

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hitloop-cross-driver-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function run(
  node: string,
  args: string[],
  driver: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(node, args, {
      env: { ...process.env, HITLOOP_SQLITE_DRIVER: driver },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe.skipIf(!NODE24)('better-sqlite3 and node:sqlite on one file, at once', () => {
  it('two telemetry writers, one per driver, keep every event in order', async () => {
    const file = join(dir, 'telemetry.db');
    const count = 4000;
    const startAt = String(Date.now() + 1500);
    const results = await Promise.all([
      run(
        process.execPath,
        [WRITER, file, 'better', String(count), '25', startAt],
        'better-sqlite3',
      ),
      run(NODE24!, [WRITER, file, 'node', String(count), '25', startAt], 'node:sqlite'),
    ]);
    for (const r of results) expect(r).toMatchObject({ code: 0, stderr: '' });
    const db = openSqlite(file, { readonly: true });
    const order = (run: string) =>
      (
        db
          .prepare(
            "SELECT payload FROM trace_events WHERE run_id = ? AND event_type = 'llm_call' ORDER BY id",
          )
          .pluck()
          .all(run) as string[]
      ).map((p) => (JSON.parse(p) as { i: number }).i);
    const expected = Array.from({ length: count }, (_, i) => i);
    expect(order('better')).toEqual(expected);
    expect(order('node')).toEqual(expected);
    db.close();
  });

  it('racing to settle the same approvals, each is settled exactly once', async () => {
    const file = join(dir, 'approvals.db');
    const count = 300;
    const store = new SqliteApprovalStore(file);
    for (let i = 0; i < count; i++) await store.put(pendingRecord({ id: `a-${i}` }));
    const startAt = String(Date.now() + 1500);
    const [better, node] = await Promise.all([
      run(process.execPath, [SETTLER, file, 'better', String(count), startAt], 'better-sqlite3'),
      run(NODE24!, [SETTLER, file, 'node', String(count), startAt], 'node:sqlite'),
    ]);
    expect(better!.stderr + node!.stderr).toBe('');
    const a = JSON.parse(better!.stdout) as { driver: string; won: string[] };
    const b = JSON.parse(node!.stdout) as { driver: string; won: string[] };
    expect([a.driver, b.driver]).toEqual(['better-sqlite3', 'node:sqlite']);
    expect(a.won.length + b.won.length).toBe(count);
    expect(a.won.filter((id) => b.won.includes(id))).toEqual([]);
    // The stored record names the process that won it.
    for (const [name, won] of [
      ['better', a.won],
      ['node', b.won],
    ] as const)
      for (const id of won) expect((await store.get(id))?.statusReason).toBe(name);
    await store.close();
  });
});
