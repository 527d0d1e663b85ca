import { ConfigError } from '../../../shared/errors.js';
import { JournalMismatchError } from '../../../shared/eval/journal.js';
import { createProgressReporter } from '../../../shared/eval/progress.js';
import type { ExperimentProgress } from '../../../shared/eval/runner.js';
import type { CliIo } from '../program.js';

/** What {@link runResumable} hands the run: its stop signal and, if wanted, a progress sink. */
export interface ResumableRunHooks {
  signal: AbortSignal;
  onProgress?: (progress: ExperimentProgress) => void;
}

/**
 * Runs a journalled command (`experiment`, `sweep`) the way the CLI wants:
 * a progress bar on stderr when `progress` is set; Ctrl-C aborts `signal` so
 * the run stops after the current trial with its journal intact (a second
 * Ctrl-C falls back to Node's default, exit); and a journal of other settings
 * in `--out` becomes a `--out` config error whose fix is `journalFix`.
 *
 * @example
 * const outcome = await runResumable(io, opts.progress, 'use another --out directory', (hooks) =>
 *   runSweepToDir(grid, { outDir: opts.out, ...hooks }),
 * );
 */
export async function runResumable<T>(
  io: CliIo,
  progress: boolean,
  journalFix: string,
  run: (hooks: ResumableRunHooks) => Promise<T>,
): Promise<T> {
  const reporter = progress
    ? createProgressReporter({
        write: (text: string) => io.stderr(text),
        isTTY: process.stderr.isTTY === true,
        columns: process.stderr.columns,
      })
    : undefined;
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once('SIGINT', onSigint);
  try {
    return await run({
      signal: controller.signal,
      ...(reporter ? { onProgress: reporter.update } : {}),
    });
  } catch (err) {
    if (err instanceof JournalMismatchError) {
      throw new ConfigError({ field: '--out', problem: err.message, fix: journalFix });
    }
    throw err;
  } finally {
    process.removeListener('SIGINT', onSigint);
    reporter?.finish();
  }
}
