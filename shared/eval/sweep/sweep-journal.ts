import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import { JournalMismatchError } from '../journal.js';
import { UnitResult } from './unit-result.js';

const FORMAT = 'hitloop-sweep-journal/1';

const Header = z.object({
  format: z.literal(FORMAT),
  fingerprint: z.string().min(1),
  settings: z.record(z.string(), z.unknown()),
});

/**
 * The sweep's resume journal: JSON lines, a header naming the fingerprint of
 * the settings every unit shares, then one {@link UnitResult} per finished
 * unit (a cell with one seed). Like the experiment's trial journal, a kill
 * can cut only the last line, which opening drops; a journal of other
 * settings is refused ({@link JournalMismatchError}) rather than mixed in.
 * Units are found by key, so a grid extended by a seed or an injection rate
 * reuses every unit it shares with the earlier one.
 *
 * @example
 * const journal = SweepJournal.open('out/sweep-journal.jsonl', fingerprint, settings);
 * if (!journal.get(unitKey(unit))) journal.append(await runUnit(grid, unit));
 * journal.close();
 */
export class SweepJournal {
  readonly path: string;
  private readonly units: Map<string, UnitResult>;
  private fd: number | undefined;

  private constructor(path: string, fd: number, units: Map<string, UnitResult>) {
    this.path = path;
    this.fd = fd;
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
    mkdirSync(dirname(path), { recursive: true });
    if (options.fresh) rmSync(path, { force: true });
    const units = new Map<string, UnitResult>();
    if (existsSync(path)) {
      const text = readFileSync(path, 'utf8');
      const good = readLines(path, text, fingerprint, units);
      if (good < Buffer.byteLength(text)) truncateSync(path, good);
      if (good > 0) return new SweepJournal(path, openSync(path, 'a', 0o600), units);
    }
    const fd = openSync(path, 'w', 0o600);
    writeAll(fd, `${JSON.stringify({ format: FORMAT, fingerprint, settings })}\n`);
    fsyncSync(fd);
    return new SweepJournal(path, fd, units);
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
    if (this.fd === undefined) throw new Error('SweepJournal: append after close');
    writeAll(this.fd, `${JSON.stringify(result)}\n`);
    fsyncSync(this.fd);
    this.units.set(result.key, result);
  }

  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}

/** Parses the journal into `units`; returns the byte length of its intact prefix. */
function readLines(
  path: string,
  text: string,
  fingerprint: string,
  units: Map<string, UnitResult>,
): number {
  let offset = 0;
  let lineNo = 0;
  while (offset < text.length) {
    const end = text.indexOf('\n', offset);
    if (end < 0) break; // the last write was cut short
    lineNo++;
    let json: unknown;
    try {
      json = JSON.parse(text.slice(offset, end));
    } catch {
      if (end + 1 >= text.length) break;
      throw new JournalMismatchError(
        path,
        `${path}:${lineNo}: not valid JSON; the journal is damaged`,
      );
    }
    if (lineNo === 1) {
      const header = Header.safeParse(json);
      if (!header.success)
        throw new JournalMismatchError(path, `${path}: not a hitloop sweep journal`);
      if (header.data.fingerprint !== fingerprint) {
        throw new JournalMismatchError(
          path,
          `${path} belongs to a sweep with different shared settings (${describe(header.data.settings)})`,
        );
      }
    } else {
      const unit = UnitResult.safeParse(json);
      if (!unit.success)
        throw new JournalMismatchError(path, `${path}:${lineNo}: not a sweep unit`);
      units.set(unit.data.key, unit.data);
    }
    offset = end + 1;
  }
  return Buffer.byteLength(text.slice(0, offset));
}

function describe(settings: Record<string, unknown>): string {
  return Object.entries(settings)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : String(v)}`)
    .join(', ');
}

function writeAll(fd: number, text: string): void {
  const bytes = Buffer.from(text, 'utf8');
  for (let offset = 0; offset < bytes.length; ) {
    offset += writeSync(fd, bytes, offset, bytes.length - offset);
  }
}
