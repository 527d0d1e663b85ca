import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { openSqlite } from '../../shared/sqlite/open.js';
import { TelemetryError, TelemetryLogger } from '../../shared/telemetry/logger.js';
import { makeTempDir } from '../helpers/temp-dir.js';

// A real "disk full": SQLite refuses to grow the file past max_page_count,
// failing inserts with SQLITE_FULL exactly as a full disk would.

let dir: string;
let file: string;

beforeEach(() => {
  dir = makeTempDir('hitloop-telemetry-failure-');
  file = join(dir, 'telemetry.db');
});
afterEach(() => {
  vi.restoreAllMocks();
  rmSync(dir, { recursive: true, force: true });
});

function fillDisk(logger: TelemetryLogger): void {
  const pages = logger.database.pragma('page_count', { simple: true }) as number;
  expect(logger.database.pragma(`max_page_count = ${pages}`, { simple: true })).toBe(pages);
}

function freeDisk(logger: TelemetryLogger): void {
  logger.database.pragma('max_page_count = 1073741823');
}

/** Big enough that every row needs a new page. */
function bigPayload(i: number) {
  return { i, blob: 'x'.repeat(5000) };
}

function storedIndexes(): number[] {
  const db = openSqlite(file, { readonly: true });
  try {
    return (
      db.prepare('SELECT payload FROM trace_events ORDER BY id').pluck().all() as string[]
    ).map((p) => (JSON.parse(p) as { i: number }).i);
  } finally {
    db.close();
  }
}

describe('TelemetryLogger on a failing disk (not required)', () => {
  it('reports once, keeps every row buffered, and writes them all when the disk recovers', () => {
    const errors: TelemetryError[] = [];
    const log = new TelemetryLogger({
      dbPath: file,
      batchSize: 10,
      flushIntervalMs: 0,
      onError: (e) => errors.push(e),
    });
    fillDisk(log);
    for (let i = 0; i < 25; i++)
      log.logEvent({ runId: 'r', eventType: 'llm_call', payload: bigPayload(i) });
    log.flush();
    log.flush();
    expect(() => log.flush()).not.toThrow();

    expect(errors).toHaveLength(1);
    expect(errors[0]?.code).toBe('HITLOOP_TELEMETRY_WRITE');
    expect((errors[0]?.cause as { code?: string } | undefined)?.code).toBe('SQLITE_FULL');
    expect(errors[0]?.message).toContain(file);
    expect(log.stats).toMatchObject({ buffered: 25, written: 0, dropped: 0, failing: true });
    expect(storedIndexes()).toEqual([]);

    freeDisk(log);
    log.logEvent({ runId: 'r', eventType: 'llm_call', payload: bigPayload(25) });
    log.flush();
    expect(log.stats).toMatchObject({ buffered: 0, written: 26, dropped: 0, failing: false });
    log.close();
    expect(storedIndexes()).toEqual(Array.from({ length: 26 }, (_, i) => i));
  });

  it('writes one line to stderr by default, not one per failed flush', () => {
    const lines: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    const log = new TelemetryLogger({ dbPath: file, flushIntervalMs: 0 });
    fillDisk(log);
    log.logEvent({ runId: 'r', eventType: 'llm_call', payload: bigPayload(0) });
    log.flush();
    log.flush();
    log.flush();
    vi.restoreAllMocks();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^hitloop telemetry: could not write telemetry to .*SQLITE_FULL.*\n$/);
    freeDisk(log);
    log.close();
    expect(storedIndexes()).toEqual([0]);
  });

  it('caps the buffer, dropping the oldest rows and saying how many', () => {
    const errors: TelemetryError[] = [];
    const log = new TelemetryLogger({
      dbPath: file,
      batchSize: 10,
      flushIntervalMs: 0,
      maxBuffered: 50,
      onError: (e) => errors.push(e),
    });
    fillDisk(log);
    for (let i = 0; i < 80; i++)
      log.logEvent({ runId: 'r', eventType: 'llm_call', payload: bigPayload(i) });
    expect(log.stats).toMatchObject({ buffered: 50, dropped: 30 });
    log.flush();
    const dropped = errors.filter((e) => e.code === 'HITLOOP_TELEMETRY_DROPPED');
    // Usually one report of 30; a slow machine may hit a retry in between and split it.
    expect(dropped.reduce((sum, e) => sum + e.dropped, 0)).toBe(30);
    expect(dropped[0]?.message).toMatch(/dropped the \d+ oldest telemetry row\(s\)/);

    freeDisk(log);
    log.close();
    expect(storedIndexes()).toEqual(Array.from({ length: 50 }, (_, i) => i + 30));
  });

  it('does not throw from close, and reports the rows it could not keep', () => {
    const errors: TelemetryError[] = [];
    const log = new TelemetryLogger({ dbPath: file, onError: (e) => errors.push(e) });
    fillDisk(log);
    for (let i = 0; i < 3; i++)
      log.logEvent({ runId: 'r', eventType: 'llm_call', payload: bigPayload(i) });
    expect(() => log.close()).not.toThrow();
    expect(errors.map((e) => e.code)).toEqual([
      'HITLOOP_TELEMETRY_WRITE',
      'HITLOOP_TELEMETRY_LOST',
    ]);
    expect(errors[1]?.dropped).toBe(3);
    expect(log.stats.dropped).toBe(3);
  });
});

