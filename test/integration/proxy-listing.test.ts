import { mkdirSync } from 'node:fs';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { type Tool, ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connectDirect,
  deferred,
  everythingServer,
  filesystemServer,
  type HttpProxy,
  resultText,
  type StdioProxy,
  startHttpProxy,
  startStdioProxy,
  tempDir,
  writeConfig,
} from '../helpers/proxy-harness.js';

// Listing and namespacing through the real `hitloop proxy`, compared with
// direct connections to the same servers, over stdio and Streamable HTTP.

const tmp = tempDir();
const fsRoot = `${tmp.dir}/files`;
let config: string;
let direct: Record<string, Tool[]>;
let stdio: StdioProxy;
let http: HttpProxy;

beforeAll(async () => {
  mkdirSync(fsRoot);
  config = writeConfig(tmp.dir, {
    mcpServers: { everything: everythingServer(), fs: filesystemServer(fsRoot) },
    policy: { type: 'always_approve' },
    approval: { backend: 'auto-reject' },
    telemetry: { db: `${tmp.dir}/telemetry.db` },
  });
  const clients: Record<string, Client> = {
    everything: await connectDirect(everythingServer()),
    fs: await connectDirect(filesystemServer(fsRoot)),
  };
  direct = {};
  for (const [name, client] of Object.entries(clients)) {
    direct[name] = (await client.listTools()).tools;
    await client.close();
  }
  [stdio, http] = await Promise.all([
    startStdioProxy(config, tmp.dir),
    startHttpProxy(config, tmp.dir),
  ]);
});

afterAll(async () => {
  await Promise.allSettled([stdio?.close(), http?.close()]);
  tmp.remove();
});

/** Checks that every upstream tool is listed as SERVER__TOOL with everything else unchanged. */
/**
 * The one change the proxy makes to a listing: an object output schema also
 * allows an optional `hitloop_note` string (where an edited call's structured
 * result says what ran).
 */
function withNoteField(tool: Tool): Partial<Tool> {
  const schema = tool.outputSchema;
  if (schema?.type !== 'object') return {};
  return {
    outputSchema: {
      ...schema,
      properties: {
        ...schema.properties,
        hitloop_note: expect.objectContaining({ type: 'string' }),
      },
    },
  };
}

function expectNamespaced(listed: Tool[]): void {
  const expected = Object.entries(direct).flatMap(([server, tools]) =>
    tools.map((t) => ({ ...t, name: `${server}__${t.name}`, ...withNoteField(t) })),
  );
  expect(direct.everything!.length).toBeGreaterThan(5);
  expect(direct.fs!.length).toBeGreaterThan(5);
  expect(listed.map((t) => t.name).sort()).toEqual(expected.map((t) => t.name).sort());
  const byName = new Map(listed.map((t) => [t.name, t]));
  for (const tool of expected) {
    // schema, title, description, annotations, outputSchema (plus hitloop_note), _meta: as the server gave them
    expect(byName.get(tool.name), tool.name).toEqual(tool);
  }
}

