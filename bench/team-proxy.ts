import { ApprovalHub } from '../shared/hub/approval-hub.js';
import { HubBackend } from '../shared/hub/hub-backend.js';
import { createAction } from '../shared/models/action.js';
import { openApprovalStore } from '../shared/stores/open-store.js';

// One "proxy" of the team benchmark, run as its own process: an approval hub
// on the shared store asks COUNT approvals, CONCURRENCY at a time, and prints
// when each decision reached it (high-resolution epoch ms) as JSON lines.
//
//   node dist/bench/team-proxy.js STORE COUNT CONCURRENCY LABEL

const [store, countText, concurrencyText, label] = process.argv.slice(2);
const count = Number(countText);
const concurrency = Number(concurrencyText);
const now = () => performance.timeOrigin + performance.now();

const approvals = await openApprovalStore(store!);
const hub = new ApprovalHub({ store: approvals, name: `bench ${label}`, announce: false });
await hub.start();
const backend = new HubBackend(hub, { timeoutMs: 120_000, threadId: `bench:${label}` });
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
// Wait for the go signal so all proxies start together.
await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));

let next = 0;
const lines: string[] = [];
async function worker(): Promise<void> {
  while (next < count) {
    const i = next++;
    const action = createAction({
      toolName: 'write_file',
      toolArgs: { path: `/tmp/${label}/${i}.txt`, content: 'x' },
      server: 'fs',
    });
    const decision = await backend.requestApproval({
      runId: `bench-${label}`,
      action,
      policyName: 'bench',
      policyReason: 'ask',
      context: {},
      createdAt: new Date().toISOString(),
    });
    lines.push(JSON.stringify({ id: action.id, wokenAt: now(), approved: decision.approved }));
  }
}
await Promise.all(Array.from({ length: concurrency }, () => worker()));
process.stdout.write(`${lines.join('\n')}\n${JSON.stringify({ done: true })}\n`);
await hub.stop();
await approvals.close();
