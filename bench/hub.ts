import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ApprovalHub } from '../shared/hub/approval-hub.js';
import { discoverHubs } from '../shared/hub/discovery.js';
import { HubClient } from '../shared/hub/hub-client.js';
import type { ApprovalRecord } from '../shared/hub/protocol.js';
import { SqliteApprovalStore } from '../shared/stores/sqlite-store.js';
import { argsHash } from '../shared/util/canonical-json.js';
import { type BenchRow, median } from './format.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(root, 'dist/mcp-server/cli/main.js');
const EVERYTHING = join(root, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/**
 * The machine part of an approval round trip: the proxy asks, the hub
 * publishes, an approver decides through the API the moment the SSE event
 * arrives, the upstream runs, and the MCP client gets the result.
 */
async function roundTrip(calls: number): Promise<{ p50: number; p99: number; direct: number }> {
  const home = mkdtempSync(join(tmpdir(), 'hitloop-bench-hub-'));
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [
      CLI,
      'proxy',
      '--no-telemetry',
      '--log-level',
      'error',
      '--',
      process.execPath,
      EVERYTHING,
      'stdio',
    ],
    env: { ...(process.env as Record<string, string>), HITLOOP_HOME: home },
    stderr: 'ignore',
  });
  const client = new Client({ name: 'bench', version: '1' });
  await client.connect(transport);
  const hub = new HubClient(discoverHubs(home)[0]!);
  const controller = new AbortController();
  // The approver: decides each request as soon as it is published.
  void hub
    .events((e) => {
      if (e.type !== 'requested') return;
      const a: ApprovalRecord = e.approval;
      void hub.decide(a.id, { approve: true, argsHash: a.argsHash, decidedBy: 'bench:approver' });
    }, controller.signal)
    .catch(() => undefined);
  await new Promise((r) => setTimeout(r, 100));
  for (let i = 0; i < 20; i++)
    await client.callTool({ name: 'echo', arguments: { message: `warm ${i}` } });
  const times: number[] = [];
  for (let i = 0; i < calls; i++) {
    const t = performance.now();
    await client.callTool({ name: 'echo', arguments: { message: `call ${i}` } });
    times.push(performance.now() - t);
  }
  controller.abort();
  await client.close();
  rmSync(home, { recursive: true, force: true });

  // For scale: the same call straight to the server, no proxy, no approval.
  const direct = new Client({ name: 'bench-direct', version: '1' });
  await direct.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: [EVERYTHING, 'stdio'],
      stderr: 'ignore',
    }),
  );
  const d: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t = performance.now();
    await direct.callTool({ name: 'echo', arguments: { message: `d ${i}` } });
    d.push(performance.now() - t);
  }
  await direct.close();
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99), direct: median(d) };
}

/** 1,000 pending requests listed through the API (SQLite store, the default). */
async function listThousand(): Promise<number> {
  const home = mkdtempSync(join(tmpdir(), 'hitloop-bench-list-'));
  const hub = new ApprovalHub({
    store: new SqliteApprovalStore(join(home, 'approvals.db')),
    home,
    announce: false,
  });
  await hub.start();
  for (let i = 0; i < 1000; i++) {
    const args = { path: `/tmp/f${i}.txt`, content: 'x'.repeat(200) };
    await hub.publish({
      id: `bench-${i}`,
      hubId: hub.hubId,
      runId: 'bench',
      status: 'pending',
      tool: 'write_file',
      server: 'fs',
      riskClass: 'medium',
      policyName: 'rules',
      policyReason: 'default is ask',
      rationale: '',
      args,
      argsHash: argsHash(args),
      createdAt: new Date(Date.now() + i).toISOString(),
    });
  }
  const client = new HubClient({ url: hub.url, token: hub.token });
  const times: number[] = [];
  for (let i = 0; i < 7; i++) {
    const t = performance.now();
    const list = await client.listPending();
    times.push(performance.now() - t);
    if (list.length !== 1000) throw new Error(`expected 1000 pending, got ${list.length}`);
  }
  await hub.stop();
  rmSync(home, { recursive: true, force: true });
  return median(times.slice(1));
}

/** Approval hub figures for `npm run bench`. */
export async function benchHub(): Promise<BenchRow[]> {
  const rt = await roundTrip(500);
  const list = await listThousand();
  const direct = { name: 'direct echo, no proxy', value: rt.direct };
  return [
    {
      name: 'approval round trip p50 (500 calls)',
      value: rt.p50,
      unit: 'ms',
      baseline: direct,
      target: '< 25 ms',
      pass: rt.p50 < 25,
    },
    {
      name: 'approval round trip p99 (500 calls)',
      value: rt.p99,
      unit: 'ms',
      baseline: direct,
      target: '< 100 ms',
      pass: rt.p99 < 100,
    },
    {
      name: 'list 1,000 pending via the API',
      value: list,
      unit: 'ms',
      target: '< 200 ms',
      pass: list < 200,
    },
  ];
}
