import { existsSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { type TelemetryError, TelemetryLogger } from '../../shared/telemetry/logger.js';
import { makeTempDir } from '../helpers/temp-dir.js';

// The logger's background checkpoints (wal-checkpointer.ts): the write-ahead
// log is copied back by a worker thread's connection, never inside a flush,
// it stays small, and nothing is lost on close or when the worker fails.

let dir: string;
beforeEach(() => {
  dir = makeTempDir('hitloop-telemetry-checkpoint-');
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const autocheckpoint = (logger: TelemetryLogger) =>
  Number(logger.database.pragma('wal_autocheckpoint', { simple: true }));

/** Writes about 4 MB of events (2,000 of 2 KB) in one flush. */
function writeFourMegabytes(logger: TelemetryLogger, round: number): void {
  const text = 'x'.repeat(2000);
  for (let i = 0; i < 2000; i++)
    logger.logEvent({ runId: 'r', eventType: 'llm_call', payload: { round, i, text } });
  logger.flush();
}

describe('background checkpoints', () => {
  it('keep the log small while the writing connection never checkpoints', async () => {
    const file = join(dir, 'a.db');
    const logger = new TelemetryLogger({ dbPath: file, batchSize: 100_000, flushIntervalMs: 0 });
    // Not in the first second: a process that writes little never starts a thread.
    writeFourMegabytes(logger, 0);
    expect(autocheckpoint(logger)).toBe(1000);
    await sleep(1100);
    for (let round = 1; round < 5; round++) {
      writeFourMegabytes(logger, round);
      // The writing connection has handed checkpoints over...
      expect(autocheckpoint(logger)).toBe(0);
      // ...and the worker copies the log back meanwhile (asked at most once a second).
      await sleep(1100);
    }
    // 20 MB were written; without checkpoints the log would hold all of it.
    // It is restarted after each copy, so it holds about two rounds.
    expect(statSync(`${file}-wal`).size).toBeLessThan(9 * 1024 * 1024);
    logger.close();
    // Closed last, the writer's connection copied the rest and removed the log.
    expect(existsSync(`${file}-wal`)).toBe(false);
    const reader = new TelemetryLogger({ dbPath: file, backgroundCheckpoints: false });
    expect(reader.getRunEvents('r')).toHaveLength(10_000);
    reader.close();
  });

  it('can be turned off: SQLite then checkpoints while writing, as before', async () => {
    const logger = new TelemetryLogger({
      dbPath: join(dir, 'b.db'),
      batchSize: 100_000,
      backgroundCheckpoints: false,
    });
    writeFourMegabytes(logger, 0);
    await sleep(1100);
    writeFourMegabytes(logger, 1);
    expect(autocheckpoint(logger)).toBe(1000);
    logger.close();
  });

  it('a worker that cannot open the file gives checkpoints back to SQLite and says so; no row is lost', async () => {
    const file = join(dir, 'c.db');
    const problems: TelemetryError[] = [];
    const logger = new TelemetryLogger({
      dbPath: file,
      flushIntervalMs: 0,
      onError: (e) => problems.push(e),
    });
    // The writer keeps its open file under the new name; the worker looks for the old one.
    logger.logEvent({ runId: 'r', eventType: 'llm_call', payload: { n: 1 } });
    writeFourMegabytes(logger, 0);
    renameSync(file, join(dir, 'moved.db'));
    await sleep(1100);
    logger.flush();
    logger.logEvent({ runId: 'r', eventType: 'llm_call', payload: { n: 2 } });
    logger.flush();
    for (let i = 0; i < 100 && problems.length === 0; i++) await sleep(50);
    expect(problems.map((p) => p.code)).toEqual(['HITLOOP_TELEMETRY_CHECKPOINT']);
    expect(problems[0]!.message).toMatch(/background checkpoints of .*c\.db stopped/);
    expect(problems[0]!.message).toMatch(/SQLite checkpoints it while writing instead/);
    expect(autocheckpoint(logger)).toBe(1000);
    logger.logEvent({ runId: 'r', eventType: 'llm_call', payload: { n: 3 } });
    const ns = logger.getRunEvents('r').map((e) => e.payload.n);
    expect([ns[0], ns.at(-2), ns.at(-1), ns.length]).toEqual([1, 2, 3, 2003]);
    logger.close();
  });

  it('close right after the worker was started, while it is still starting, waits for it and leaves no log', async () => {
    const file = join(dir, 'd.db');
    const logger = new TelemetryLogger({ dbPath: file, batchSize: 100_000, flushIntervalMs: 0 });
    writeFourMegabytes(logger, 0);
    await sleep(1100);
    logger.logEvent({ runId: 'r', eventType: 'llm_call', payload: { n: 1 } });
    logger.flush(); // starts the worker
    expect(autocheckpoint(logger)).toBe(0);
    logger.close();
    expect(existsSync(`${file}-wal`)).toBe(false);
  });
});
