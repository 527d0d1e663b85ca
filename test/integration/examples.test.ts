import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { makeTempDir } from '../helpers/temp-dir.js';

const quickstart = fileURLToPath(new URL('../../dist/examples/quickstart.js', import.meta.url));

describe('examples/quickstart', () => {
  it('runs the loop with an auto-approver and records every step', () => {
    const db = join(makeTempDir('hitloop-qs-'), 'q.db');
    const r = spawnSync(process.execPath, [quickstart, '--auto', '--db', db], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('3/3 actions ran');
    const conn = new Database(db, { readonly: true });
    const types = conn.prepare('select event_type from trace_events order by id').pluck().all();
    conn.close();
    expect(types.filter((t) => t === 'approval_decided')).toHaveLength(2);
    expect(types.filter((t) => t === 'tool_execution_end')).toHaveLength(3);
  });

  it('takes answers at the terminal prompt: approve, then reject with a reason', () => {
    const db = join(makeTempDir('hitloop-qs-'), 'q.db');
    const r = spawnSync(process.execPath, [quickstart, '--db', db], {
      encoding: 'utf8',
      input: 'a\nr\nnot today\n',
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("Tool 'delete_customer' was NOT executed: rejected by cli:");
    expect(r.stdout).toContain('Reason: not today');
    expect(r.stdout).toContain('2/3 actions ran');
    expect(r.stderr).toContain('refund');
  });
});
