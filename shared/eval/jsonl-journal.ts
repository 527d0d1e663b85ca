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

/**
 * The journal in `--out` belongs to a run with other settings, or is damaged.
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
 * What tells one kind of journal apart: the header's format tag and field
 * names, the entry schema, and the words its error messages use.
 */
export interface JournalKind<E> {
  /** The header's `format`, e.g. `hitloop-sweep-journal/1`. */
  format: string;
  /** The header field holding the settings (`config` or `settings`). */
  settingsField: string;
  /** Schema of every line after the header. */
  entry: z.ZodType<E>;
  /** e.g. `hitloop sweep journal`, in "not a hitloop sweep journal". */
  name: string;
  /** e.g. `a sweep with different shared settings`, in "belongs to ...". */
  owner: string;
  /** e.g. `a sweep unit`, in "not a sweep unit". */
  entryName: string;
  /** The settings as shown in the mismatch message. */
  describe(settings: Record<string, unknown>): string;
}

/**
 * An append-only JSON-lines file (0600) whose first line names a fingerprint
 * of the settings that produced it, so a crashed run resumes where it stopped.
 * Reopening with another fingerprint is refused ({@link JournalMismatchError})
 * rather than mixing two runs. One `write` per line: a kill can cut only the
 * last line, which opening drops (that entry simply runs again).
 *
 * @example
 * const file = JsonLinesJournal.open(path, kind, fingerprint, settings, (e) => seen.push(e));
 * file.append(entry, { sync: true });
 * file.close();
 */
export class JsonLinesJournal<E> {
  readonly path: string;
  private fd: number | undefined;

  private constructor(path: string, fd: number) {
    this.path = path;
    this.fd = fd;
  }

  /**
   * Opens (or creates) a journal, passing every intact entry to `onEntry`;
   * `fresh` discards an existing one.
   *
   * @example
   * JsonLinesJournal.open('out/journal.jsonl', kind, fp, { seed: 42 }, (e) => map.set(key(e), e), { fresh: false });
   */
  static open<E>(
    path: string,
    kind: JournalKind<E>,
    fingerprint: string,
    settings: Record<string, unknown>,
    onEntry: (entry: E) => void,
    options: { fresh?: boolean } = {},
  ): JsonLinesJournal<E> {
    mkdirSync(dirname(path), { recursive: true });
    if (options.fresh) rmSync(path, { force: true });
    if (existsSync(path)) {
      const text = readFileSync(path, 'utf8');
      const goodLength = readLines(path, text, kind, fingerprint, onEntry);
      if (goodLength < Buffer.byteLength(text)) truncateSync(path, goodLength);
      if (goodLength > 0) return new JsonLinesJournal(path, openSync(path, 'a', 0o600));
    }
    const fd = openSync(path, 'w', 0o600);
    const header = { format: kind.format, fingerprint, [kind.settingsField]: settings };
    writeAll(fd, `${JSON.stringify(header)}\n`);
    fsyncSync(fd);
    return new JsonLinesJournal(path, fd);
  }

  /**
   * Appends one entry as one line; `sync` flushes it to disk before returning
   * (worth it when entries are few and costly, as sweep units are).
   */
  append(entry: E, options: { sync?: boolean } = {}): void {
    if (this.fd === undefined) throw new Error(`${this.path}: append after close`);
    writeAll(this.fd, `${JSON.stringify(entry)}\n`);
    if (options.sync) fsyncSync(this.fd);
  }

  /** Flushes and closes; a second call does nothing. */
  close(): void {
    if (this.fd === undefined) return;
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = undefined;
  }
}

/** Parses a journal's text, feeding entries to `onEntry`; returns the byte length of its intact prefix. */
function readLines<E>(
  path: string,
  text: string,
  kind: JournalKind<E>,
  fingerprint: string,
  onEntry: (entry: E) => void,
): number {
  const Header = z.object({
    format: z.literal(kind.format),
    fingerprint: z.string().min(1),
    [kind.settingsField]: z.record(z.string(), z.unknown()),
  });
  let offset = 0;
  let lineNo = 0;
  while (offset < text.length) {
    const end = text.indexOf('\n', offset);
    // No newline: the last write was cut short by a kill.
    if (end < 0) break;
    lineNo++;
    let json: unknown;
    try {
      json = JSON.parse(text.slice(offset, end));
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
      if (!header.success) throw new JournalMismatchError(path, `${path}: not a ${kind.name}`);
      if (header.data.fingerprint !== fingerprint) {
        const settings = header.data[kind.settingsField] as Record<string, unknown>;
        throw new JournalMismatchError(
          path,
          `${path} belongs to ${kind.owner} (${kind.describe(settings)})`,
        );
      }
    } else {
      const entry = kind.entry.safeParse(json);
      if (!entry.success)
        throw new JournalMismatchError(path, `${path}:${lineNo}: not ${kind.entryName}`);
      onEntry(entry.data);
    }
    offset = end + 1;
  }
  // Byte length of the good prefix (the text may hold multi-byte characters).
  return Buffer.byteLength(text.slice(0, offset));
}

function writeAll(fd: number, text: string): void {
  const bytes = Buffer.from(text, 'utf8');
  for (let offset = 0; offset < bytes.length; ) {
    offset += writeSync(fd, bytes, offset, bytes.length - offset);
  }
}
