import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import {
  EVERYTHING,
  resultText,
  startStdioProxy,
  tempDir,
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
