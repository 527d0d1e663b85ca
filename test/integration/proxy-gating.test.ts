import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ElicitRequest, ElicitResult } from '@modelcontextprotocol/sdk/types.js';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type ClientHandlers,
  filesystemServer,
  type HttpProxy,
  resultText,
  type StdioProxy,
  startHttpProxy,
  startStdioProxy,
  tempDir,
  waitUntil,
  writeConfig,
} from '../helpers/proxy-harness.js';

// allow / deny / ask (approve, reject, edit, timeout) through the real proxy
// in front of the real filesystem server. The "human" is the client's
// elicitation handler: hitloop asks through the client's own form.

const tmp = tempDir();
// Not inside tmp.dir, the proxy's HITLOOP_HOME: hitloop denies every tool
// call that names a path in its home folder.
const files = tempDir('hitloop-files-');
const root = join(files.dir, 'files');
const telemetryDb = join(tmp.dir, 'telemetry.db');
const handlers: ClientHandlers = {};
const asked: Array<ElicitRequest['params']> = [];
let proxy: StdioProxy;
let http: HttpProxy | undefined;

/** The human answers the hitloop form with these fields. */
function human(
  content: Record<string, string> | undefined,
  action: ElicitResult['action'] = 'accept',
): ClientHandlers['elicit'] {
  return (request) => {
    asked.push(request);
    return content ? { action, content } : { action };
  };
}

beforeAll(async () => {
  mkdirSync(root);
  const config = writeConfig(tmp.dir, {
    mcpServers: { fs: filesystemServer(root) },
    policy: {
      type: 'rules',
      default: 'allow',
      rules: [
        {
          id: 'no-secrets',
          tool: 'write_file',
          args: { path: { glob: '**/secret*' } },
          effect: 'deny',
          reason: 'secrets are never written by agents',
        },
        { tool: 'write_file', effect: 'ask', reason: 'writes need a person' },
        { tool: 'create_directory', effect: 'ask' },
      ],
    },
    approval: {
      backend: 'elicitation',
      fallback: 'auto-reject',
      timeoutMs: 600_000,
      toolTimeouts: { 'fs__create_dir*': 1000 },
      keepAliveMs: 300,
    },
    telemetry: { db: telemetryDb },
    proxy: { prefixNames: true },
  });
  proxy = await startStdioProxy(config, tmp.dir, {
    capabilities: { elicitation: {} },
    handlers,
  });
  http = await startHttpProxy(config, tmp.dir);
});

afterAll(async () => {
  await Promise.allSettled([proxy?.close(), http?.close()]);
  tmp.remove();
  files.remove();
});

beforeEach(() => {
  asked.length = 0;
  handlers.elicit = () => {
    throw new Error('this test did not expect an approval request');
  };
});

const write = (file: string, content: string) =>
  proxy.client.callTool({
    name: 'fs__write_file',
    arguments: { path: join(root, file), content },
  });

/** Telemetry events of one type for the action whose proposed args match. */
function eventsFor(path: string): Record<string, Array<Record<string, unknown>>> {
  const db = new Database(telemetryDb, { readonly: true });
  try {
    const rows = db
      .prepare('SELECT event_type, payload FROM trace_events ORDER BY id')
      .all() as Array<{ event_type: string; payload: string }>;
    const parsed = rows.map((r) => ({ type: r.event_type, payload: JSON.parse(r.payload) }));
    const proposed = parsed.find(
      (e) => e.type === 'action_proposed' && e.payload.tool_args?.path === path,
    );
    if (!proposed) return {};
    const id = proposed.payload.action_id;
    const out: Record<string, Array<Record<string, unknown>>> = {};
    for (const e of parsed) {
      if (e.payload.action_id !== id) continue;
      const list = out[e.type] ?? [];
      list.push(e.payload);
      out[e.type] = list;
    }
    return out;
  } finally {
    db.close();
  }
}

/** Event types of the action whose proposed args name `path`, in the order they were stored. */
function eventOrder(path: string): string[] {
  const events = eventsFor(path);
  const id = events.action_proposed?.[0]?.action_id;
  if (id === undefined) return [];
  const db = new Database(telemetryDb, { readonly: true });
  try {
    const rows = db
      .prepare('SELECT event_type, payload FROM trace_events ORDER BY id')
      .all() as Array<{ event_type: string; payload: string }>;
    return rows
      .filter((r) => (JSON.parse(r.payload) as { action_id?: unknown }).action_id === id)
      .map((r) => r.event_type);
  } finally {
    db.close();
  }
}

