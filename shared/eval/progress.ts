import type { ExperimentProgress } from './runner.js';

/**
 * Where progress goes: a writable text stream such as `process.stderr`.
 *
 * @example
 * const stream: ProgressStream = { write: (t) => process.stderr.write(t), isTTY: process.stderr.isTTY };
 */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/**
 * Options for {@link createProgressReporter}.
 *
 * @example
 * createProgressReporter(process.stderr, { lineEveryMs: 10_000 });
 */
export interface ProgressOptions {
  /** Least time between two redraws of the bar on a TTY, in ms. Default 100. */
  redrawMs?: number;
  /** Least time between two plain lines when not a TTY, in ms. Default 5000. */
  lineEveryMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

/**
 * A progress reporter for the terminal: on a TTY, a bar redrawn in place
 * (`[#########.........] 45% 1,800/4,000 risk_based eta 3s`); otherwise (CI
 * logs, pipes) a plain line at most every few seconds and at each 25%, so logs
 * stay short. `finish` ends the bar's line.
 *
 * @example
 * const progress = createProgressReporter(process.stderr);
 * await runner.run(conditions); // with onProgress: progress.update
 * progress.finish();
 */
export function createProgressReporter(
  stream: ProgressStream,
  options: ProgressOptions = {},
): { update: (p: ExperimentProgress) => void; finish: () => void } {
  const now = options.now ?? (() => Date.now());
  const tty = stream.isTTY === true;
  const redrawMs = options.redrawMs ?? 100;
  const lineEveryMs = options.lineEveryMs ?? 5000;
  const started = now();
  let lastDraw = -Infinity;
  let lastQuarter = 0;
  let drawn = false;
  let last: ExperimentProgress | undefined;

  const eta = (p: ExperimentProgress): string => {
    const fresh = p.done - p.resumed;
    const elapsed = now() - started;
    if (fresh <= 0 || elapsed < 500) return '';
    const seconds = Math.ceil(((p.total - p.done) * elapsed) / fresh / 1000);
    return ` eta ${seconds}s`;
  };
  const draw = (p: ExperimentProgress): void => {
    const pct = p.total ? Math.floor((100 * p.done) / p.total) : 100;
    if (tty) {
      const width = Math.max(10, Math.min(30, (stream.columns ?? 80) - 60));
      const filled = Math.round((width * p.done) / Math.max(1, p.total));
      const bar = `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`;
      const resumed = p.resumed ? ` (${p.resumed} resumed)` : '';
      stream.write(
        `\r\x1b[2K[${bar}] ${pct}% ${p.done.toLocaleString('en-US')}/${p.total.toLocaleString('en-US')} ${p.condition}${resumed}${eta(p)}`,
      );
      drawn = true;
    } else {
      stream.write(
        `hitloop: ${p.done}/${p.total} trials (${pct}%), condition ${p.condition}${p.resumed ? `, ${p.resumed} resumed` : ''}\n`,
      );
    }
  };
  return {
    update(p) {
      last = p;
      const t = now();
      if (tty) {
        if (t - lastDraw >= redrawMs || p.done === p.total) {
          lastDraw = t;
          draw(p);
        }
        return;
      }
      const quarter = p.total ? Math.floor((4 * p.done) / p.total) : 4;
      if (quarter > lastQuarter || t - lastDraw >= lineEveryMs) {
        lastQuarter = quarter;
        lastDraw = t;
        draw(p);
      }
    },
    finish() {
      if (tty && last) draw(last);
      if (drawn) stream.write('\n');
    },
  };
}
