import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TelemetryLogger } from '../shared/telemetry/logger.js';
import { openTelemetryDatabase } from '../shared/telemetry/schema.js';
import { type BenchRow, median } from './format.js';

const EVENTS = 20_000;
const ROUNDS = 7;

// A typical action_proposed payload: what the proxy logs for every tool call.
const PAYLOAD = {
  action_id: 'a-0000',
  tool_name: 'write_file',
  tool_args: { path: '/tmp/report.txt', content: 'quarterly numbers, draft 3', mode: 'overwrite' },
  risk_class: 'medium',
  side_effects: ['filesystem'],
  rationale: 'save the summary the user asked for',
  context_refs: [],
};

function loggerRound(file: string): number {
  const logger = new TelemetryLogger({ dbPath: file });
  const runId = randomUUID();
  const start = performance.now();
  for (let i = 0; i < EVENTS; i++) {
    logger.logEvent({ runId, eventType: 'action_proposed', payload: PAYLOAD });
  }
  logger.flush();
  const seconds = (performance.now() - start) / 1000;
  logger.close();
  return EVENTS / seconds;
}

// The baseline does the work any caller must do for the same rows (an id, a
// timestamp, the payload as JSON), with the same pragmas, in one transaction.
function rawRound(file: string): number {
  const db = openTelemetryDatabase(file);
  const insert = db.prepare(
    'INSERT INTO trace_events (event_id, run_id, event_type, timestamp, payload) VALUES (?, ?, ?, ?, ?)',
  );
  const runId = randomUUID();
  const start = performance.now();
  db.transaction(() => {
    for (let i = 0; i < EVENTS; i++) {
      insert.run(
        randomUUID(),
        runId,
        'action_proposed',
        new Date().toISOString(),
        JSON.stringify(PAYLOAD),
      );
    }
  })();
  const seconds = (performance.now() - start) / 1000;
  db.close();
  return EVENTS / seconds;
}

/**
 * Events per second through TelemetryLogger (default options, WAL file,
 * final flush included) against raw better-sqlite3 inserts of the same rows.
 * Rounds alternate so both see the same machine state; medians are reported.
 *
 * @example
 * printTable('Telemetry', await benchTelemetry());
 */
export async function benchTelemetry(): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'hitloop-bench-telemetry-'));
  const gc = (globalThis as { gc?: () => void }).gc;
  const logger: number[] = [];
  const raw: number[] = [];
  try {
    // One unmeasured round each warms the JIT and the file system.
    loggerRound(join(dir, 'warm-logger.db'));
    rawRound(join(dir, 'warm-raw.db'));
    for (let round = 0; round < ROUNDS; round++) {
      gc?.();
      logger.push(loggerRound(join(dir, `logger-${round}.db`)));
      gc?.();
      raw.push(rawRound(join(dir, `raw-${round}.db`)));
      // Yield so a long benchmark does not starve the event loop.
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const loggerRate = median(logger);
  const rawRate = median(raw);
  return [
    {
      name: `TelemetryLogger logEvent+flush (${EVENTS.toLocaleString('en-US')} events)`,
      value: loggerRate,
      unit: 'events/s',
      baseline: { name: 'raw INSERT, 1 txn', value: rawRate },
      target: '>= 0.5x baseline',
      pass: loggerRate >= 0.5 * rawRate,
    },
  ];
}
