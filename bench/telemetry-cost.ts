import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger } from '../mcp-server/proxy/log.js';
import { CallRecorder } from '../mcp-server/proxy/session/call-recorder.js';
import { toolCallAction } from '../mcp-server/proxy/session/tool-call.js';
import { AutoRejectBackend } from '../shared/backends/auto-reject.js';
import { gateAction } from '../shared/gate/approval-gate.js';
import { AlwaysApprovePolicy } from '../shared/policies/always-approve.js';
import { TelemetryLogger } from '../shared/telemetry/logger.js';
import { type BenchRow, median } from './format.js';

const CALLS = 20_000;
const quiet = createLogger('error', () => {});
const ROUNDS = 5;
/** The logger's default batchSize: a flush every 500 allowed calls. */
const BATCH = 500;

/** CPU µs per call of `fn` over `n` calls (user + system, this process). */
async function cpuPerCall(n: number, fn: (i: number) => Promise<void> | void): Promise<number> {
  const before = process.cpuUsage();
  for (let i = 0; i < n; i++) await fn(i);
  const used = process.cpuUsage(before);
  return (used.user + used.system) / n;
}

/**
 * What recording one allowed call costs inside the proxy's process, split
 * into its parts, measured in this process with the proxy's own code: the
 * gate with no telemetry (the floor), the gate plus the three events the
 * proxy logs for an allowed call (building payloads, argument hashing,
 * compaction, buffering; no flush), and the flush of those rows to SQLite.
 * Medians of interleaved rounds. The proxy benchmark prints these beside the
 * budget its 16-concurrent target leaves for telemetry, so the run shows
 * which part stands in the way.
 *
 * @example
 * const cost = await telemetryCostPerCall(workDir);
 * console.log(cost.recordUs + cost.flushUs); // µs of telemetry per allowed call
 */
export async function telemetryCostPerCall(
  workDir: string,
): Promise<{ gateUs: number; recordUs: number; flushUs: number }> {
  const policy = new AlwaysApprovePolicy();
  const backend = new AutoRejectBackend();
  const tool = {
    name: 'echo',
    annotations: undefined,
  };
  const server = { name: 'everything', trusted: false };
  const context = { client: { name: 'bench', version: '1' }, cwd: workDir, clientRequestId: 0 };
  const runId = 'bench-run';
  const gate: number[] = [];
  const record: number[] = [];
  const flush: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    gate.push(
      await cpuPerCall(CALLS, async () => {
        const action = toolCallAction(server, tool, { message: 'hello' });
        await gateAction(action, { policy, backend, runId, context });
      }),
    );
    const dbPath = join(workDir, `telemetry-cost-${round}.db`);
    // Flushed by hand every BATCH calls, as the logger's default batchSize
    // would, so the flush's CPU is measured apart from the recording's.
    const logger = new TelemetryLogger({ dbPath, batchSize: 1e9, flushIntervalMs: 0 });
    logger.startRun({ runId, condition: 'proxy', scenario: 'bench' });
    logger.flush();
    let flushMicros = 0;
    // As the proxy records (telemetry.required off): through its CallRecorder,
    // whose records run after the call (here: at the batch's end).
    const recorder = new CallRecorder(logger, runId, quiet);
    const all = await cpuPerCall(CALLS, async (i) => {
      const action = toolCallAction(server, tool, { message: `hello ${i}` });
      const outcome = await gateAction(action, {
        policy,
        backend,
        runId,
        context,
        logger: recorder.gateLogger,
      });
      if (outcome.kind !== 'allowed') throw new Error('bench: the call was not allowed');
      recorder.start(action, outcome.args);
      recorder.end({ actionId: action.id, success: true, durationMs: 0.25, executed: true });
      if (i % BATCH === BATCH - 1) {
        await new Promise((resolve) => setImmediate(resolve)); // the records run
        flushMicros += await cpuPerCall(1, () => logger.flush());
      }
    });
    flush.push(flushMicros / CALLS);
    record.push(all - flushMicros / CALLS - gate[gate.length - 1]!);
    logger.close();
    rmSync(dbPath, { force: true });
    rmSync(`${dbPath}-wal`, { force: true });
    rmSync(`${dbPath}-shm`, { force: true });
  }
  return { gateUs: median(gate), recordUs: median(record), flushUs: median(flush) };
}

/**
 * The rows for the cost above, with the budget the 16-concurrent target
 * (>= 0.8x the byte relay) leaves for telemetry: the CPU per call all three
 * processes may use, minus what the proxy without telemetry already uses
 * (both from the same run's concurrent phase, in µs).
 *
 * @example
 * printTable('Telemetry per allowed call', telemetryCostRows(cost, 83.6, 95.7, 28.7));
 */
export function telemetryCostRows(
  cost: { gateUs: number; recordUs: number; flushUs: number },
  relayAllProcessesUs: number,
  proxyWithoutTelemetryAllProcessesUs: number,
  inProxyUs: number,
): BenchRow[] {
  const r1 = (x: number) => Math.round(x * 10) / 10;
  const total = cost.recordUs + cost.flushUs;
  const budget = relayAllProcessesUs / 0.8 - proxyWithoutTelemetryAllProcessesUs;
  return [
    {
      name: 'gate of an allowed call, no telemetry (the floor)',
      value: r1(cost.gateUs),
      unit: 'µs',
    },
    {
      name: 'recording it (after the answer): payloads, args hash, compaction, buffer (3 events)',
      value: r1(cost.recordUs),
      unit: 'µs',
    },
    { name: 'writing it: the SQLite flush, per call', value: r1(cost.flushUs), unit: 'µs' },
    {
      name: 'telemetry per allowed call, in-process',
      value: r1(total),
      unit: 'µs',
      baseline: { name: 'budget', value: r1(budget) },
      target: '<= budget',
      pass: total <= budget,
    },
    {
      // Higher than in-process: the proxy's heap is bigger and busier, so the
      // same allocations cost more garbage collection there.
      name: 'telemetry per allowed call, in the proxy (middle CPU with - without, 16 concurrent)',
      value: r1(inProxyUs),
      unit: 'µs',
      baseline: { name: 'budget', value: r1(budget) },
      target: '<= budget',
      pass: inProxyUs <= budget,
    },
    {
      name:
        budget > 0
          ? 'budget: relay CPU (all processes) / 0.8 - proxy without telemetry'
          : 'budget: relay CPU (all processes) / 0.8 - proxy without telemetry (none left: the proxy without telemetry already uses more)',
      value: r1(budget),
      unit: 'µs',
    },
  ];
}
