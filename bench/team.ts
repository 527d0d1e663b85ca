import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ApprovalHub } from '../shared/hub/approval-hub.js';
import { maskStoreUrl, openApprovalStore } from '../shared/stores/open-store.js';
import type { BenchRow } from './format.js';

const PROXY = fileURLToPath(new URL('./team-proxy.js', import.meta.url));
const now = () => performance.timeOrigin + performance.now();

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

interface TeamRun {
  total: number;
  seconds: number;
  /** From just before the decider's `decide` call (includes its store round trips). */
  p50: number;
  p99: number;
  /** From the moment `decide` returned (the decision committed). */
  committedP50: number;
  committedP99: number;
}

/**
 * 1,000 approvals created and decided through one shared store by four
 * proxy processes at once. A decider (the team hub) approves each request
 * as soon as the store announces it; each proxy notes when the decision
 * reached it. Latency is from just before the decider's `decide` call to the
 * waiting proxy waking (clocks: performance.timeOrigin + now, one machine).
 */
async function teamRun(
  store: string,
  proxies = 4,
  perProxy = 250,
  concurrency = 16,
): Promise<TeamRun> {
  const deciderStore = await openApprovalStore(store);
  const decider = new ApprovalHub({
    store: deciderStore,
    name: 'bench decider',
    announce: false,
    relayStoreEvents: true,
  });
  await decider.start();
  const decidedAt = new Map<string, number>();
  // When `decide` returned: the decision is committed in the store.
  const committedAt = new Map<string, number>();
  decider.subscribe((e) => {
    if (e.type !== 'requested') return;
    const t = now();
    decidedAt.set(e.approval.id, t);
    void decider
      .decide(e.approval.id, {
        approve: true,
        argsHash: e.approval.argsHash,
        decidedBy: 'bench:decider',
      })
      .then(() => committedAt.set(e.approval.id, now()));
  });
  const children = Array.from({ length: proxies }, (_, i) =>
    spawn(process.execPath, [PROXY, store, String(perProxy), String(concurrency), `p${i}`], {
      stdio: ['pipe', 'pipe', 'inherit'],
    }),
  );
  const woken: Array<{ id: string; wokenAt: number; approved: boolean }> = [];
  const ready: Promise<void>[] = [];
  const done: Promise<void>[] = [];
  for (const child of children) {
    const lines = createInterface({ input: child.stdout! });
    let onReady!: () => void;
    let onDone!: () => void;
    ready.push(new Promise((r) => (onReady = r)));
    done.push(new Promise((r) => (onDone = r)));
    lines.on('line', (line) => {
      const m = JSON.parse(line) as {
        ready?: true;
        done?: true;
        id?: string;
        wokenAt?: number;
        approved?: boolean;
      };
      if (m.ready) onReady();
      else if (m.done) onDone();
      else woken.push(m as { id: string; wokenAt: number; approved: boolean });
    });
    child.once('exit', (code) => {
      if (code !== 0) process.stderr.write(`bench: a proxy process exited with ${code}\n`);
      onReady();
      onDone();
    });
  }
  await Promise.all(ready);
  const start = now();
  for (const child of children) child.stdin!.end('go\n');
  await Promise.all(done);
  const seconds = (now() - start) / 1000;
  await decider.stop();
  await deciderStore.close();
  const latencies = woken
    .filter((w) => w.approved && decidedAt.has(w.id))
    .map((w) => w.wokenAt - decidedAt.get(w.id)!)
    .sort((a, b) => a - b);
  if (latencies.length !== proxies * perProxy)
    throw new Error(`only ${latencies.length} of ${proxies * perProxy} approvals completed`);
  // The decider's `then` may run after the proxy already woke: clamp at 0.
  const fromCommit = woken
    .map((w) => Math.max(0, w.wokenAt - committedAt.get(w.id)!))
    .sort((a, b) => a - b);
  return {
    total: latencies.length,
    seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    committedP50: percentile(fromCommit, 50),
    committedP99: percentile(fromCommit, 99),
  };
}

/** PostgreSQL beside a shared SQLite file (one machine), same workload. */
export async function benchTeam(postgresUrl: string): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'hitloop-bench-team-'));
  const base = await teamRun(join(dir, 'approvals.db'));
  rmSync(dir, { recursive: true, force: true });
  let pg: TeamRun;
  const schema = `hitloop_bench_${Date.now().toString(36)}`;
  const url = new URL(postgresUrl);
  url.searchParams.set('schema', schema);
  try {
    pg = await teamRun(url.toString());
  } catch (err) {
    console.log(
      `\n(team benchmark on PostgreSQL skipped: ${err instanceof Error ? err.message : String(err)}; store ${maskStoreUrl(postgresUrl)})`,
    );
    return [];
  }
  return [
    {
      name: `approvals/s, 4 proxies x 250 (PostgreSQL)`,
      value: pg.total / pg.seconds,
      unit: '/s',
      baseline: { name: 'shared SQLite file', value: base.total / base.seconds },
    },
    {
      name: 'decision committed -> waiting proxy woke, p50',
      value: pg.committedP50,
      unit: 'ms',
      baseline: { name: 'shared SQLite file', value: base.committedP50 },
    },
    {
      name: 'decision committed -> waiting proxy woke, p99',
      value: pg.committedP99,
      unit: 'ms',
      baseline: { name: 'shared SQLite file', value: base.committedP99 },
    },
    {
      name: 'decide() called -> waiting proxy woke, p50',
      value: pg.p50,
      unit: 'ms',
      baseline: { name: 'shared SQLite file', value: base.p50 },
    },
    {
      name: 'decide() called -> waiting proxy woke, p99',
      value: pg.p99,
      unit: 'ms',
      baseline: { name: 'shared SQLite file', value: base.p99 },
    },
  ];
}
