import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  everythingServer,
  filesystemServer,
  type HttpProxy,
  initializeRequest,
  PROXY_ENTRY,
  type RawProxy,
  resultText,
  type StdioProxy,
  startHttpProxy,
  startRawProxy,
  startStdioProxy,
  tempDir,
  writeConfig,
} from '../helpers/proxy-harness.js';

// What a broken or hostile client (or config) gets: JSON-RPC errors for
// malformed lines, a clear refusal for oversized messages, tool errors for
// bad arguments, and exit code 2 with the offending field for a bad config.
// The proxy keeps serving after every one of them.

const tmp = tempDir();
// Not inside tmp.dir, the proxy's HITLOOP_HOME: hitloop denies every tool
// call that names a path in its home folder.
const files = tempDir('hitloop-files-');
const root = join(files.dir, 'files');
const LIMIT = 64 * 1024;
let config: string;
let proxy: StdioProxy;
let raw: RawProxy;
let http: HttpProxy;

beforeAll(async () => {
  mkdirSync(root);
  config = writeConfig(tmp.dir, {
    mcpServers: { everything: everythingServer(), fs: filesystemServer(root) },
    policy: { type: 'always_approve' },
    approval: { backend: 'auto-reject' },
    telemetry: { db: join(tmp.dir, 'telemetry.db') },
    proxy: { prefixNames: true, maxMessageBytes: LIMIT },
  });
  raw = startRawProxy(config, tmp.dir);
  [proxy, http] = await Promise.all([
    startStdioProxy(config, tmp.dir),
    startHttpProxy(config, tmp.dir),
  ]);
});

afterAll(async () => {
  await Promise.allSettled([proxy?.close(), raw?.close(), http?.close()]);
  tmp.remove();
  files.remove();
});

describe('hitloop proxy: malformed and oversized input on stdin', () => {
  it('answers a malformed line with -32700 and then serves a normal initialize', async () => {
    raw.write('{bad json\n');
    const parseError = await raw.next();
    expect(parseError).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32700 } });
    expect(parseError.error!.message).toMatch(/Parse error/);

    raw.send(initializeRequest(1));
    const init = await raw.next((m) => m.id === 1);
    // In front of several servers it answers with the name the client knows it by.
    expect(init.result?.serverInfo).toMatchObject({ name: 'hitloop' });
    raw.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  });

  it('answers envelopes that are not JSON-RPC with -32600, keeping the id when it can', async () => {
    raw.write('[{"jsonrpc":"2.0","id":7,"method":"ping"}]\n');
    expect((await raw.next()).error).toMatchObject({ code: -32600 });
    raw.write('{"id":8,"method":"ping"}\n');
    expect(await raw.next()).toMatchObject({ id: 8, error: { code: -32600 } });
    raw.write('"just a string"\n');
    expect((await raw.next()).error).toMatchObject({ code: -32600 });
    raw.send({ jsonrpc: '2.0', id: 9, method: 'no/such/method' });
    expect(await raw.next((m) => m.id === 9)).toMatchObject({ error: { code: -32601 } });
  });

  it('refuses a line over maxMessageBytes with a clear error and keeps serving', async () => {
    raw.send({
      jsonrpc: '2.0',
      id: 10,
      method: 'tools/call',
      params: { name: 'everything__echo', arguments: { message: 'x'.repeat(LIMIT * 2) } },
    });
    const refused = await raw.next();
    expect(refused.error?.code).toBe(-32600);
    expect(refused.error?.message).toMatch(new RegExp(`exceeds the limit of ${LIMIT} bytes`));
    raw.send({
      jsonrpc: '2.0',
      id: 11,
      method: 'tools/call',
      params: { name: 'everything__echo', arguments: { message: 'still here' } },
    });
    const echoed = await raw.next((m) => m.id === 11);
    expect(resultText(echoed.result)).toBe('Echo: still here');
    // Nothing ever answered (or ran) the oversized call.
    expect(raw.received.some((m) => m.id === 10)).toBe(false);
  });

  it('a request before initialize is refused', async () => {
    const fresh = startRawProxy(config, tmp.dir);
    try {
      fresh.send({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
      expect(await fresh.next((m) => m.id === 1)).toMatchObject({
        error: { code: -32600, message: expect.stringMatching(/before initialize/) },
      });
    } finally {
      await fresh.close();
    }
  });
});

