import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ClientHandlers,
  deferred,
  everythingServer,
  filesystemServer,
  initializeRequest,
  type RawProxy,
  resultText,
  type StdioProxy,
  startRawProxy,
  startStdioProxy,
  tempDir,
  waitUntil,
  writeConfig,
} from '../helpers/proxy-harness.js';

// While a call waits for a human: the client's cancellation withdraws it (and
// nothing runs, even if the human approves late), and progress keep-alives
// hold clients with short timeouts that reset on progress.

const tmp = tempDir();
// Not inside tmp.dir, the proxy's HITLOOP_HOME: hitloop denies every tool
// call that names a path in its home folder.
const files = tempDir('hitloop-files-');
const root = join(files.dir, 'files');
const telemetryDb = join(tmp.dir, 'telemetry.db');
const handlers: ClientHandlers = {};
let config: string;
let proxy: StdioProxy;

beforeAll(async () => {
  mkdirSync(root);
  config = writeConfig(tmp.dir, {
    mcpServers: { fs: filesystemServer(root), everything: everythingServer() },
    policy: {
      type: 'rules',
      default: 'allow',
      rules: [
        { tool: 'write_file', effect: 'ask' },
        { tool: 'trigger-long-running-operation', effect: 'ask' },
      ],
    },
    approval: { backend: 'elicitation', fallback: 'auto-reject', keepAliveMs: 300 },
    telemetry: { db: telemetryDb },
    proxy: { prefixNames: true },
  });
  proxy = await startStdioProxy(config, tmp.dir, {
    capabilities: { elicitation: {} },
    handlers,
  });
});

afterAll(async () => {
  await proxy?.close();
  tmp.remove();
  files.remove();
});

/** Whether telemetry recorded an execution of a write to `path`. */
function executedInTelemetry(path: string): boolean {
  const db = new Database(telemetryDb, { readonly: true });
  try {
    const rows = db
      .prepare("SELECT payload FROM trace_events WHERE event_type = 'tool_execution_start'")
      .all() as Array<{ payload: string }>;
    return rows.some((r) => JSON.parse(r.payload).tool_args?.path === path);
  } finally {
    db.close();
  }
}

/** Waits until telemetry has the approval request for `path` (so we know the proxy logged up to there). */
async function waitForTelemetry(eventType: string, path: string): Promise<void> {
  await waitUntil(() => {
    const db = new Database(telemetryDb, { readonly: true });
    try {
      const rows = db
        .prepare('SELECT payload FROM trace_events WHERE event_type = ?')
        .all(eventType) as Array<{ payload: string }>;
      return rows.some((r) => JSON.parse(r.payload).tool_args?.path === path);
    } finally {
      db.close();
    }
  }, `${eventType} for ${path} in telemetry`);
}

/**
 * Proves the upstream server has handled everything sent before: a call to
 * the same server after the withdrawn one, answered.
 */
async function roundTripThroughServer(): Promise<void> {
  const r = await proxy.client.callTool({ name: 'fs__list_directory', arguments: { path: root } });
  expect(r.isError).toBeFalsy();
}

/** A raw proxy whose client offers forms, initialized. */
async function initializedRaw(): Promise<RawProxy> {
  const raw = startRawProxy(config, tmp.dir);
  raw.send(initializeRequest(1, { elicitation: {} }));
  expect((await raw.next((m) => m.id === 1)).result).toBeDefined();
  raw.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  return raw;
}

/**
 * Cancels request `requestId`, checks that its approval `form` is withdrawn,
 * approves the form anyway, and waits until a later call (`nextId`) is
 * answered, so that anything the late approval set off has happened.
 */
async function cancelThenApproveLate(
  raw: RawProxy,
  requestId: number,
  form: { id?: unknown },
  nextId: number,
): Promise<void> {
  raw.send({
    jsonrpc: '2.0',
    method: 'notifications/cancelled',
    params: { requestId, reason: 'user pressed stop' },
  });
  const withdrawn = await raw.next((m) => m.method === 'notifications/cancelled');
  expect(withdrawn.params?.requestId).toBe(form.id);
  raw.send({
    jsonrpc: '2.0',
    id: form.id,
    result: { action: 'accept', content: { decision: 'approve' } },
  });
  raw.send({
    jsonrpc: '2.0',
    id: nextId,
    method: 'tools/call',
    params: { name: 'fs__list_directory', arguments: { path: root } },
  });
  expect((await raw.next((m) => m.id === nextId)).result).toBeDefined();
}

