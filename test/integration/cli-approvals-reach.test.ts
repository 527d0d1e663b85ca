import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discoverHubs } from '../../shared/hub/discovery.js';
import { HubClient } from '../../shared/hub/hub-client.js';
import {
  filesystemServer,
  pendingOnHub,
  startHttpProxy,
  tempDir,
  waitUntil,
  writeConfig,
} from '../helpers/proxy-harness.js';
import { runHitloop } from '../helpers/run-cli.js';
import { type Serve, startServe } from '../helpers/serve.js';

// `hitloop approvals / approve / reject` used to print "no pending approvals"
// (exit 0) when the hub they were pointed at could not be reached or refused
// the token, and "no pending approval with this id" for a request the client
// had cancelled. These run the built CLI against a real `hitloop serve` and a
// real `hitloop proxy`.

const tmp = tempDir('hitloop-cli-reach-');
afterAll(() => tmp.remove());

/** A loopback port nothing listens on (opened, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The three commands, each against the same hub settings. */
const COMMANDS = [
  ['approvals'],
  ['approve', '01a20b5f-db46-7000-9d13-6a94ba570dbc'],
  ['reject', '01a20b5f-db46-7000-9d13-6a94ba570dbc', '--reason', 'no'],
] as const;

describe('HITLOOP_HUB_URL: a hub that cannot be reached or refuses the token is an error', () => {
  let serve: Serve;
  const emptyHome = join(tmp.dir, 'cli-home');
  beforeAll(async () => {
    serve = await startServe(join(tmp.dir, 'team.db'), join(tmp.dir, 'serve-home'));
  });
  afterAll(() => serve?.stop());

  it('a wrong token: "could not authenticate", naming the URL and not the token, exit 1', () => {
    for (const args of COMMANDS) {
      const r = runHitloop([...args], {
        env: {
          HITLOOP_HOME: emptyHome,
          HITLOOP_HUB_URL: serve.url,
          HITLOOP_HUB_TOKEN: 'wrong-token-123',
        },
      });
      expect(r.code, `${args[0]}: ${r.stderr}`).toBe(1);
      expect(r.stderr).toContain(
        `could not authenticate to the hub at ${serve.url} (HITLOOP_HUB_URL)`,
      );
      expect(r.stderr).toContain('HITLOOP_HUB_TOKEN');
      expect(r.stderr + r.stdout).not.toContain('wrong-token-123');
      expect(r.stdout).not.toContain('no pending approvals');
    }
  });

  it('the right token still lists (and says when nothing is pending)', () => {
    const r = runHitloop(['approvals'], {
      env: { HITLOOP_HOME: emptyHome, HITLOOP_HUB_URL: serve.url, HITLOOP_HUB_TOKEN: serve.token },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('no pending approvals');
  });

  it('nothing listening at the URL: "could not reach", exit 1', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    for (const args of COMMANDS) {
      const r = runHitloop([...args], {
        env: { HITLOOP_HOME: emptyHome, HITLOOP_HUB_URL: url, HITLOOP_HUB_TOKEN: 'tok-456' },
      });
      expect(r.code, `${args[0]}: ${r.stderr}`).toBe(1);
      expect(r.stderr).toContain(
        `could not reach the hub at ${url} (HITLOOP_HUB_URL): ECONNREFUSED`,
      );
      expect(r.stderr).not.toContain('tok-456');
      expect(r.stdout).not.toContain('no pending approvals');
    }
  });

  it('an invalid URL, or a URL without a token, is bad input: exit 2 naming the variable and the fix', () => {
    for (const args of COMMANDS) {
      const bad = runHitloop([...args], {
        env: {
          HITLOOP_HOME: emptyHome,
          HITLOOP_HUB_URL: 'hub.example:8700/#token=SECRET',
          HITLOOP_HUB_TOKEN: 'x',
        },
      });
      expect(bad.code, bad.stderr).toBe(2);
      expect(bad.stderr).toMatch(
        /HITLOOP_HUB_URL: .* is not an http:\/\/ or https:\/\/ URL\n {2}fix: /,
      );
      expect(bad.stderr).not.toContain('SECRET');
      const noToken = runHitloop([...args], {
        env: { HITLOOP_HOME: emptyHome, HITLOOP_HUB_URL: serve.url, HITLOOP_HUB_TOKEN: '' },
      });
      expect(noToken.code).toBe(2);
      expect(noToken.stderr).toMatch(
        /HITLOOP_HUB_TOKEN: HITLOOP_HUB_URL is set .* but HITLOOP_HUB_TOKEN is not/,
      );
    }
  });
});

describe('local hub files: a stale one is skipped, but "every hub failed" is said', () => {
  /** A discovery file as a running hub writes it; our own pid keeps it from being cleaned up. */
  function announce(home: string, name: string, url: string, token: string): void {
    const dir = join(home, 'hubs');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(
      join(dir, `${name}.json`),
      JSON.stringify({
        apiVersion: 1,
        hubId: name,
        name,
        pid: process.pid,
        url,
        token,
        cwd: tmp.dir,
        startedAt: new Date().toISOString(),
      }),
      { mode: 0o600 },
    );
  }

  it('only dead or foreign hubs: exit 1 naming each, not "no pending approvals"', async () => {
    const home = join(tmp.dir, 'dead-home');
    const deadUrl = `http://127.0.0.1:${await closedPort()}`;
    announce(home, 'dead', deadUrl, 'dead-token-0123456789');
    for (const args of COMMANDS) {
      const r = runHitloop([...args], { env: { HITLOOP_HOME: home } });
      expect(r.code, `${args[0]}: ${r.stderr}`).toBe(1);
      expect(r.stderr).toContain(`the only hitloop hub found in ${join(home, 'hubs')} answered`);
      expect(r.stderr).toContain(`could not reach hub 'dead' (pid ${process.pid}) at ${deadUrl}`);
      expect(r.stdout).not.toContain('no pending approvals');
    }
    // A port held by something else (here: a hub with another token).
    const serve = await startServe(join(tmp.dir, 'foreign.db'), join(tmp.dir, 'foreign-home'));
    try {
      announce(home, 'foreign', serve.url, 'not-its-token-0123456789');
      const r = runHitloop(['approvals'], { env: { HITLOOP_HOME: home } });
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain('none of the 2 hitloop hubs found');
      expect(r.stderr).toContain(
        `could not authenticate to hub 'foreign' (pid ${process.pid}) at ${serve.url}`,
      );
      expect(r.stderr).not.toContain('not-its-token-0123456789');
    } finally {
      await serve.stop();
    }
  });

  it("one live hub beside a dead file: a warning, then the live hub's answer, exit 0", async () => {
    const home = join(tmp.dir, 'mixed-home');
    const deadUrl = `http://127.0.0.1:${await closedPort()}`;
    announce(home, 'dead', deadUrl, 'dead-token-0123456789');
    const serve = await startServe(join(tmp.dir, 'live.db'), join(tmp.dir, 'live-home'));
    try {
      announce(home, 'live', serve.url, serve.token);
      const r = runHitloop(['approvals'], { env: { HITLOOP_HOME: home } });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain(`hitloop: warn: could not reach hub 'dead'`);
      expect(r.stdout, r.stderr).toContain('no pending approvals');
    } finally {
      await serve.stop();
    }
  });
});

describe('a late decision on a request the client cancelled', () => {
  it('says it was withdrawn, when, and which tool, while the proxy runs and after it exited; exit 1', async () => {
    const work = join(tmp.dir, 'files');
    const home = join(tmp.dir, 'proxy-home');
    mkdirSync(work, { recursive: true });
    const config = writeConfig(tmp.dir, {
      mcpServers: { fs: filesystemServer(work) },
      policy: { type: 'rules', default: 'allow', rules: [{ tool: 'write_file', effect: 'ask' }] },
      telemetry: { db: false },
    });
    const proxy = await startHttpProxy(config, home);
    const env = { HITLOOP_HOME: home };
    const timeRe = /\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(\d+ s ago\)/;
    let id: string;
    try {
      const client = await proxy.connect();
      const cancel = new AbortController();
      const call = client
        .callTool(
          { name: 'write_file', arguments: { path: join(work, 'a.txt'), content: 'x' } },
          undefined,
          { signal: cancel.signal },
        )
        .catch(() => undefined);
      const { hub, pending } = await pendingOnHub(home);
      id = pending.id;
      cancel.abort('the user pressed Esc');
      await call;
      await waitUntil(
        async () => (await hub.get(id)).status === 'withdrawn',
        'the proxy to withdraw it',
      );

      const late = runHitloop(['approve', id], { env });
      expect(late.code, late.stderr).toBe(1);
      expect(late.stderr).toContain(`approval ${id} (fs/write_file, requested `);
      expect(late.stderr).toMatch(
        new RegExp(`was withdrawn at ${timeRe.source}: the agent withdrew the call`),
      );
      expect(late.stderr).toContain('recorded with it but not applied');
      expect(late.stdout).toBe('');
      // The hub kept the late decision on the record.
      expect((await hub.get(id)).lateDecision?.approved).toBe(true);
    } finally {
      await proxy.close();
    }
    // The proxy is gone (its client quit): the shared store still knows.
    expect(discoverHubs(home)).toEqual([]);
    for (const args of [
      ['approve', id],
      ['reject', id.slice(0, 20), '--reason', 'too late'],
    ]) {
      const r = runHitloop(args, { env });
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(
        new RegExp(
          `approval ${id} \\(fs/write_file, requested .*\\) was withdrawn at ${timeRe.source}`,
        ),
      );
      expect(r.stderr).toContain('nothing was applied');
      expect(r.stderr).not.toContain('no pending approval with this id');
    }
  });
});

describe('a late decision on a request that timed out', () => {
  it('says it expired, when, and why (no decision within the timeout); exit 1', async () => {
    const work = join(tmp.dir, 'files-timeout');
    const home = join(tmp.dir, 'timeout-home');
    mkdirSync(work, { recursive: true });
    const config = writeConfig(
      tmp.dir,
      {
        mcpServers: { fs: filesystemServer(work) },
        policy: { type: 'rules', default: 'allow', rules: [{ tool: 'write_file', effect: 'ask' }] },
        approval: { timeoutMs: 1000 },
        telemetry: { db: false },
      },
      'timeout.json',
    );
    const proxy = await startHttpProxy(config, home);
    try {
      const client = await proxy.connect();
      await client.callTool({
        name: 'write_file',
        arguments: { path: join(work, 'late.txt'), content: 'x' },
      });
      const hub = new HubClient(discoverHubs(home)[0]!);
      const [closed] = await hub.history(10);
      expect(closed?.status).toBe('expired');
      const r = runHitloop(['approve', closed!.id], { env: { HITLOOP_HOME: home } });
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(
        new RegExp(
          `approval ${closed!.id} \\(fs/write_file, requested .*\\) expired at \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC .*: no decision within 1 s`,
        ),
      );
    } finally {
      await proxy.close();
    }
  });
});
