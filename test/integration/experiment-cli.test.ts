import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runHitloop, runHitloopAsync } from '../helpers/run-cli.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const tmp = () => makeTempDir('hitloop-exp-cli-');
const noStack = (text: string) => expect(text).not.toMatch(/\n\s+at .+:\d+:\d+/);

describe('hitloop experiment (built CLI)', () => {
  it('the same seed gives byte-identical results.csv and summary.json across processes', async () => {
    const [a, b, c] = [tmp(), tmp(), tmp()];
    const args = (out: string, seed = '42') => [
      'experiment',
      '--scenario',
      'email_draft',
      '--n-trials',
      '40',
      '--injection-rate',
      '0.2',
      '--seed',
      seed,
      '--out',
      out,
    ];
    const [ra, rb, rc] = await Promise.all([
      runHitloopAsync(args(a)),
      runHitloopAsync(args(b)),
      runHitloopAsync(args(c, '43')),
    ]);
    for (const r of [ra, rb, rc]) {
      expect(r.stderr).not.toMatch(/error/i);
      expect(r.code).toBe(0);
    }
    const read = (dir: string, f: string) => readFileSync(join(dir, f));
    expect(read(a, 'results.csv').equals(read(b, 'results.csv'))).toBe(true);
    expect(read(a, 'summary.json').equals(read(b, 'summary.json'))).toBe(true);
    expect(read(a, 'manifest.json').equals(read(b, 'manifest.json'))).toBe(true);
    expect(read(a, 'results.csv').equals(read(c, 'results.csv'))).toBe(false);
    // The summary table on stdout names every condition.
    for (const name of ['no_oversight', 'risk_based', 'audit_plus_escalate', 'always_review'])
      expect(ra.stdout).toContain(name);
    // Not a TTY here: plain progress lines, not a redrawn bar.
    expect(ra.stderr).toMatch(/hitloop: 160\/160 trials \(100%\)/);
    expect(ra.stderr).not.toContain('\r');
  });

  it.each([
    [['--n-trials', '0'], '--n-trials', /whole number from 1|number from 1/],
    [['--n-trials', '2.5'], '--n-trials', /whole number/],
    [['--injection-rate', '1.5'], '--injection-rate', /from 0 to 1/],
    [['--injection-rate', 'lots'], '--injection-rate', /"lots"/],
    [['--seed', 'abc'], '--seed', /"abc"/],
    [['--error-types', 'wrong_path'], '--error-types', /email_draft cannot express wrong_path/],
    [['--error-types', 'typo_kind'], '--error-types', /unknown error type "typo_kind"/],
    [['--conditions', 'risk_based,nope'], '--conditions', /unknown condition "nope"/],
    [['--conditions', 'risk_based,risk_based'], '--conditions', /twice/],
    [
      ['--conditions', 'seed,bogus'],
      '--conditions',
      /unknown condition "bogus" \(sets: standard, seed\)/,
    ],
    [['--conditions', 'seed,always_approve'], '--conditions', /"always_approve" twice/],
    [['--reviewer-sensitivity', '-0.1'], '--reviewer-sensitivity', /from 0 to 1/],
    [['--reviewer-latency-median-ms', '0'], '--reviewer-latency-median-ms', /number/],
    [['--bootstrap-resamples', '5'], '--bootstrap-resamples', /from 100/],
    [
      ['--card-skimmed-weight', '0.3'],
      '--card-skimmed-weight',
      /only applies to the card reviewer/,
    ],
    [['--reviewer', 'card', '--card-half-life-lines', '0'], '--card-half-life-lines', /number/],
  ])('invalid input %j exits 2 naming %s and the fix', (extra, flag, problem) => {
    const r = runHitloop(['experiment', '--scenario', 'email_draft', '--out', tmp(), ...extra]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(flag);
    expect(r.stderr).toMatch(problem);
    expect(r.stderr).toMatch(/fix: /);
    noStack(r.stderr);
  });

  it('an unknown scenario, a missing --out, or a file as --out exit 2', () => {
    const bad = runHitloop(['experiment', '--scenario', 'banking', '--out', tmp()]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/email_draft, record_update, coding/);
    const missing = runHitloop(['experiment', '--scenario', 'coding']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--out');
    const file = join(tmp(), 'x.txt');
    writeFileSync(file, 'x');
    const notDir = runHitloop(['experiment', '--scenario', 'coding', '--out', file]);
    expect(notDir.code).toBe(2);
    expect(notDir.stderr).toMatch(/--out: .* is a file/);
  });

  it('refuses to mix two experiments in one --out, and --fresh starts over', () => {
    const out = tmp();
    const base = ['experiment', '--scenario', 'record_update', '--out', out, '--n-trials', '5'];
    expect(runHitloop(base).code).toBe(0);
    const other = runHitloop([...base, '--seed', '7']);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/--out: .*different settings/);
    expect(other.stderr).toMatch(/--fresh/);
    noStack(other.stderr);
    const fresh = runHitloop([...base, '--seed', '7', '--fresh']);
    expect(fresh.code).toBe(0);
  });

  it('--reviewer card runs the card reviewer with the --card-* settings, recorded in manifest.json', () => {
    const out = tmp();
    const r = runHitloop([
      'experiment',
      '--scenario',
      'email_draft',
      '--n-trials',
      '30',
      '--injection-rate',
      '0.5',
      '--seed',
      '4',
      '--out',
      out,
      '--reviewer',
      'card',
      '--card-skimmed-weight',
      '0.2',
      '--card-half-life-lines',
      '12',
      '--no-progress',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    expect(manifest.reviewer).toMatchObject({
      kind: 'card',
      sensitivity: 0.9,
      card: { skimmedFieldWeight: 0.2, positionHalfLifeLines: 12, lengthScaleChars: 4000 },
    });
    const csv = readFileSync(join(out, 'results.csv'), 'utf8');
    expect(csv).toContain('simulated:card-reviewer');
    expect(csv).not.toMatch(/,simulated:reviewer,/);
  });

  it('lists experiment and report in --help', () => {
    const help = runHitloop(['--help']);
    expect(help.stdout).toContain('experiment');
    expect(help.stdout).toContain('report');
    const sub = runHitloop(['experiment', '--help']);
    expect(sub.code).toBe(0);
    for (const flag of [
      '--scenario',
      '--n-trials',
      '--injection-rate',
      '--seed',
      '--realtime',
      '--reviewer-sensitivity',
    ])
      expect(sub.stdout).toContain(flag);
  });
});