describe('hitloop proxy: cancellation while a call waits for approval', () => {
  it('the client aborts while the human decides; a late approval runs nothing', async () => {
    const path = join(root, 'cancelled.txt');
    const asked = deferred();
    const approveLate = deferred();
    const handlerAborted = deferred();
    handlers.elicit = async (_request, { signal }) => {
      signal.addEventListener('abort', () => handlerAborted.resolve());
      asked.resolve();
      await approveLate.promise;
      return { action: 'accept', content: { decision: 'approve' } };
    };
    const controller = new AbortController();
    const call = proxy.client.callTool(
      { name: 'fs__write_file', arguments: { path, content: 'must never be written' } },
      undefined,
      { signal: controller.signal },
    );
    const settled = call.then(
      () => 'resolved',
      (err: unknown) => err,
    );
    await asked.promise;
    controller.abort(new Error('the user pressed stop'));
    expect(await settled).toBeInstanceOf(Error);
    // The proxy withdraws its form: the client sees the elicitation cancelled.
    await handlerAborted.promise;
    approveLate.resolve();
    await roundTripThroughServer();
    expect(existsSync(path)).toBe(false);
    expect(executedInTelemetry(path)).toBe(false);
    expect(proxy.stderr.text).toContain('nothing was executed');
  });

  it('a second request under the id of one still waiting is refused; the cancel then withdraws the first, and its late approval runs nothing', async () => {
    const first = join(root, 'duplicate-first.txt');
    const second = join(root, 'duplicate-second.txt');
    const raw = await initializedRaw();
    try {
      const write = (path: string) => ({
        jsonrpc: '2.0',
        id: 7,
        method: 'tools/call',
        params: { name: 'fs__write_file', arguments: { path, content: 'must never be written' } },
      });
      raw.send(write(first));
      const form = await raw.next((m) => m.method === 'elicitation/create');
      raw.send(write(second));
      const refused = await raw.next((m) => m.id === 7);
      expect(refused.error?.code).toBe(-32600);
      expect(refused.error?.message).toMatch(/id 7 is already used by a request still in progress/);
      // The cancel reaches the call that is waiting; the human approves anyway.
      await cancelThenApproveLate(raw, 7, form, 8);
      expect(raw.received.filter((m) => m.method === 'elicitation/create')).toEqual([]);
      expect(raw.received.some((m) => m.id === 7)).toBe(false);
      expect(existsSync(first)).toBe(false);
      expect(existsSync(second)).toBe(false);
    } finally {
      await raw.close();
    }
    expect(executedInTelemetry(first)).toBe(false);
  });

  it('a late approval that does reach the proxy (raw JSON-RPC) still runs nothing', async () => {
    const path = join(root, 'late.txt');
    const raw = await initializedRaw();
    try {
      raw.send({
        jsonrpc: '2.0',
        id: 2,
        method: 'tools/call',
        params: { name: 'fs__write_file', arguments: { path, content: 'late' } },
      });
      const form = await raw.next((m) => m.method === 'elicitation/create');
      // The proxy withdraws the form it sent, and ignores an approval that arrives anyway.
      await cancelThenApproveLate(raw, 2, form, 3);
      expect(raw.received.some((m) => m.id === 2)).toBe(false); // no answer to a cancelled request
      expect(existsSync(path)).toBe(false);
    } finally {
      await raw.close();
    }
    await waitForTelemetry('approval_requested', path);
    expect(executedInTelemetry(path)).toBe(false);
    expect(existsSync(path)).toBe(false);
  });
});

describe('hitloop proxy: a call cancelled before its approval is asked', () => {
  it('a cancellation in the same chunk as the call leaves no approval form open', async () => {
    const path = join(root, 'same-chunk.txt');
    const raw = await initializedRaw();
    try {
      // One write: the cancellation is read while the policy is still being
      // evaluated, before the approval channel is asked.
      raw.write(
        `${JSON.stringify({
          jsonrpc: '2.0',
          id: 2,
          method: 'tools/call',
          params: { name: 'fs__write_file', arguments: { path, content: 'never' } },
        })}\n${JSON.stringify({
          jsonrpc: '2.0',
          method: 'notifications/cancelled',
          params: { requestId: 2, reason: 'user pressed stop' },
        })}\n`,
      );
      raw.send({
        jsonrpc: '2.0',
        id: 3,
        method: 'tools/call',
        params: { name: 'fs__list_directory', arguments: { path: root } },
      });
      expect((await raw.next((m) => m.id === 3)).result).toBeDefined();
      await new Promise((resolve) => setTimeout(resolve, 500));
      // A form for a withdrawn call must not be left for a human to answer.
      const forms = raw.received.filter((m) => m.method === 'elicitation/create');
      const withdrawn = raw.received.filter((m) => m.method === 'notifications/cancelled');
      for (const form of forms)
        expect(withdrawn.map((m) => m.params?.requestId)).toContain(form.id);
      expect(raw.received.some((m) => m.id === 2)).toBe(false);
      expect(existsSync(path)).toBe(false);
    } finally {
      await raw.close();
    }
  });
});

