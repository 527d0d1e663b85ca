import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client as ClientV2, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { afterAll, describe, expect, it } from 'vitest';
import {
  filesystemServer,
  PROXY_ENTRY,
  pendingOnHub,
  resultText,
  startHttpProxy,
  startRawProxy,
  tempDir,
  waitUntil,
  writeConfig,
} from '../helpers/proxy-harness.js';

// MCP 2026-07-28 through hitloop: the real v2 client (@modelcontextprotocol/client,
// the SDK's 2026 line) against the real proxy binary with the real
// server-filesystem (a 2025-era server) behind it. The proxy speaks the
// stateless wire to the client and the 2025 wire to the server.

const tmp = tempDir('hitloop-2026-');
afterAll(() => tmp.remove());

const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientCapabilities': { elicitation: { form: {} } },
  'io.modelcontextprotocol/clientInfo': { name: 'raw-2026', version: '1.0.0' },
};

interface Setup {
  work: string;
  home: string;
  config: string;
}

/** A folder for the filesystem server, and a config that asks before every write_file. */
function setup(name: string, backend: 'elicitation' | 'hub', fallback = 'auto-reject'): Setup {
  const work = join(tmp.dir, name, 'files');
  const home = join(tmp.dir, name, 'home');
  mkdirSync(work, { recursive: true });
  const config = writeConfig(join(tmp.dir, name), {
    mcpServers: { fs: filesystemServer(work) },
    policy: { type: 'rules', default: 'allow', rules: [{ tool: 'write_file', effect: 'ask' }] },
    approval: { backend, fallback, keepAliveMs: 200 },
    telemetry: { db: false },
  });
  return { work, home, config };
}

type Answer = { action: 'accept' | 'decline'; content?: Record<string, string> };

/** A v2 client that negotiates 2026-07-28 and answers hitloop's form with `answer`. */
function v2Client(answer?: (message: string) => Answer): { client: ClientV2; forms: string[] } {
  const forms: string[] = [];
  const client = new ClientV2(
    { name: 'v2-test', version: '1.0.0' },
    {
      capabilities: answer ? { elicitation: { form: {} } } : {},
      versionNegotiation: { mode: 'auto' },
    },
  );
  if (answer)
    client.setRequestHandler('elicitation/create', async (request) => {
      const message = String((request.params as { message?: unknown }).message);
      forms.push(message);
      return answer(message);
    });
  return { client, forms };
}

function stdioTransport(s: Setup): StdioClientTransport {
  return new StdioClientTransport({
    command: process.execPath,
    args: [PROXY_ENTRY, 'proxy', '--config', s.config],
    env: { ...(process.env as Record<string, string>), HITLOOP_HOME: s.home },
    stderr: 'ignore',
  });
}