describe('hitloop proxy: allow, deny and ask', () => {
  it('allow: a call the policy allows runs without asking anyone', async () => {
    writeFileSync(join(root, 'notes.txt'), 'hello from disk');
    const result = await proxy.client.callTool({
      name: 'fs__read_text_file',
      arguments: { path: join(root, 'notes.txt') },
    });
    expect(result.isError).toBeFalsy();
    expect(resultText(result)).toBe('hello from disk');
    expect(asked).toHaveLength(0);
  });

  it('allow: telemetry has proposed, start and end of the call, once each and in that order, as one compact row', async () => {
    const path = join(root, 'ordered.txt');
    writeFileSync(path, 'x');
    const result = await proxy.client.callTool({
      name: 'fs__read_text_file',
      arguments: { path },
    });
    expect(result.isError).toBeFalsy();
    const types = await waitUntil(() => {
      const order = eventOrder(path);
      return order.includes('tool_execution_end') ? order : undefined;
    }, 'telemetry of the allowed call');
    expect(types).toEqual(['action_proposed', 'tool_execution_start', 'tool_execution_end']);
    // All three are one tool_calls row (the trace_events view rebuilds them).
    const db = new Database(telemetryDb, { readonly: true });
    try {
      const actionId = eventsFor(path).action_proposed?.[0]?.action_id;
      expect(
        db
          .prepare(
            'SELECT count(*) AS n FROM tool_calls WHERE action_id = ? AND start_id IS NOT NULL AND end_id IS NOT NULL',
          )
          .get(actionId),
      ).toEqual({ n: 1 });
      expect(
        db
          .prepare("SELECT count(*) AS n FROM stored_events WHERE payload LIKE '%' || ? || '%'")
          .get(actionId),
      ).toEqual({ n: 0 });
    } finally {
      db.close();
    }
  });

  it('deny: isError, says NOT executed and why, and the file is not written', async () => {
    const result = await write('secret.txt', 'hunter2');
    expect(result.isError).toBe(true);
    const text = resultText(result);
    expect(text).toContain('was NOT executed');
    expect(text).toContain('denied by policy');
    expect(text).toContain('no-secrets');
    expect(text).toContain('secrets are never written by agents');
    expect(existsSync(join(root, 'secret.txt'))).toBe(false);
    expect(asked).toHaveLength(0);
    // The denied call is still recorded (its event is written after the answer).
    const events = await waitUntil(() => {
      const e = eventsFor(join(root, 'secret.txt'));
      return e.action_proposed ? e : undefined;
    }, 'telemetry of the denied call');
    expect(events.action_proposed).toHaveLength(1);
    expect(events.action_proposed![0]).toMatchObject({ policy_verdict: 'deny' });
    expect(events.tool_execution_start).toBeUndefined();
  });

  it('ask + approve: the reviewer sees the call, approves, and the file is on disk', async () => {
    handlers.elicit = human({ decision: 'approve' });
    const result = await write('approved.txt', 'approved content');
    expect(result.isError).toBeFalsy();
    expect(readFileSync(join(root, 'approved.txt'), 'utf8')).toBe('approved content');
    expect(asked).toHaveLength(1);
    expect(asked[0]!.message).toContain('write_file');
    expect(asked[0]!.message).toContain('approved content');
    expect(asked[0]!.message).toContain('writes need a person');
  });

  it('ask + reject: the agent is told who rejected it and why; the file is untouched', async () => {
    writeFileSync(join(root, 'keep.txt'), 'original');
    handlers.elicit = human({ decision: 'reject', reason: 'wrong file, use draft.txt' });
    const result = await write('keep.txt', 'overwritten');
    expect(result.isError).toBe(true);
    const text = resultText(result);
    expect(text).toContain('was NOT executed');
    expect(text).toContain('rejected by elicitation:user');
    expect(text).toContain('wrong file, use draft.txt');
    expect(text).not.toMatch(/timed out/);
    expect(readFileSync(join(root, 'keep.txt'), 'utf8')).toBe('original');
  });

  it('ask + decline in the client form counts as a rejection', async () => {
    handlers.elicit = human(undefined, 'decline');
    const result = await write('declined.txt', 'x');
    expect(result.isError).toBe(true);
    expect(resultText(result)).toContain('rejected by elicitation:user');
    expect(existsSync(join(root, 'declined.txt'))).toBe(false);
  });

  it('ask + edit: the edited arguments are what runs, and telemetry keeps both', async () => {
    const path = join(root, 'edited.txt');
    handlers.elicit = human({
      decision: 'approve',
      arguments: JSON.stringify({ path, content: 'the reviewer wrote this' }),
    });
    const result = await write('edited.txt', 'the agent wrote this');
    expect(result.isError).toBeFalsy();
    expect(readFileSync(path, 'utf8')).toBe('the reviewer wrote this');

    const events = await waitUntil(() => {
      const e = eventsFor(path);
      return e.tool_execution_end ? e : undefined;
    }, 'telemetry of the edited call');
    expect(events.action_proposed![0]!.tool_args).toEqual({
      path,
      content: 'the agent wrote this',
    });
    expect(events.approval_decided![0]).toMatchObject({
      approved: true,
      edited_args: { path, content: 'the reviewer wrote this' },
    });
    expect(events.tool_execution_start![0]!.tool_args).toEqual({
      path,
      content: 'the reviewer wrote this',
    });
    expect(events.tool_execution_end![0]).toMatchObject({ success: true });
  });

  it('ask + an edit that breaks the tool schema is refused, nothing runs', async () => {
    const path = join(root, 'bad-edit.txt');
    handlers.elicit = human({
      decision: 'approve',
      arguments: JSON.stringify({ path, content: 42 }),
    });
    const result = await write('bad-edit.txt', 'fine');
    expect(result.isError).toBe(true);
    expect(resultText(result)).toContain('was NOT executed');
    expect(resultText(result)).toMatch(/schema/);
    expect(existsSync(path)).toBe(false);
  });

  it('ask + timeout: labelled a timeout, not a human rejection; the form is withdrawn', async () => {
    let withdrawn = false;
    handlers.elicit = (request, { signal }) => {
      asked.push(request);
      // The human never answers; the proxy must give up and withdraw the form.
      return new Promise((_resolve, reject) => {
        signal.addEventListener('abort', () => {
          withdrawn = true;
          reject(new Error('withdrawn'));
        });
      });
    };
    const started = Date.now();
    const result = await proxy.client.callTool({
      name: 'fs__create_directory',
      arguments: { path: join(root, 'never') },
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(result.isError).toBe(true);
    const text = resultText(result);
    expect(text).toContain('was NOT executed');
    expect(text).toContain('timed out');
    expect(text).toContain('no human rejected');
    expect(text).not.toContain('rejected by elicitation:user');
    expect(existsSync(join(root, 'never'))).toBe(false);
    await waitUntil(() => withdrawn, 'the elicitation to be withdrawn');
  });

  it('ask over Streamable HTTP: the form reaches the HTTP client and approval runs the call', async () => {
    const httpAsked: string[] = [];
    const client = await http!.connect({
      capabilities: { elicitation: {} },
      handlers: {
        elicit: (request) => {
          httpAsked.push(request.message);
          return { action: 'accept', content: { decision: 'approve' } };
        },
      },
    });
    const path = join(root, 'via-http.txt');
    const result = await client.callTool({
      name: 'fs__write_file',
      arguments: { path, content: 'over http' },
    });
    expect(result.isError).toBeFalsy();
    expect(httpAsked).toHaveLength(1);
    expect(readFileSync(path, 'utf8')).toBe('over http');
  });

  it('ask with a client that cannot show forms uses the configured fallback (auto-reject)', async () => {
    const client = await http!.connect(); // no elicitation capability
    const path = join(root, 'fallback.txt');
    const result = await client.callTool({
      name: 'fs__write_file',
      arguments: { path, content: 'x' },
    });
    expect(result.isError).toBe(true);
    expect(resultText(result)).toContain('was NOT executed');
    // The agent's transcript says why and how to fix it, not only the proxy's stderr.
    expect(resultText(result)).toContain('does not support elicitation');
    expect(resultText(result)).toContain('approval.fallback is "auto-reject"');
    expect(resultText(result)).toContain('set approval.fallback to "hub"');
    expect(existsSync(path)).toBe(false);
  });
});