describe('hitloop proxy: progress after a cancellation', () => {
  it("stops relaying a server's progress once the client cancelled the call", async () => {
    // server-everything's long-running operation ignores the cancellation
    // and keeps reporting; the client must not hear of the call again.
    const raw = await initializedRaw();
    try {
      raw.send({
        jsonrpc: '2.0',
        id: 2,
        method: 'tools/call',
        params: {
          name: 'everything__trigger-long-running-operation',
          arguments: { duration: 3, steps: 15 },
          _meta: { progressToken: 'tok' },
        },
      });
      const form = await raw.next((m) => m.method === 'elicitation/create');
      // A keep-alive first, so the server gets a token of the proxy's own.
      await raw.next((m) => m.method === 'notifications/progress');
      raw.send({
        jsonrpc: '2.0',
        id: form.id,
        result: { action: 'accept', content: { decision: 'approve' } },
      });
      // The server's own steps carry a total.
      await raw.next(
        (m) =>
          m.method === 'notifications/progress' &&
          typeof (m.params as { total?: unknown } | undefined)?.total === 'number',
      );
      raw.send({
        jsonrpc: '2.0',
        method: 'notifications/cancelled',
        params: { requestId: 2, reason: 'user pressed stop' },
      });
      const atCancel = raw.received.length;
      await new Promise((resolve) => setTimeout(resolve, 1200));
      const after = raw.received
        .slice(atCancel)
        .filter((m) => m.method === 'notifications/progress' || m.id === 2);
      expect(after).toEqual([]);
    } finally {
      await raw.close();
    }
  });
});

describe('hitloop proxy: progress keep-alive while waiting', () => {
  const TIMEOUT = 1500;
  const HUMAN_TAKES = 2 * TIMEOUT;

  it('a client with a 1.5 s timeout that resets on progress survives a 3 s approval', async () => {
    const path = join(root, 'slow-approval.txt');
    handlers.elicit = async () => {
      await new Promise((resolve) => setTimeout(resolve, HUMAN_TAKES));
      return { action: 'accept', content: { decision: 'approve' } };
    };
    const progress: Array<{ progress: number; message?: string }> = [];
    const started = Date.now();
    const result = await proxy.client.callTool(
      { name: 'fs__write_file', arguments: { path, content: 'worth the wait' } },
      undefined,
      {
        timeout: TIMEOUT,
        resetTimeoutOnProgress: true,
        onprogress: (p) => progress.push(p),
      },
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(HUMAN_TAKES);
    expect(result.isError).toBeFalsy();
    expect(readFileSync(path, 'utf8')).toBe('worth the wait');
    // keepAliveMs 300 over 3 s: about ten keep-alives, increasing, saying why.
    expect(progress.length).toBeGreaterThanOrEqual(5);
    const values = progress.map((p) => p.progress);
    expect([...values].sort((a, b) => a - b)).toEqual(values);
    expect(new Set(values).size).toBe(values.length);
    expect(progress[0]!.message).toMatch(/Waiting for human approval of fs__write_file/);
  });

  it('the same call without reset-on-progress times out in the client (the contrast)', async () => {
    const path = join(root, 'no-keepalive.txt');
    const withdrawn = deferred();
    handlers.elicit = async (_request, { signal }) => {
      signal.addEventListener('abort', () => withdrawn.resolve());
      await new Promise((resolve) => setTimeout(resolve, HUMAN_TAKES));
      return { action: 'accept', content: { decision: 'approve' } };
    };
    const error = await proxy.client
      .callTool({ name: 'fs__write_file', arguments: { path, content: 'x' } }, undefined, {
        timeout: TIMEOUT,
      })
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(error).toBeInstanceOf(McpError);
    expect((error as McpError).code).toBe(ErrorCode.RequestTimeout);
    // The SDK cancels the request on timeout; the proxy withdraws the approval.
    await withdrawn.promise;
    await roundTripThroughServer();
    expect(existsSync(path)).toBe(false);
  });
});

describe('hitloop proxy: progress after an approval', () => {
  it('the server progress continues the keep-alive count, always increasing', async () => {
    const progress: Array<{ progress: number; total?: number }> = [];
    const keepAlivesSeen = deferred();
    handlers.elicit = async () => {
      await keepAlivesSeen.promise;
      return { action: 'accept', content: { decision: 'approve' } };
    };
    const result = await proxy.client.callTool(
      {
        name: 'everything__trigger-long-running-operation',
        arguments: { duration: 0.4, steps: 4 },
      },
      undefined,
      {
        onprogress: (p) => {
          progress.push(p);
          if (progress.length === 3) keepAlivesSeen.resolve();
        },
      },
    );
    expect(resultText(result)).toContain('Long running operation completed');
    const values = progress.map((p) => p.progress);
    for (let i = 1; i < values.length; i++) expect(values[i]!).toBeGreaterThan(values[i - 1]!);
    // 3+ keep-alives (no total), then the server's steps (of 4) shifted past them.
    // (The SDK client drops the last step even on a direct connection: the
    // server sends it, but the client handles the result right behind it first.)
    const keepAlives = progress.filter((p) => p.total === undefined).length;
    const fromServer = progress.slice(keepAlives);
    expect(keepAlives).toBeGreaterThanOrEqual(3);
    expect(fromServer.length).toBeGreaterThanOrEqual(3);
    fromServer.forEach((p, i) => {
      expect(p).toEqual({ progress: keepAlives + i + 1, total: keepAlives + 4 });
    });
  });
});
