import { type JournalKind, JsonLinesJournal } from './jsonl-journal.js';
import { TrialRecord } from './trial-record.js';

export { JournalMismatchError } from './jsonl-journal.js';

const TRIALS: JournalKind<TrialRecord> = {
  format: 'hitloop-experiment-journal/1',
  settingsField: 'config',
  entry: TrialRecord,
  name: 'hitloop experiment journal',
  owner: 'an experiment with different settings',
  entryName: 'a trial record',
  describe: (config) =>
    Object.entries(config)
      .filter(([, v]) => typeof v !== 'object' || v === null)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(', '),
};

/**
 * An append-only record of completed trials (JSON lines, 0600), so a crashed
 * experiment resumes where it stopped. The first line names the experiment's
 * fingerprint (a hash of every setting that affects results); reopening with
 * another fingerprint is refused rather than silently mixing two experiments.
 *
 * A process killed mid-write leaves at most one partial last line; opening
 * the journal drops it (that trial simply runs again).
 *
 * @example
 * const journal = TrialJournal.open('out/journal.jsonl', fingerprint, { seed: 42 });
 * if (!journal.has('risk_based', 17)) journal.append(record);
 * journal.close();
 */
export class TrialJournal {
  readonly path: string;
  /** Trials found on open, keyed `condition|trial_index`. */
  readonly completed: ReadonlyMap<string, TrialRecord>;
  private readonly file: JsonLinesJournal<TrialRecord>;

  private constructor(file: JsonLinesJournal<TrialRecord>, completed: Map<string, TrialRecord>) {
    this.path = file.path;
    this.file = file;
    this.completed = completed;
  }

  /**
   * Opens (or creates) a journal. `fresh` discards an existing one.
   *
   * @example
   * const journal = TrialJournal.open(join(out, 'journal.jsonl'), fp, config, { fresh: false });
   */
  static open(
    path: string,
    fingerprint: string,
    config: Record<string, unknown>,
    options: { fresh?: boolean } = {},
  ): TrialJournal {
    const completed = new Map<string, TrialRecord>();
    const file = JsonLinesJournal.open(
      path,
      TRIALS,
      fingerprint,
      config,
      (record) => completed.set(journalKey(record.condition, record.trial_index), record),
      options,
    );
    return new TrialJournal(file, completed);
  }

  /** Whether trial `index` of `condition` finished in an earlier process. */
  has(condition: string, index: number): boolean {
    return this.completed.has(journalKey(condition, index));
  }

  /** The record of an earlier finished trial. */
  get(condition: string, index: number): TrialRecord | undefined {
    return this.completed.get(journalKey(condition, index));
  }

  /**
   * Appends a completed trial: one `write`, so a kill can cut only this line,
   * which `open` then drops. Not fsynced per line (trials are many and
   * cheap); `close` flushes.
   */
  append(record: TrialRecord): void {
    this.file.append(record);
  }

  close(): void {
    this.file.close();
  }
}

/**
 * The map key of a trial: `condition|index`.
 *
 * @example
 * journalKey('risk_based', 17) // 'risk_based|17'
 */
export function journalKey(condition: string, index: number): string {
  return `${condition}|${index}`;
}
