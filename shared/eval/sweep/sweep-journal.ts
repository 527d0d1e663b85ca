import { type JournalKind, JsonLinesJournal } from '../jsonl-journal.js';
import { UnitResult } from './unit-result.js';

const UNITS: JournalKind<UnitResult> = {
  format: 'hitloop-sweep-journal/1',
  settingsField: 'settings',
  entry: UnitResult,
  name: 'hitloop sweep journal',
  owner: 'a sweep with different shared settings',
  entryName: 'a sweep unit',
  describe: (settings) =>
    Object.entries(settings)
      .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : String(v)}`)
      .join(', '),
};

/**
 * The sweep's resume journal: JSON lines (0600), a header naming the
 * fingerprint of the settings every unit shares, then one {@link UnitResult}
 * per finished unit (a cell with one seed). Like the experiment's trial
 * journal, a kill can cut only the last line, which opening drops; a journal
 * of other settings is refused ({@link JournalMismatchError}) rather than
 * mixed in. Units are found by key, so a grid extended by a seed or an
 * injection rate reuses every unit it shares with the earlier one.
 *
 * @example
 * const journal = SweepJournal.open('out/sweep-journal.jsonl', fingerprint, settings);
 * if (!journal.get(unitKey(unit))) journal.append(await runUnit(grid, unit));
 * journal.close();
 */
export class SweepJournal {
  readonly path: string;
  private readonly units: Map<string, UnitResult>;
  private readonly file: JsonLinesJournal<UnitResult>;

  private constructor(file: JsonLinesJournal<UnitResult>, units: Map<string, UnitResult>) {
    this.path = file.path;
    this.file = file;
    this.units = units;
  }

  /**
   * Opens (or creates) a journal; `fresh` discards an existing one.
   *
   * @example
   * const journal = SweepJournal.open(path, sweepFingerprint(grid), { nTrials: 200 }, { fresh: false });
   */
  static open(
    path: string,
    fingerprint: string,
    settings: Record<string, unknown>,
    options: { fresh?: boolean } = {},
  ): SweepJournal {
    const units = new Map<string, UnitResult>();
    const file = JsonLinesJournal.open(
      path,
      UNITS,
      fingerprint,
      settings,
      (unit) => units.set(unit.key, unit),
      options,
    );
    return new SweepJournal(file, units);
  }

  /** How many units the journal holds. */
  get size(): number {
    return this.units.size;
  }

  /** The result of a finished unit, by {@link unitKey}. */
  get(key: string): UnitResult | undefined {
    return this.units.get(key);
  }

  /** Records a finished unit: one write, flushed to disk before the next unit starts. */
  append(result: UnitResult): void {
    this.file.append(result, { sync: true });
    this.units.set(result.key, result);
  }

  close(): void {
    this.file.close();
  }
}
