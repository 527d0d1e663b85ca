import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteApprovalStore } from '../../shared/stores/sqlite-store.js';
import { pendingRecord } from '../conformance/approval-store.spec.js';
import { OutputLog, tempDir } from '../helpers/proxy-harness.js';
import { CLI, runHitloop } from '../helpers/run-cli.js';
import { type Serve, startServe } from '../helpers/serve.js';

// Text from outside hitloop's own process (a peer writing to a shared
// approvals store, a hub's answers) reaches the terminal only through the
// make-visible path: an escape sequence in an id, a decidedBy or a reason
// shows as a marker and never drives the terminal. And a decision records
// how its decider was authenticated (decidedVia) apart from the name they
// asserted (decidedBy). These run the built CLI against a real
// `hitloop serve` on SQLite, with a "peer" writing to the same file.

const ESC = '\u001b';
const CSI = '\u009b'; // the 8-bit CSI; JSON.stringify leaves it as is
const tmp = tempDir('hitloop-cli-outside-');
const db = join(tmp.dir, 'team.db');
let serve: Serve;
let peer: SqliteApprovalStore;
let env: Record<string, string>;

beforeAll(async () => {
  serve = await startServe(db, join(tmp.dir, 'serve-home'));
  peer = new SqliteApprovalStore(db);
  // The peer's process is alive, so the team hub keeps its requests pending.
  const now = new Date().toISOString();
  await peer.heartbeat({
    hubId: 'peer-hub',
    name: 'peer',
    host: hostname(),
    pid: process.pid,
    startedAt: now,
    lastSeen: now,
    heartbeatMs: 600_000,
  });
  env = {
    HITLOOP_HOME: join(tmp.dir, 'cli-home'),
    HITLOOP_HUB_URL: serve.url,
    HITLOOP_HUB_TOKEN: serve.token,
  };
});

afterAll(async () => {
  await peer?.close();
  await serve?.stop();
  tmp.remove();
});

function expectNoControls(text: string): void {
  expect(text).not.toContain(ESC);
  expect(text).not.toContain(CSI);
  expect(text).not.toContain('\u202e');
}

describe('hitloop approvals: outside text is made visible', () => {
  it('lists a peer request whose id and reason carry escapes, with markers instead', async () => {
    const record = pendingRecord({
      id: `evil${ESC}[2J${ESC}[H-1`,
      hubId: 'peer-hub',
      policyReason: `ok${ESC}[8m hidden`,
      rationale: `line one\nnot a request header`,
    });
    await peer.put(record);
    const r = runHitloop(['approvals'], { env });
    expect(r.code, r.stderr).toBe(0);
    expectNoControls(r.stdout);
    expect(r.stdout).toContain('evil⟦U+001B ESC⟧[2J⟦U+001B ESC⟧[H-1');
    expect(r.stdout).toContain('why: ok⟦U+001B ESC⟧[8m hidden');
    // A multi-line rationale stays indented under its request.
    expect(r.stdout).toContain('  agent: line one\n    not a request header');
    await peer.settle(record.id, { status: 'withdrawn', statusReason: 'done' });
  });

  it('--json escapes C1 controls and bidi overrides, and parses back to the same record', async () => {
    const record = pendingRecord({
      id: `c1-${CSI}2J`,
      hubId: 'peer-hub',
      args: { to: `bob\u202e@evil` },
    });
    await peer.put(record);
    const r = runHitloop(['approvals', '--json'], { env });
    expect(r.code, r.stderr).toBe(0);
    expectNoControls(r.stdout);
    const listed = JSON.parse(r.stdout) as Array<{ id: string; args: unknown }>;
    expect(listed.find((a) => a.id === record.id)?.args).toEqual(record.args);
    await peer.settle(record.id, { status: 'withdrawn', statusReason: 'done' });
  });

  it('approve of a request a peer decided names the decider visibly', async () => {
    const record = pendingRecord({ id: 'decided-by-peer', hubId: 'peer-hub' });
    await peer.put(record);
    await peer.settle(record.id, {
      status: 'approved',
      decision: {
        actionId: record.id,
        approved: true,
        reason: '',
        decidedBy: `cli:mallory${ESC}[2J\n+ fake line`,
        latencyMs: 1,
        tags: [],
      },
    });
    const r = runHitloop(['approve', record.id], { env });
    expect(r.code).not.toBe(0);
    expectNoControls(r.stdout + r.stderr);
    expect(r.stderr).toContain('cli:mallory⟦U+001B ESC⟧[2J⟦U+000A LF⟧+ fake line');
  });

  it('--watch prints the reason a peer gave visibly', async () => {
    const child = spawn(process.execPath, [CLI, 'approvals', '--watch'], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out = new OutputLog();
    const err = new OutputLog();
    out.attach(child.stdout);
    err.attach(child.stderr);
    try {
      await err.waitFor(/watching for approvals/, 10_000);
      // The CLI connects its event stream after printing that; requests
      // made before it is open are not streamed, so ask until one shows.
      let record = pendingRecord({ id: 'watched-0', hubId: 'peer-hub' });
      for (let i = 1; !out.text.includes('+ watched-'); i++) {
        if (i > 40) throw new Error(`the watch never showed a request:\n${err.text}`);
        record = pendingRecord({ id: `watched-${i}`, hubId: 'peer-hub' });
        await peer.put(record);
        await new Promise((r) => setTimeout(r, 250));
      }
      record = pendingRecord({ id: 'watched', hubId: 'peer-hub' });
      await peer.put(record);
      await out.waitFor(/\+ watched /, 10_000);
      await peer.settle(record.id, {
        status: 'expired',
        statusReason: `gone${ESC}[2J${ESC}[1A\rfake`,
      });
      await out.waitFor(/- watched expired/, 10_000);
      expectNoControls(out.text);
      expect(out.text).toContain(
        '- watched expired: gone⟦U+001B ESC⟧[2J⟦U+001B ESC⟧[1A⟦U+000D CR⟧fake',
      );
    } finally {
      child.kill('SIGTERM');
    }
  });
});

describe('decidedVia: how the decider was authenticated, apart from the name they gave', () => {
  it('records hub-token for a decision through the hub API, keeps the asserted name, and the CLI shows both', async () => {
    const record = pendingRecord({ id: 'via-token', hubId: 'peer-hub' });
    await peer.put(record);
    const decided = await serve.client.decide(record.id, {
      approve: true,
      argsHash: record.argsHash,
      decidedBy: 'cli:somebody-else',
    });
    expect(decided.decision).toMatchObject({
      decidedBy: 'cli:somebody-else',
      decidedVia: 'hub-token',
    });
    expect((await peer.get(record.id))?.decision?.decidedVia).toBe('hub-token');
    const r = runHitloop(['approve', record.id], { env });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('already approved by cli:somebody-else (via hub-token)');
  });

  it('refuses a decision body that claims its own decidedVia', async () => {
    const record = pendingRecord({ id: 'via-claimed', hubId: 'peer-hub' });
    await peer.put(record);
    const res = await fetch(`${serve.url}/v1/approvals/${record.id}/decision`, {
      method: 'POST',
      headers: { authorization: `Bearer ${serve.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ approve: true, argsHash: record.argsHash, decidedVia: 'terminal' }),
    });
    expect(res.status).toBe(400);
    expect((await peer.get(record.id))?.status).toBe('pending');
    await peer.settle(record.id, { status: 'withdrawn', statusReason: 'done' });
  });
});