describe('a 2026-07-28 client through hitloop', () => {
  it('negotiates 2026-07-28 over stdio, lists and calls tools, and is asked through input_required', async () => {
    const s = setup('stdio', 'elicitation');
    let decision = 'approve';
    const { client, forms } = v2Client(() => ({
      action: 'accept',
      content: { decision, reason: decision === 'approve' ? '' : 'not that file' },
    }));
    await client.connect(stdioTransport(s));
    try {
      expect(client.getNegotiatedProtocolVersion()).toBe('2026-07-28');
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toContain('write_file');
      const dirs = await client.callTool({ name: 'list_allowed_directories', arguments: {} });
      expect(resultText(dirs as never)).toContain(s.work);
      expect(forms).toHaveLength(0); // allowed calls ask nobody

      const approved = join(s.work, 'approved.txt');
      const ok = await client.callTool({
        name: 'write_file',
        arguments: { path: approved, content: 'yes' },
      });
      expect(resultText(ok as never)).toContain('Successfully wrote');
      expect(readFileSync(approved, 'utf8')).toBe('yes');
      // The form showed the exact call.
      expect(forms).toHaveLength(1);
      expect(forms[0]).toContain('fs / write_file');
      expect(forms[0]).toContain(JSON.stringify(approved));

      decision = 'reject';
      const refused = join(s.work, 'refused.txt');
      const no = await client.callTool({
        name: 'write_file',
        arguments: { path: refused, content: 'no' },
      });
      expect(no.isError).toBe(true);
      expect(resultText(no as never)).toMatch(
        /NOT executed: rejected by mrtr:user\. Reason: not that file/,
      );
      expect(existsSync(refused)).toBe(false);
    } finally {
      await client.close();
    }
  });

  it('runs the arguments a reviewer edited in the MRTR form, and tells the model', async () => {
    const s = setup('edit', 'elicitation');
    const target = join(s.work, 'edited.txt');
    const { client } = v2Client(() => ({
      action: 'accept',
      content: {
        decision: 'approve',
        arguments: JSON.stringify({ path: target, content: 'edited' }),
      },
    }));
    await client.connect(stdioTransport(s));
    try {
      const r = await client.callTool({
        name: 'write_file',
        arguments: { path: target, content: 'proposed' },
      });
      expect(readFileSync(target, 'utf8')).toBe('edited');
      expect(resultText(r as never)).toMatch(/edited this call's arguments before it ran/);
    } finally {
      await client.close();
    }
  });

  it('serves the stateless HTTP wire: MRTR approval, and a 2025-era client on the same proxy', async () => {
    const s = setup('http', 'elicitation');
    const proxy = await startHttpProxy(s.config, s.home);
    try {
      const { client, forms } = v2Client(() => ({
        action: 'accept',
        content: { decision: 'approve' },
      }));
      await client.connect(new StreamableHTTPClientTransport(new URL(proxy.url)));
      expect(client.getNegotiatedProtocolVersion()).toBe('2026-07-28');
      const target = join(s.work, 'http.txt');
      const r = await client.callTool({
        name: 'write_file',
        arguments: { path: target, content: 'v2' },
      });
      expect(resultText(r as never)).toContain('Successfully wrote');
      expect(readFileSync(target, 'utf8')).toBe('v2');
      expect(forms).toHaveLength(1);
      await client.close();

      // The v1 SDK (2025-11-25, initialize and a session) on the same endpoint.
      const legacy = await proxy.connect();
      const { tools } = await legacy.listTools();
      expect(tools.map((t) => t.name)).toContain('read_text_file');
      const read = await legacy.callTool({ name: 'read_text_file', arguments: { path: target } });
      expect(resultText(read)).toBe('v2');
    } finally {
      await proxy.close();
    }
  });

  it('binds an MRTR decision to the exact call and continues each round once', async () => {
    const s = setup('binding', 'elicitation');
    const proxy = await startHttpProxy(s.config, s.home);
    const post = async (id: number, params: Record<string, unknown>) => {
      const res = await fetch(proxy.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-protocol-version': '2026-07-28',
        },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id,
          method: 'tools/call',
          params: { ...params, _meta: META },
        }),
      });
      // biome-ignore lint/suspicious/noExplicitAny: a raw wire answer, read field by field below
      return { status: res.status, body: (await res.json()) as Record<string, any> };
    };
    try {
      const target = join(s.work, 'bound.txt');
      const call = { name: 'write_file', arguments: { path: target, content: 'reviewed' } };
      const first = await post(1, call);
      expect(first.body.result.resultType).toBe('input_required');
      const state = first.body.result.requestState as string;
      const form = first.body.result.inputRequests.hitloop_approval;
      expect(form.method).toBe('elicitation/create');
      const approve = { hitloop_approval: { action: 'accept', content: { decision: 'approve' } } };

      // The approval does not carry over to other arguments.
      const swapped = await post(2, {
        name: 'write_file',
        arguments: { path: target, content: 'swapped' },
        inputResponses: approve,
        requestState: state,
      });
      expect(swapped.status).toBe(400);
      expect(swapped.body.error.code).toBe(-32602);
      expect(swapped.body.error.message).toMatch(/must repeat the call/);
      expect(existsSync(target)).toBe(false);

      const done = await post(3, { ...call, inputResponses: approve, requestState: state });
      expect(done.body.result.resultType).toBe('complete');
      expect(done.body.result.content[0].text).toContain('Successfully wrote');
      expect(readFileSync(target, 'utf8')).toBe('reviewed');

      // The round was continued once; replaying it runs nothing.
      const replay = await post(4, { ...call, inputResponses: approve, requestState: state });
      expect(replay.body.error.code).toBe(-32602);
      expect(replay.body.error.message).toMatch(/unknown or already used/);
    } finally {
      await proxy.close();
    }
  });

  it('waits in the approval hub for a 2026 client, decided from outside the client', async () => {
    const s = setup('hub', 'hub');
    const proxy = await startHttpProxy(s.config, s.home);
    try {
      const { client } = v2Client();
      await client.connect(new StreamableHTTPClientTransport(new URL(proxy.url)));
      const target = join(s.work, 'hub.txt');
      const call = client.callTool({
        name: 'write_file',
        arguments: { path: target, content: 'hub' },
      });
      const { hub, pending } = await pendingOnHub(s.home);
      expect(pending).toMatchObject({ tool: 'write_file', args: { path: target, content: 'hub' } });
      await hub.decide(pending.id, { approve: true, argsHash: pending.argsHash });
      expect(resultText((await call) as never)).toContain('Successfully wrote');
      expect(readFileSync(target, 'utf8')).toBe('hub');
      await client.close();
    } finally {
      await proxy.close();
    }
  });
});

