import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/proxy-harness.js';
import { runHitloop } from '../helpers/run-cli.js';

// playwright-core is an optional peer dependency: a hitloop installed from
// its tarball does not have it unless the user adds it. The bundled CLI
// (dist/cli, the package's bin) is copied where no node_modules holds
// playwright-core, as in such an install, and `hitloop report` must still
// write the HTML and say in one line what the PNGs need.

const root = fileURLToPath(new URL('../..', import.meta.url));
const tmp = tempDir('hitloop-report-nopw-');
afterAll(() => tmp.remove());

describe('hitloop report without playwright-core', () => {
  it('writes the HTML report and says PNG charts need playwright-core and Chromium', () => {
    const out = join(tmp.dir, 'results');
    const made = runHitloop([
      'experiment',
      '--scenario',
      'email_draft',
      '--n-trials',
      '4',
      '--injection-rate',
      '0.25',
      '--seed',
      '3',
      '--out',
      out,
    ]);
    expect(made.code, made.stderr).toBe(0);

    // The package layout the bin relies on: dist/cli/ two levels below package.json.
    const pkg = join(tmp.dir, 'pkg');
    mkdirSync(join(pkg, 'dist'), { recursive: true });
    cpSync(join(root, 'dist', 'cli'), join(pkg, 'dist', 'cli'), { recursive: true });
    cpSync(join(root, 'package.json'), join(pkg, 'package.json'));
    // Its dependencies, as npm would install them; playwright-core is not one.
    mkdirSync(join(pkg, 'node_modules'));
    symlinkSync(
      join(root, 'node_modules', 'better-sqlite3'),
      join(pkg, 'node_modules', 'better-sqlite3'),
    );
    const r = spawnSync(process.execPath, [join(pkg, 'dist', 'cli', 'main.js'), 'report', out], {
      encoding: 'utf8',
      cwd: tmp.dir,
      env: { ...process.env, HITLOOP_CHROMIUM: '/nonexistent/chromium' },
      timeout: 30_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^hitloop: PNG charts skipped: they need playwright-core and Chromium: npm install playwright-core .*\. The HTML report is complete without them\.$/,
    );
    expect(r.stdout.trim()).toBe(join(out, 'report.html'));
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toContain(
      'they need playwright-core and Chromium',
    );
    // The SVG charts need no browser; only the PNGs are missing. (Four trials
    // may plant no mistake, and then there is no per-error-type chart.)
    const charts = readdirSync(join(out, 'charts'));
    expect(charts.every((f) => f.endsWith('.svg'))).toBe(true);
    expect(charts).toEqual(expect.arrayContaining(['latency.svg', 'rates.svg', 'tradeoff.svg']));
  });
});
