import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { discoverHubs } from '../../shared/hub/discovery.js';
import { HubClient } from '../../shared/hub/hub-client.js';
import { CLI } from '../helpers/run-cli.js';
import { makeTempDir } from '../helpers/temp-dir.js';

// The live condition: an experiment whose reviewer is whoever decides through
// the approval hub (here a scripted "person" posting to the hub API).

describe('hitloop experiment --reviewer hub', () => {
  it('sends every review to the hub and records the people’s decisions', async () => {
    const dir = makeTempDir('hitloop-exp-hub-');
    const home = join(dir, 'home');
    const out = join(dir, 'out');
    const child = spawn(
      process.execPath,
      [
        CLI,
        'experiment',
        '--scenario',
        'email_draft',
        '--n-trials',
        '3',
        '--injection-rate',
        '0.5',
        '--seed',
        '7',
        '--out',
        out,
        '--reviewer',
        'hub',
        '--conditions',
        'always_review',
        '--no-progress',
      ],
      { env: { ...process.env, HITLOOP_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) =>
      child.once('exit', (code) => resolve(code)),
    );
    let decided = 0;
    let done = false;
    void exited.then(() => (done = true));
    const seen: string[] = [];
    while (!done) {
      for (const hub of discoverHubs(home)) {
        const client = new HubClient(hub);
        for (const a of await client.listPending().catch(() => [])) {
          seen.push(a.rationale);
          // The person approves the first request and rejects the others.
          await client.decide(a.id, {
            approve: decided === 0,
            argsHash: a.argsHash,
            reason: decided === 0 ? '' : 'looks wrong',
            decidedBy: 'test:pilot',
          });
          decided++;
        }
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await exited, stderr).toBe(0);
    expect(decided).toBe(3);
    // The reviewer saw the task, never the injection label.
    expect(seen.every((r) => r.startsWith('Task given to the agent:'))).toBe(true);
    expect(seen.join(' ')).not.toMatch(/inject|wrong_recipient|ground truth/i);
    const csv = readFileSync(join(out, 'results.csv'), 'utf8').trim().split('\n');
    const header = csv[0]!.split(',');
    const decidedBy = header.indexOf('decided_by');
    expect(decidedBy).toBeGreaterThanOrEqual(0);
    expect(csv.slice(1)).toHaveLength(3);
    for (const row of csv.slice(1)) expect(row.split(',')[decidedBy]).toBe('test:pilot');
    expect(discoverHubs(home)).toEqual([]);
  });
});