describe('a 2026-07-28 client that cannot show the form', () => {
  it('gets the fallback channel (the hub), with keep-alive progress while it waits', async () => {
    const s = setup('fallback', 'elicitation', 'hub');
    const proxy = await startHttpProxy(s.config, s.home);
    try {
      const { client } = v2Client();
      await client.connect(new StreamableHTTPClientTransport(new URL(proxy.url)));
      const target = join(s.work, 'fallback.txt');
      const progress: string[] = [];
      const call = client.callTool(
        { name: 'write_file', arguments: { path: target, content: 'via hub' } },
        { onprogress: (p) => progress.push(String(p.message)) },
      );
      const { hub, pending } = await pendingOnHub(s.home);
      await waitUntil(() => (progress.length >= 2 ? true : undefined), 'two keep-alives');
      expect(progress[0]).toMatch(/Waiting for human approval of write_file/);
      await hub.decide(pending.id, { approve: true, argsHash: pending.argsHash });
      expect(resultText((await call) as never)).toContain('Successfully wrote');
      expect(readFileSync(target, 'utf8')).toBe('via hub');
      await client.close();
    } finally {
      await proxy.close();
    }
  });
});

describe('a 2025-era server behind hitloop, asked by a 2026-07-28 client', () => {
  const FIXTURE = fileURLToPath(
    new URL('../fixtures/proxy-conformance-server.mjs', import.meta.url),
  );

  function fixtureSetup(): Setup {
    const home = join(tmp.dir, 'fixture', 'home');
    mkdirSync(home, { recursive: true });
    const config = writeConfig(join(tmp.dir, 'fixture'), {
      mcpServers: { up: { command: process.execPath, args: [FIXTURE, 'stdio'] } },
      policy: { type: 'always_approve' },
      approval: { backend: 'auto-reject' },
      telemetry: { db: false },
      proxy: { prefixNames: false },
    });
    return { work: home, home, config };
  }

  it("turns the server's elicitation requests into input_required rounds the v2 client fulfils", async () => {
    const asked: string[] = [];
    const { client } = v2Client((message): Answer => {
      asked.push(message);
      return {
        action: 'accept',
        content: message.includes('color') ? { color: 'blue' } : { name: 'Alice' },
      };
    });
    await client.connect(stdioTransport(fixtureSetup()));
    try {
      const r = await client.callTool({
        name: 'test_input_required_result_multi_round',
        arguments: {},
      });
      expect(resultText(r as never)).toBe('Hello, Alice! You like blue.');
      expect(asked).toEqual(['Step 1: What is your name?', 'Step 2: What is your favorite color?']);
    } finally {
      await client.close();
    }
  });

  it('delivers list changes on a subscriptions/listen stream, as asked', async () => {
    const { client } = v2Client();
    await client.connect(stdioTransport(fixtureSetup()));
    try {
      const changed: string[] = [];
      client.setNotificationHandler('notifications/tools/list_changed', () => {
        changed.push('tools');
      });
      client.setNotificationHandler('notifications/prompts/list_changed', () => {
        changed.push('prompts');
      });
      const subscription = await client.listen({ toolsListChanged: true });
      await client.callTool({ name: 'test_trigger_prompt_change', arguments: {} });
      const added = await client.callTool({ name: 'test_trigger_tool_change', arguments: {} });
      const name = resultText(added as never).replace('added ', '');
      await waitUntil(() => (changed.length ? true : undefined), 'the tools list_changed');
      // Only what the subscription asked for: no prompts notification.
      expect(changed).toEqual(['tools']);
      expect((await client.listTools()).tools.map((t) => t.name)).toContain(name);
      await subscription.close();
    } finally {
      await client.close();
    }
  });

  it('fails the call with -32021 when the request did not declare the capability the server needs', async () => {
    const { client } = v2Client();
    await client.connect(stdioTransport(fixtureSetup()));
    try {
      await expect(
        client.callTool({ name: 'test_input_required_result_elicitation', arguments: {} }),
      ).rejects.toMatchObject({ code: -32021 });
    } finally {
      await client.close();
    }
  });
});

