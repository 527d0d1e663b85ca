import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  childProcesses,
  EVERYTHING,
  everythingServer,
  type HttpProxy,
  initializeRequest,
  startHttpProxy,
  tempDir,
  waitUntil,
  writeConfig,
} from '../helpers/proxy-harness.js';

// `hitloop proxy --http` as the README starts it (no --token): only a client
// holding the token it prints may drive it, only real loopback origins are
// let in, and sessions (each with its own upstream processes) are capped and
// reaped when idle. The real CLI in front of server-everything.

let work: { dir: string; remove: () => void };
const proxies: HttpProxy[] = [];

beforeEach(() => {
  work = tempDir('hitloop-http-access-');
});
afterEach(async () => {
  await Promise.allSettled(proxies.map((p) => p.close()));
  proxies.length = 0;
  work.remove();
});

async function start(proxy: Record<string, unknown> = {}, extraArgs: string[] = []) {
  const config = writeConfig(work.dir, {
    mcpServers: { everything: everythingServer() },
    policy: { type: 'rules', default: 'allow' },
    telemetry: { db: false },
    proxy,
  });
  const http = await startHttpProxy(config, work.dir, extraArgs);
  proxies.push(http);
  const printed = new URL(http.url);
  const token = printed.searchParams.get('token') ?? undefined;
  printed.search = '';
  return { http, token, endpoint: printed.toString() };
}

/** POSTs an initialize to `url`; the response (body read). */
async function initialize(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...headers,
    },
    body: JSON.stringify(initializeRequest(1)),
  });
  return { status: res.status, session: res.headers.get('mcp-session-id'), body: await res.text() };
}

const upstreams = (http: HttpProxy) =>
  childProcesses(http.process.pid!).filter((c) => c.cmdline.includes(EVERYTHING));

describe('hitloop proxy --http: a token by default', () => {
  it('prints a URL with a new token; without it a request is refused, with it (URL or bearer header) a client works', async () => {
    const { http, token, endpoint } = await start();
    expect(token, http.stderr.text).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(http.stderr.text).toContain(`"Authorization: Bearer ${token}"`);

    const bare = await initialize(endpoint);
    expect(bare.status).toBe(401);
    expect(bare.body).toMatch(/missing or invalid token/);
    expect((await initialize(`${endpoint}?token=wrong`)).status).toBe(401);
    expect((await initialize(endpoint, { authorization: 'Bearer wrong' })).status).toBe(401);
    expect(upstreams(http)).toEqual([]);

    // The printed URL as is (clients that take only a URL)...
    const viaUrl = await http.connect();
    expect((await viaUrl.listTools()).tools.map((t) => t.name)).toContain('echo');
    // ...and the bare endpoint with the bearer header.
    const viaHeader = new Client({ name: 'header-client', version: '1' });
    await viaHeader.connect(
      new StreamableHTTPClientTransport(new URL(endpoint), {
        requestInit: { headers: { authorization: `Bearer ${token}` } },
      }),
    );
    const echoed = await viaHeader.callTool({ name: 'echo', arguments: { message: 'hi' } });
    expect(JSON.stringify(echoed)).toContain('hi');
    await viaHeader.close();
  });

  it('--no-token serves without one, and says so', async () => {
    const { http, token, endpoint } = await start({}, ['--no-token']);
    expect(token).toBeUndefined();
    expect(http.stderr.text).toMatch(/WARNING: no token/);
    const res = await initialize(endpoint);
    expect(res.status).toBe(200);
    expect(res.session).toBeTruthy();
  });
});

describe('hitloop proxy --http: origins', () => {
  it('accepts the exact loopback names as browser origins and refuses *.localhost', async () => {
    const { token, endpoint } = await start();
    const auth = { authorization: `Bearer ${token}` };
    for (const origin of [
      'http://evil.localhost',
      'http://a.b.localhost:8931',
      'http://evil.example',
    ])
      expect((await initialize(endpoint, { ...auth, origin })).status, origin).toBe(403);
    for (const origin of ['http://localhost:5173', 'http://127.0.0.1', 'https://[::1]:8443'])
      expect((await initialize(endpoint, { ...auth, origin })).status, origin).toBe(200);
  });
});

