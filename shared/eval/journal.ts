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
import { TrialRecord } from './trial-record.js';

const JOURNAL_FORMAT = 'hitloop-experiment-journal/1';

const Header = z.object({
  format: z.literal(JOURNAL_FORMAT),
  fingerprint: z.string().min(1),
  config: z.record(z.string(), z.unknown()),
});

/**
 * The journal in `--out` belongs to an experiment with other settings.
 *
 * @example
 * try { TrialJournal.open(path, fp, config); } catch (e) { if (e instanceof JournalMismatchError) ... }
 */
export class JournalMismatchError extends Error {
  readonly code = 'HITLOOP_JOURNAL_MISMATCH' as const;
  readonly path: string;
  constructor(path: string, message: string) {
    super(message);
    this.name = 'JournalMismatchError';
    this.path = path;
  }
}

/**
 * An append-only record of completed trials (JSON lines), so a crashed
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
  private fd: number | undefined;

  private constructor(path: string, fd: number, completed: Map<string, TrialRecord>) {
    this.path = path;
    this.fd = fd;
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
    mkdirSync(dirname(path), { recursive: true });
    if (options.fresh) rmSync(path, { force: true });
    const completed = new Map<string, TrialRecord>();
    if (existsSync(path)) {
      const text = readFileSync(path, 'utf8');
      const goodLength = readJournal(path, text, fingerprint, completed);
      if (goodLength < Buffer.byteLength(text)) truncateSync(path, goodLength);
      if (goodLength > 0) return new TrialJournal(path, openSync(path, 'a'), completed);
    }
    const fd = openSync(path, 'w');
    const header = { format: JOURNAL_FORMAT, fingerprint, config };
    writeAll(fd, `${JSON.stringify(header)}\n`);
    fsyncSync(fd);
    return new TrialJournal(path, fd, completed);
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
   * Appends a completed trial. One `write` per line: a kill can cut only the
   * line being written, which `open` then drops.
   */
  append(record: TrialRecord): void {
    if (this.fd === undefined) throw new Error('TrialJournal: append after close');
    writeAll(this.fd, `${JSON.stringify(record)}\n`);
  }

  close(): void {
    if (this.fd === undefined) return;
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = undefined;
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

/** Parses a journal's text into `completed`; returns the byte length of its intact prefix. */
function readJournal(
  path: string,
  text: string,
  fingerprint: string,
  completed: Map<string, TrialRecord>,
): number {
  let offset = 0;
  let lineNo = 0;
  while (offset < text.length) {
    const end = text.indexOf('\n', offset);
    // No newline: the last write was cut short by a kill.
    if (end < 0) break;
    const line = text.slice(offset, end);
    lineNo++;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      // A damaged last line is a cut write too; anything earlier is real damage.
      if (end + 1 >= text.length) break;
      throw new JournalMismatchError(
        path,
        `${path}:${lineNo}: not valid JSON; the journal is damaged`,
      );
    }
    if (lineNo === 1) {
      const header = Header.safeParse(json);
      if (!header.success)
        throw new JournalMismatchError(path, `${path}: not a hitloop experiment journal`);
      if (header.data.fingerprint !== fingerprint) {
        throw new JournalMismatchError(
          path,
          `${path} belongs to an experiment with different settings (${describeConfig(header.data.config)})`,
        );
      }
    } else {
      const record = TrialRecord.safeParse(json);
      if (!record.success)
        throw new JournalMismatchError(path, `${path}:${lineNo}: not a trial record`);
      completed.set(journalKey(record.data.condition, record.data.trial_index), record.data);
    }
    offset = end + 1;
  }
  // Byte length of the good prefix (the text may hold multi-byte characters).
  return Buffer.byteLength(text.slice(0, offset));
}

function describeConfig(config: Record<string, unknown>): string {
  return Object.entries(config)
    .filter(([, v]) => typeof v !== 'object' || v === null)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(', ');
}

function writeAll(fd: number, text: string): void {
  const bytes = Buffer.from(text, 'utf8');
  for (let offset = 0; offset < bytes.length; ) {
    offset += writeSync(fd, bytes, offset, bytes.length - offset);
  }
}