describe('the 2026-07-28 wire, message by message', () => {
  it('answers envelope, version and removed-method errors with their codes and HTTP statuses', async () => {
    const s = setup('errors', 'elicitation');
    const proxy = await startHttpProxy(s.config, s.home);
    const post = async (body: Record<string, unknown>, headers: Record<string, string> = {}) => {
      const res = await fetch(proxy.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json', ...headers },
        body: JSON.stringify({ jsonrpc: '2.0', id: 7, ...body }),
      });
      return {
        status: res.status,
        body: (await res.json()) as { error?: { code: number; data?: unknown } },
      };
    };
    try {
      const noMeta = await post({ method: 'tools/list', params: {} });
      expect([noMeta.status, noMeta.body.error?.code]).toEqual([400, -32602]);
      const meta = { ...META, 'io.modelcontextprotocol/protocolVersion': '2099-01-01' };
      const version = await post({ method: 'tools/list', params: { _meta: meta } });
      expect([version.status, version.body.error?.code]).toEqual([400, -32022]);
      expect(version.body.error?.data).toMatchObject({
        requested: '2099-01-01',
        supported: expect.arrayContaining(['2026-07-28']),
      });
      const mismatch = await post(
        { method: 'tools/list', params: { _meta: META } },
        { 'mcp-protocol-version': '2025-11-25' },
      );
      expect([mismatch.status, mismatch.body.error?.code]).toEqual([400, -32020]);
      for (const method of ['ping', 'logging/setLevel', 'initialize']) {
        const removed = await post({ method, params: { _meta: META } });
        expect([method, removed.status, removed.body.error?.code]).toEqual([method, 404, -32601]);
      }
      const discover = await post({ method: 'server/discover', params: { _meta: META } });
      expect(discover.status).toBe(200);
      expect(discover.body).toMatchObject({
        result: {
          resultType: 'complete',
          supportedVersions: expect.arrayContaining(['2026-07-28', '2025-11-25']),
        },
      });
    } finally {
      await proxy.close();
    }
  });

  it('on stdio, a server/discover probe starts nothing: the client may then initialize the 2025 way', async () => {
    const s = setup('probe', 'elicitation');
    const raw = startRawProxy(s.config, s.home);
    try {
      raw.send({ jsonrpc: '2.0', id: 'probe', method: 'server/discover', params: { _meta: META } });
      const probe = await raw.next((m) => m.id === 'probe');
      expect(probe.result?.supportedVersions).toContain('2026-07-28');
      raw.send({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: {
          protocolVersion: '2025-11-25',
          capabilities: {},
          clientInfo: { name: 'old', version: '1' },
        },
      });
      const init = await raw.next((m) => m.id === 1);
      expect(init.result?.protocolVersion).toBe('2025-11-25');
      raw.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      raw.send({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
      const list = await raw.next((m) => m.id === 2);
      expect(list.result?.tools).toEqual(
        expect.arrayContaining([expect.objectContaining({ name: 'write_file' })]),
      );
      expect(list.result).not.toHaveProperty('resultType');
    } finally {
      await raw.close();
    }
  });
});