describe('hitloop proxy --http: sessions are capped and reaped', () => {
  it('an initialize beyond proxy.httpMaxSessions gets 503 naming the setting, and starts no server', async () => {
    const { http, token, endpoint } = await start({ httpMaxSessions: 2 });
    const auth = { authorization: `Bearer ${token}` };
    const first = await initialize(endpoint, auth);
    const second = await initialize(endpoint, auth);
    expect([first.status, second.status]).toEqual([200, 200]);
    await waitUntil(() => upstreams(http).length === 2, 'two upstream processes');

    const third = await initialize(endpoint, auth);
    expect(third.status).toBe(503);
    expect(third.body).toMatch(/too many MCP sessions: 2 are open/);
    expect(third.body).toMatch(/raise proxy\.httpMaxSessions \(or --max-sessions\)/);
    expect(upstreams(http)).toHaveLength(2);

    // Closing one makes room.
    const closed = await fetch(endpoint, {
      method: 'DELETE',
      headers: { ...auth, 'mcp-session-id': first.session! },
    });
    expect(closed.status).toBe(200);
    expect((await initialize(endpoint, auth)).status).toBe(200);
  });

  it('a burst of initializes at once opens no more sessions, nor servers, than the cap', async () => {
    const { http, token, endpoint } = await start({ httpMaxSessions: 3 });
    const auth = { authorization: `Bearer ${token}` };
    const burst = await Promise.all(Array.from({ length: 12 }, () => initialize(endpoint, auth)));
    const statuses = burst.map((r) => r.status).sort();
    expect(statuses).toEqual([...Array(3).fill(200), ...Array(9).fill(503)]);
    await waitUntil(() => upstreams(http).length === 3, 'three upstream processes');
    expect(upstreams(http)).toHaveLength(3);
  });

  it('--max-sessions sets the cap from the command line', async () => {
    const { token, endpoint } = await start({}, ['--max-sessions', '1']);
    const auth = { authorization: `Bearer ${token}` };
    expect((await initialize(endpoint, auth)).status).toBe(200);
    expect((await initialize(endpoint, auth)).status).toBe(503);
  });

  it('a session quiet for proxy.httpIdleSessionMs is closed and its server process stops', async () => {
    const { http, token, endpoint } = await start({ httpIdleSessionMs: 2000 });
    const auth = { authorization: `Bearer ${token}` };
    const opened = await initialize(endpoint, auth);
    expect(opened.status).toBe(200);
    // initialize is answered once the server is ready: it runs now.
    expect(upstreams(http)).toHaveLength(1);
    await waitUntil(() => upstreams(http).length === 0, 'the idle session to be reaped');
    const after = await fetch(endpoint, {
      method: 'POST',
      headers: {
        ...auth,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-session-id': opened.session!,
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }),
    });
    expect(after.status).toBe(404);
  });
});

describe('hitloop proxy --http: request ids', () => {
  it('a second request under the id of one still running is refused, and the first still gets its answer', async () => {
    const hanging = fileURLToPath(new URL('../fixtures/hanging-server.mjs', import.meta.url));
    const config = writeConfig(work.dir, {
      mcpServers: { slow: { command: process.execPath, args: [hanging] } },
      policy: { type: 'rules', default: 'allow' },
      approval: { backend: 'auto-reject' },
      telemetry: { db: false },
      proxy: { executionTimeouts: { hang: 1500 } },
    });
    const http = await startHttpProxy(config, work.dir);
    proxies.push(http);
    const { session } = await initialize(http.url);
    const post = (body: unknown) =>
      fetch(http.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-session-id': session!,
        },
        body: JSON.stringify(body),
      });
    await (await post({ jsonrpc: '2.0', method: 'notifications/initialized' })).text();
    const call = { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'hang' } };
    // The answer to the first comes on its own stream, once the server times out.
    const first = await post(call);
    expect(first.status).toBe(200);
    const second = await post(call);
    expect(second.status).toBe(400);
    expect(await second.text()).toMatch(/id 7 is already used by a request still in progress/);
    expect(await first.text()).toMatch(/did not answer within 1\.5 s/);
  });
});