describe('hitloop proxy: bad calls', () => {
  it('an unknown tool is an InvalidParams error that says how to find the tools', async () => {
    const error = await proxy.client
      .callTool({ name: 'everything__no_such_tool', arguments: {} })
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(error).toBeInstanceOf(McpError);
    expect((error as McpError).code).toBe(ErrorCode.InvalidParams);
    expect((error as McpError).message).toMatch(/Unknown tool: 'everything__no_such_tool'/);
    expect((error as McpError).message).toMatch(/tools\/list/);
  });

  it('arguments that violate the schema are refused before reaching the server', async () => {
    const wrongType = await proxy.client.callTool({
      name: 'everything__echo',
      arguments: { message: 42 },
    });
    expect(wrongType.isError).toBe(true);
    expect(resultText(wrongType)).toMatch(
      /Tool 'everything__echo' was NOT executed: its arguments do not match the input schema/,
    );
    const missing = await proxy.client.callTool({ name: 'fs__write_file', arguments: {} });
    expect(missing.isError).toBe(true);
    expect(resultText(missing)).toMatch(/NOT executed.*input schema/s);
    expect(resultText(missing)).toMatch(/path|content/);
  });

  it('arguments that are not an object are InvalidParams', async () => {
    raw.send({
      jsonrpc: '2.0',
      id: 20,
      method: 'tools/call',
      params: { name: 'everything__echo', arguments: ['not', 'an', 'object'] },
    });
    expect(await raw.next((m) => m.id === 20)).toMatchObject({ error: { code: -32602 } });
  });

  it('an upstream answer over maxMessageBytes fails that call instead of hanging it', async () => {
    writeFileSync(join(root, 'big.txt'), 'y'.repeat(LIMIT * 2));
    const started = Date.now();
    const outcome = await proxy.client
      .callTool(
        { name: 'fs__read_text_file', arguments: { path: join(root, 'big.txt') } },
        undefined,
        { timeout: 5000 },
      )
      .then(
        (r) => ({ result: r, error: undefined }),
        (err: unknown) => ({ result: undefined, error: err }),
      );
    // Either a tool error or a JSON-RPC error is fine; a client-side timeout is not.
    const timedOut =
      outcome.error instanceof McpError && outcome.error.code === ErrorCode.RequestTimeout;
    expect(timedOut, `the call hung for ${Date.now() - started} ms`).toBe(false);
    const text = outcome.result ? resultText(outcome.result) : String(outcome.error);
    expect(text).toMatch(/exceeds|too large|limit/i);
  });

  it('an oversized request from the SDK client gets an answer it can match, not a timeout', async () => {
    const outcome = await proxy.client
      .callTool(
        { name: 'everything__echo', arguments: { message: 'x'.repeat(LIMIT * 2) } },
        undefined,
        { timeout: 5000 },
      )
      .then(
        (r) => ({ result: r, error: undefined }),
        (err: unknown) => ({ result: undefined, error: err }),
      );
    const timedOut =
      outcome.error instanceof McpError && outcome.error.code === ErrorCode.RequestTimeout;
    expect(timedOut, 'the client waited for an answer that never came').toBe(false);
    expect(String(outcome.error ?? resultText(outcome.result))).toMatch(/exceeds/);
  });

  it('an HTTP request body over maxMessageBytes is refused with 413', async () => {
    const response = await fetch(http.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({ ...initializeRequest(1), padding: 'z'.repeat(LIMIT * 2) }),
    });
    expect(response.status).toBe(413);
    expect(((await response.json()) as { error: { message: string } }).error.message).toMatch(
      new RegExp(`exceeds ${LIMIT} bytes`),
    );
  });
});

// A server whose answers break JSON-RPC's shape: null in place of the result
// or the error object.
const NULL_ANSWERS_SERVER = `
const out = (m) => process.stdout.write(JSON.stringify(m) + '\\n');
require('readline').createInterface({ input: process.stdin }).on('line', (line) => {
  const m = JSON.parse(line);
  if (m.method === 'initialize')
    out({ jsonrpc: '2.0', id: m.id, result: { protocolVersion: m.params.protocolVersion,
      capabilities: { tools: {} }, serverInfo: { name: 'nulls', version: '1' } } });
  else if (m.method === 'tools/list')
    out({ jsonrpc: '2.0', id: m.id, result: { tools: [
      { name: 'null_result', inputSchema: { type: 'object' } },
      { name: 'null_error', inputSchema: { type: 'object' } },
    ] } });
  else if (m.method === 'tools/call')
    out(m.params.name === 'null_result'
      ? { jsonrpc: '2.0', id: m.id, result: null }
      : { jsonrpc: '2.0', id: m.id, error: null });
});
`;