describe('hitloop proxy: listing and namespacing', () => {
  it('over stdio lists every tool of both servers as SERVER__TOOL, schemas and annotations intact', async () => {
    const { tools } = await stdio.client.listTools();
    expectNamespaced(tools);
    const echo = tools.find((t) => t.name === 'everything__echo')!;
    expect(echo.annotations).toEqual({
      readOnlyHint: true,
      destructiveHint: false,
      idempotentHint: true,
      openWorldHint: false,
    });
    expect(echo.title).toBe('Echo Tool');
    expect(echo.inputSchema.required).toEqual(['message']);
  });

  it('over stdio routes a namespaced call to the right server', async () => {
    const echo = await stdio.client.callTool({
      name: 'everything__echo',
      arguments: { message: 'through the proxy' },
    });
    expect(resultText(echo)).toBe('Echo: through the proxy');
    const dirs = await stdio.client.callTool({
      name: 'fs__list_allowed_directories',
      arguments: {},
    });
    expect(resultText(dirs)).toContain(fsRoot);
  });

  it('identifies itself and passes on the servers instructions', async () => {
    // In front of several servers: the name the client knows it by (proxy.nameInClient).
    expect(stdio.client.getServerVersion()).toMatchObject({
      name: 'hitloop',
      description: expect.stringContaining('everything, fs, gated by hitloop'),
    });
    expect(stdio.client.getServerCapabilities()?.tools).toBeDefined();
    expect(stdio.client.getInstructions() ?? '').toContain('[everything]');
  });

  it('over Streamable HTTP lists the same tools and answers calls', async () => {
    const client = await http.connect();
    const { tools } = await client.listTools();
    expectNamespaced(tools);
    const echo = await client.callTool({
      name: 'everything__echo',
      arguments: { message: 'http' },
    });
    expect(resultText(echo)).toBe('Echo: http');
  });

  it('over Streamable HTTP keeps sessions apart', async () => {
    const [a, b] = await Promise.all([http.connect(), http.connect()]);
    const [ra, rb] = await Promise.all([
      a.callTool({ name: 'everything__echo', arguments: { message: 'a' } }),
      b.callTool({ name: 'everything__echo', arguments: { message: 'b' } }),
    ]);
    expect(resultText(ra)).toBe('Echo: a');
    expect(resultText(rb)).toBe('Echo: b');
  });

  it('over Streamable HTTP refuses a foreign Origin and an unknown session', async () => {
    const initialize = {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: {
        protocolVersion: '2025-06-18',
        capabilities: {},
        clientInfo: { name: 'x', version: '1' },
      },
    };
    const headers = {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    };
    const evil = await fetch(http.url, {
      method: 'POST',
      headers: { ...headers, origin: 'http://evil.example' },
      body: JSON.stringify(initialize),
    });
    expect(evil.status).toBe(403);
    const stale = await fetch(http.url, {
      method: 'POST',
      headers: { ...headers, 'mcp-session-id': 'no-such-session' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }),
    });
    expect(stale.status).toBe(404);
  });
});

// A server that changes a tool's schema under the same name, then says so
// (servers whose tools depend on state or configuration do this).
const CHANGING_SERVER = `
const out = (m) => process.stdout.write(JSON.stringify(m) + '\\n');
let strict = false;
const tools = () => [
  { name: 'target', description: strict ? 'needs a reason' : 'no arguments',
    inputSchema: strict
      ? { type: 'object', properties: { reason: { type: 'string' } }, required: ['reason'] }
      : { type: 'object' } },
  { name: 'tighten', inputSchema: { type: 'object' } },
];
require('readline').createInterface({ input: process.stdin }).on('line', (line) => {
  const m = JSON.parse(line);
  if (m.method === 'initialize')
    out({ jsonrpc: '2.0', id: m.id, result: { protocolVersion: m.params.protocolVersion,
      capabilities: { tools: { listChanged: true } }, serverInfo: { name: 'changing', version: '1' } } });
  else if (m.method === 'tools/list') out({ jsonrpc: '2.0', id: m.id, result: { tools: tools() } });
  else if (m.method === 'tools/call') {
    if (m.params.name === 'tighten') {
      strict = true;
      out({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' });
    }
    out({ jsonrpc: '2.0', id: m.id, result: { content: [{ type: 'text', text: m.params.name + ' ran' }] } });
  }
});
`;

describe('hitloop proxy: tool list changes', () => {
  it('a schema changed under the same tool name reaches the client as list_changed', async () => {
    const file = writeConfig(
      tmp.dir,
      {
        mcpServers: { changing: { command: process.execPath, args: ['-e', CHANGING_SERVER] } },
        policy: { type: 'always_approve' },
        approval: { backend: 'auto-reject' },
        telemetry: { db: false },
      },
      'changing.json',
    );
    const proxy = await startStdioProxy(file, tmp.dir);
    try {
      const listChanged = deferred();
      proxy.client.setNotificationHandler(ToolListChangedNotificationSchema, () =>
        listChanged.resolve(),
      );
      const before = (await proxy.client.listTools()).tools.find((t) => t.name === 'target');
      expect(before?.inputSchema.required).toBeUndefined();
      await proxy.client.callTool({ name: 'tighten', arguments: {} });
      // Without the notification the client keeps the old schema, and the
      // proxy refuses its calls against a schema it never heard of.
      await Promise.race([
        listChanged.promise,
        new Promise((_, reject) =>
          setTimeout(() => reject(new Error('no tools/list_changed reached the client')), 3000),
        ),
      ]);
      const after = (await proxy.client.listTools()).tools.find((t) => t.name === 'target');
      expect(after?.inputSchema.required).toEqual(['reason']);
      expect(after?.description).toBe('needs a reason');
    } finally {
      await proxy.close();
    }
  });
});
