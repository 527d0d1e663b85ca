import { type ChildProcess, spawn } from 'node:child_process';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connectDirect,
  EVERYTHING,
  everythingServer,
  resultText,
  startStdioProxy,
  tempDir,
  waitUntil,
  writeConfig,
} from '../helpers/proxy-harness.js';

// server-everything served over HTTP by itself (Streamable HTTP and legacy
// SSE), with hitloop proxy connecting to it as an MCP client.

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function startEverything(
  mode: 'streamableHttp' | 'sse',
): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.execPath, [EVERYTHING, mode], {
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    let text = '';
    const timer = setTimeout(
      () => reject(new Error(`server-everything ${mode} did not start: ${text}`)),
      15_000,
    );
    child.stderr!.on('data', (d: Buffer) => {
      text += d.toString();
      if (/listening|running/i.test(text)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return { port, child };
}

const children: ChildProcess[] = [];
const tmp = tempDir();
afterAll(() => {
  for (const c of children) c.kill();
  tmp.remove();
});

describe.each([
  { mode: 'streamableHttp' as const, type: 'http', path: '/mcp' },
  { mode: 'sse' as const, type: 'sse', path: '/sse' },
])('an upstream server over $type', ({ mode, type, path }) => {
  it('lists its tools and forwards allowed calls; asks and rejects gated ones', async () => {
    const { port, child } = await startEverything(mode);
    children.push(child);
    const config = writeConfig(
      tmp.dir,
      {
        servers: { remote: { type, url: `http://127.0.0.1:${port}${path}` } },
        policy: { type: 'rules', default: 'allow', rules: [{ tool: 'get-sum', effect: 'ask' }] },
        approval: { backend: 'auto-reject' },
        telemetry: { db: false },
      },
      `${type}.json`,
    );
    const proxy = await startStdioProxy(config, tmp.dir);
    try {
      const tools = await proxy.client.listTools();
      expect(tools.tools.map((t) => t.name)).toEqual(expect.arrayContaining(['echo', 'get-sum']));
      const echo = await proxy.client.callTool({
        name: 'echo',
        arguments: { message: `via ${type}` },
      });
      expect(resultText(echo)).toBe(`Echo: via ${type}`);
      const sum = await proxy.client.callTool({ name: 'get-sum', arguments: { a: 1, b: 2 } });
      expect(sum.isError).toBe(true);
      expect(resultText(sum)).toContain("Tool 'remote/get-sum' was NOT executed");
    } finally {
      await proxy.close();
    }
  });
});

describe('an SSE upstream that never sends its endpoint', () => {
  // One start-up timeout covers every server, so it must be long enough for
  // server-everything's own start, which on a busy 2-core machine is far
  // slower than on an idle one (a fixed 1.5 s was not, and it was restarted
  // over and over). So it is set from how long server-everything takes to
  // answer initialize here and now, three times over, from 1.5 s to 8 s;
  // every wait below is a multiple of it, 20 in all: within the test's
  // timeout of 180 s (20 x 8 s = 160 s).
  let startupMs = 1500;
  beforeAll(async () => {
    const started = performance.now();
    const direct = await connectDirect(everythingServer());
    const took = performance.now() - started;
    await direct.close();
    startupMs = Math.min(8000, Math.max(1500, Math.ceil((3 * took) / 100) * 100));
  }, 60_000);

  it('is reported after the start-up timeout and retried, instead of starting forever', async () => {
    // A stand-in for a broken server: it opens the event stream and stays silent.
    const streams: Array<{ end(): void }> = [];
    const server: Server = createHttpServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write(': hello\n\n');
      streams.push(res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const config = writeConfig(
      tmp.dir,
      {
        servers: {
          everything: { command: process.execPath, args: [EVERYTHING, 'stdio'] },
          stalled: { type: 'sse', url: `http://127.0.0.1:${port}/sse` },
        },
        policy: { type: 'always_approve' },
        approval: { backend: 'auto-reject' },
        telemetry: { db: false },
        proxy: { prefixNames: true, startupTimeoutMs: startupMs, logLevel: 'info' },
      },
      'stalled-sse.json',
    );
    const proxy = await startStdioProxy(config, tmp.dir);
    try {
      const seconds = String(startupMs / 1000).replace('.', '\\.');
      await proxy.stderr.waitFor(
        new RegExp(`upstream server 'stalled' did not open its connection within ${seconds} s`),
        startupMs * 5,
      );
      await proxy.stderr.waitFor(/restarting server 'stalled'/, startupMs * 5);
      // The client's initialize was answered after the start-up timeout,
      // maybe before server-everything was up: wait for its tools.
      await waitUntil(
        async () =>
          (await proxy.client.listTools()).tools.some((t) => t.name === 'everything__echo'),
        'the everything server to be listed',
        startupMs * 10,
      );
      const echo = await proxy.client.callTool({
        name: 'everything__echo',
        arguments: { message: 'still here' },
      });
      expect(resultText(echo)).toBe('Echo: still here');
    } finally {
      await proxy.close();
      for (const s of streams) s.end();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  }, 180_000);
});