describe('hitloop proxy: answers with a malformed shape', () => {
  it('an upstream result or error of null fails that call, naming the server; the proxy keeps serving', async () => {
    const file = writeConfig(
      tmp.dir,
      {
        mcpServers: {
          everything: everythingServer(),
          nulls: { command: process.execPath, args: ['-e', NULL_ANSWERS_SERVER] },
        },
        policy: { type: 'always_approve' },
        approval: { backend: 'auto-reject' },
        telemetry: { db: false },
      },
      'null-answers.json',
    );
    const nulls = await startStdioProxy(file, tmp.dir);
    try {
      for (const name of ['nulls__null_result', 'nulls__null_error']) {
        const outcome = await nulls.client
          .callTool({ name, arguments: {} }, undefined, { timeout: 5000 })
          .then(
            (r) => resultText(r),
            (err: unknown) => String(err),
          );
        expect(outcome).toMatch(/upstream server 'nulls' answered with a malformed/);
      }
      const echo = await nulls.client.callTool({
        name: 'everything__echo',
        arguments: { message: 'still here' },
      });
      expect(resultText(echo)).toBe('Echo: still here');
    } finally {
      await nulls.close();
    }
  });

  it('a client answering the approval form with "error": null gets a refusal, not a dead proxy', async () => {
    const file = writeConfig(
      tmp.dir,
      {
        mcpServers: { everything: everythingServer() },
        policy: { type: 'rules', default: 'ask' },
        approval: { backend: 'elicitation' },
        telemetry: { db: false },
      },
      'null-form-answer.json',
    );
    const client = startRawProxy(file, tmp.dir);
    try {
      client.send(initializeRequest(1, { elicitation: {} }));
      await client.next((m) => m.id === 1);
      client.send({
        jsonrpc: '2.0',
        id: 2,
        method: 'tools/call',
        params: { name: 'echo', arguments: { message: 'x' } },
      });
      const form = await client.next((m) => m.method === 'elicitation/create');
      client.send({ jsonrpc: '2.0', id: form.id, error: null });
      const answer = await client.next((m) => m.id === 2, 5000);
      expect(answer.result?.isError).toBe(true);
      expect(JSON.stringify(answer.result)).toMatch(/NOT executed/);
      client.send({ jsonrpc: '2.0', id: 3, method: 'ping' });
      expect(await client.next((m) => m.id === 3)).toMatchObject({ result: {} });
    } finally {
      await client.close();
    }
  });
});

describe('hitloop proxy: invalid config files', () => {
  function runProxyWith(file: string, extraArgs: string[] = []) {
    const r = spawnSync(process.execPath, [PROXY_ENTRY, 'proxy', '--config', file, ...extraArgs], {
      encoding: 'utf8',
      input: '',
      timeout: 20_000,
      env: { ...process.env, HITLOOP_HOME: tmp.dir },
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  function expectRefused(r: ReturnType<typeof runProxyWith>, field: RegExp): void {
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(field);
    expect(r.stderr).not.toMatch(/^\s+at /m); // no stack trace
    expect(r.stdout).toBe(''); // stdout carries only protocol
  }

  it('an unknown approval backend: exit 2, names approval.backend', () => {
    const file = writeConfig(
      tmp.dir,
      { mcpServers: { everything: everythingServer() }, approval: { backend: 'telepathy' } },
      'bad-backend.json',
    );
    expectRefused(runProxyWith(file), /approval\.backend/);
  });

  it('a misspelt proxy key: exit 2, names the key', () => {
    const file = writeConfig(
      tmp.dir,
      { mcpServers: { everything: everythingServer() }, proxy: { prefixNmes: true } },
      'bad-key.json',
    );
    expectRefused(runProxyWith(file), /prefixNmes/);
  });

  it('a server without a command: exit 2, names the server', () => {
    const file = writeConfig(
      tmp.dir,
      { mcpServers: { everything: { args: ['x'] } } },
      'bad-server.json',
    );
    expectRefused(runProxyWith(file), /everything/);
  });

  it('a file that is not JSON: exit 2, says where', () => {
    const file = join(tmp.dir, 'not-json.json');
    writeFileSync(file, '{ "mcpServers": { "everything": { "command": } }');
    expectRefused(runProxyWith(file), /not-json\.json/);
  });

  it('a --timeout longer than a timer can wait: exit 2, names --timeout', () => {
    // 30 days: Node would fire the timer at once and time out every approval immediately.
    const file = writeConfig(
      tmp.dir,
      { mcpServers: { everything: everythingServer() } },
      'long-timeout.json',
    );
    expectRefused(runProxyWith(file, ['--timeout', '2592000']), /--timeout/);
  });

  it('an --http port already taken: exit 2, names --http, instead of lingering', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', () => resolve()));
    const port = (busy.address() as AddressInfo).port;
    try {
      // The default backend starts the approval hub before the port is tried.
      const file = writeConfig(
        tmp.dir,
        { mcpServers: { everything: everythingServer() }, telemetry: { db: false } },
        'busy-port.json',
      );
      expectRefused(runProxyWith(file, ['--http', `127.0.0.1:${port}`]), /--http/);
    } finally {
      busy.close();
    }
  });

  it('a missing file: exit 2', () => {
    expectRefused(runProxyWith(join(tmp.dir, 'nope.json')), /nope\.json/);
  });
});