describe('TelemetryLogger on a failing disk (required)', () => {
  it('throws the write error to the caller, accepts nothing more, and loses nothing', () => {
    const log = new TelemetryLogger({
      dbPath: file,
      required: true,
      batchSize: 100,
      flushIntervalMs: 0,
    });
    fillDisk(log);
    const accepted: string[] = [];
    for (let i = 0; i < 5; i++) {
      accepted.push(log.logEvent({ runId: 'r', eventType: 'llm_call', payload: bigPayload(i) }));
    }

    let error: unknown;
    try {
      log.flush();
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(TelemetryError);
    expect((error as TelemetryError).code).toBe('HITLOOP_TELEMETRY_WRITE');
    expect(((error as TelemetryError).cause as { code?: string }).code).toBe('SQLITE_FULL');
    expect((error as TelemetryError).buffered).toBe(5);

    // Fail closed: the next write is refused rather than queued behind a broken disk.
    expect(() =>
      log.logEvent({ runId: 'r', eventType: 'llm_call', payload: bigPayload(99) }),
    ).toThrow(TelemetryError);
    expect(() => log.startRun({ runId: 'r2' })).toThrow(TelemetryError);
    expect(() => log.getRunEvents('r')).toThrow(TelemetryError);
    expect(() => log.close()).toThrow(TelemetryError);
    expect(log.stats.buffered).toBe(5);

    freeDisk(log);
    accepted.push(log.logEvent({ runId: 'r', eventType: 'llm_call', payload: bigPayload(5) }));
    log.close();
    expect(storedIndexes()).toEqual([0, 1, 2, 3, 4, 5]);
    const db = openSqlite(file, { readonly: true });
    expect(new Set(db.prepare('SELECT event_id FROM trace_events').pluck().all())).toEqual(
      new Set(accepted),
    );
    db.close();
  });

  it('throws from the logEvent that fills a batch, and that event is not recorded', () => {
    const log = new TelemetryLogger({
      dbPath: file,
      required: true,
      batchSize: 3,
      flushIntervalMs: 0,
    });
    fillDisk(log);
    log.logEvent({ runId: 'r', eventType: 'llm_call', payload: bigPayload(0) });
    log.logEvent({ runId: 'r', eventType: 'llm_call', payload: bigPayload(1) });
    expect(() =>
      log.logEvent({ runId: 'r', eventType: 'llm_call', payload: bigPayload(2) }),
    ).toThrow(/SQLITE_FULL/);
    expect(log.stats.buffered).toBe(2);
    freeDisk(log);
    log.close();
    expect(storedIndexes()).toEqual([0, 1]);
  });

  it('fails closed after a background flush failed, with nothing reported twice', async () => {
    const errors: TelemetryError[] = [];
    const log = new TelemetryLogger({
      dbPath: file,
      required: true,
      flushIntervalMs: 20,
      onError: (e) => errors.push(e),
    });
    fillDisk(log);
    log.logEvent({ runId: 'r', eventType: 'llm_call', payload: bigPayload(0) });
    const deadline = Date.now() + 3000;
    while (!log.stats.failing && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(log.stats.failing).toBe(true);
    // No caller to throw to, so the timer's failure went to onError.
    expect(errors.map((e) => e.code)).toEqual(['HITLOOP_TELEMETRY_WRITE']);
    expect(() =>
      log.logEvent({ runId: 'r', eventType: 'llm_call', payload: bigPayload(1) }),
    ).toThrow(TelemetryError);
    freeDisk(log);
    log.logEvent({ runId: 'r', eventType: 'llm_call', payload: bigPayload(2) });
    log.close();
    expect(storedIndexes()).toEqual([0, 2]);
  });
});

describe('TelemetryLogger.logEventDurably', () => {
  for (const required of [true, false]) {
    it(`commits the event with what was buffered before it, or throws and withdraws it (required: ${required})`, () => {
      const log = new TelemetryLogger({
        dbPath: file,
        required,
        flushIntervalMs: 0,
        onError: () => undefined,
      });
      log.logEvent({ runId: 'r', eventType: 'llm_call', payload: bigPayload(0) });
      log.logEventDurably({ runId: 'r', eventType: 'llm_call', payload: bigPayload(1) });
      // On disk already: no flush, no close.
      expect(storedIndexes()).toEqual([0, 1]);

      fillDisk(log);
      log.logEvent({ runId: 'r', eventType: 'llm_call', payload: bigPayload(2) });
      expect(() =>
        log.logEventDurably({ runId: 'r', eventType: 'llm_call', payload: bigPayload(3) }),
      ).toThrow(TelemetryError);
      expect(log.stats.buffered).toBe(1); // row 2 kept, row 3 withdrawn
      freeDisk(log);
      log.close();
      expect(storedIndexes()).toEqual([0, 1, 2]);
    });
  }
});
