import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { argsHash } from '../../shared/util/canonical-json.js';
import {
  announcedHub,
  filesystemServer,
  initializeRequest,
  nextPending,
  type RawProxy,
  resultText,
  type StdioProxy,
  startRawProxy,
  startStdioProxy,
  tempDir,
  waitUntil,
  writeConfig,
} from '../helpers/proxy-harness.js';

// What real agent clients (Claude Code, Codex) ran into through the proxy:
// an edit the model never heard of, one call approved twice under
// --permission-prompt-tool, a server's roots/list reaching the client before
// it was initialized, and "waiting for human approval" for a call a
// remembered rule had already allowed.

const tmp = tempDir('hitloop-agent-facing-');
const open: Array<{ close(): Promise<unknown> }> = [];
afterEach(async () => {
  await Promise.allSettled(open.splice(0).map((p) => p.close()));
});
afterAll(() => tmp.remove());

let n = 0;
function setup(extra: Record<string, unknown> = {}) {
  const dir = join(tmp.dir, `case-${++n}`);
  const files = join(dir, 'files');
  const home = join(dir, 'home');
  mkdirSync(files, { recursive: true });
  const config = writeConfig(dir, {
    mcpServers: { fs: filesystemServer(files) },
    policy: { type: 'rules', default: 'allow', rules: [{ tool: 'write_file', effect: 'ask' }] },
    telemetry: { db: false },
    ...extra,
  });
  return { dir, files, home, config };
}

describe('an edited call tells the model what ran', () => {
  it('the result carries a note with the edited arguments, after the server own text', async () => {
    const { files, home, config } = setup();
    const proxy: StdioProxy = await startStdioProxy(config, home);
    open.push(proxy);
    const hub = await announcedHub(home);
    const target = join(files, 'note.txt');
    const call = proxy.client.callTool({
      name: 'write_file',
      arguments: { path: target, content: 'from the model' },
    });
    const pending = await nextPending(hub);
    const edited = { path: target, content: 'from the reviewer' };
    await hub.decide(pending.id, {
      approve: true,
      argsHash: pending.argsHash,
      editedArgs: edited,
      reason: 'kinder wording',
      decidedBy: 'test:alice',
    });
    // The SDK client checks structuredContent against the listed output schema: it passes.
    const result = (await call) as {
      content: Array<{ type: string; text: string }>;
      structuredContent: Record<string, string>;
    };
    expect(readFileSync(target, 'utf8')).toBe('from the reviewer');
    expect(result.content[0]!.text).toContain('Successfully wrote');
    const note = result.content.at(-1)!.text;
    expect(note).toContain('a reviewer (test:alice) edited');
    expect(note).toContain('Reason: kinder wording');
    expect(note).toContain(JSON.stringify(edited));
    // Codex and Claude Code show the model structuredContent, not the text: the note is there too.
    expect(result.structuredContent.content).toContain('Successfully wrote');
    expect(result.structuredContent.hitloop_note).toBe(note);
    const listed = (await proxy.client.listTools()).tools.find((t) => t.name === 'write_file');
    expect(listed!.outputSchema!.properties).toHaveProperty('hitloop_note');
  });

  it('an approval without edits leaves the result as the server sent it', async () => {
    const { files, home, config } = setup();
    const proxy = await startStdioProxy(config, home);
    open.push(proxy);
    const hub = await announcedHub(home);
    const target = join(files, 'plain.txt');
    const call = proxy.client.callTool({
      name: 'write_file',
      arguments: { path: target, content: 'as proposed' },
    });
    const pending = await nextPending(hub);
    await hub.decide(pending.id, { approve: true, argsHash: pending.argsHash });
    const result = (await call) as { content: Array<{ text: string }> };
    expect(result.content).toHaveLength(1);
    expect(resultText(result)).not.toContain('Note from hitloop');
  });
});

describe('a remembered rule is not "waiting for human approval"', () => {
  it('no keep-alive progress for a call a remembered rule allows; one for a call that waits', async () => {
    const { files, home, config } = setup({ approval: { keepAliveMs: 200 } });
    const proxy = await startStdioProxy(config, home);
    open.push(proxy);
    const hub = await announcedHub(home);
    const progressFirst: Array<{ message?: string }> = [];
    const first = proxy.client.callTool(
      { name: 'write_file', arguments: { path: join(files, 'a.txt'), content: 'a' } },
      undefined,
      { onprogress: (p) => progressFirst.push(p) },
    );
    const pending = await nextPending(hub);
    await waitUntil(() => progressFirst.length > 0, 'a keep-alive while a person decides');
    expect(progressFirst[0]!.message).toMatch(/Waiting for human approval of write_file/);
    await hub.decide(pending.id, {
      approve: true,
      argsHash: pending.argsHash,
      remember: 'session',
    });
    await first;

    const progressSecond: Array<{ message?: string }> = [];
    const second = await proxy.client.callTool(
      { name: 'write_file', arguments: { path: join(files, 'b.txt'), content: 'b' } },
      undefined,
      { onprogress: (p) => progressSecond.push(p) },
    );
    expect(second.isError).toBeFalsy();
    expect(readFileSync(join(files, 'b.txt'), 'utf8')).toBe('b');
    expect(progressSecond).toEqual([]);
  });
});

describe('Claude Code permission prompts for the proxy own tools', () => {
  it('pass without a question (the call is gated on arrival); others still ask', async () => {
    // Every MCP tool asks, so a prompt that passes passed because it is ours.
    const { files, home, config } = setup({
      policy: {
        type: 'rules',
        default: 'allow',
        rules: [{ tool: ['write_file', 'mcp__*'], effect: 'ask' }],
      },
    });
    const proxy = await startStdioProxy(config, home, { extraArgs: ['--permission-prompt'] });
    open.push(proxy);
    const hub = await announcedHub(home);
    const target = join(files, 'own.txt');
    const input = { path: target, content: 'x' };
    const prompt = await proxy.client.callTool({
      name: 'approve',
      arguments: { tool_name: 'mcp__hitloop__write_file', input, tool_use_id: 'toolu_1' },
    });
    expect(JSON.parse(resultText(prompt))).toEqual({ behavior: 'allow', updatedInput: input });
    expect(await hub.listPending()).toEqual([]);

    // The call itself is the one that asks: exactly one approval for one call.
    const call = proxy.client.callTool({ name: 'write_file', arguments: input });
    const pending = await nextPending(hub);
    expect(pending.argsHash).toBe(argsHash(input));
    await hub.decide(pending.id, { approve: true, argsHash: pending.argsHash });
    expect((await call).isError).toBeFalsy();

    // Another server's tool of the same name, and Claude Code's own tools, still ask.
    const foreign = proxy.client.callTool({
      name: 'approve',
      arguments: { tool_name: 'mcp__other__write_file', input, tool_use_id: 'toolu_2' },
    });
    const asked = await nextPending(hub);
    expect(asked.tool).toBe('mcp__other__write_file');
    await hub.decide(asked.id, { approve: false, argsHash: asked.argsHash, reason: 'not that' });
    expect(JSON.parse(resultText(await foreign)).behavior).toBe('deny');
  });

  it('--name-in-client names the proxy as the client knows it', async () => {
    const { files, home, config } = setup();
    const proxy = await startStdioProxy(config, home, {
      extraArgs: ['--permission-prompt', '--name-in-client', 'files'],
    });
    open.push(proxy);
    const input = { path: join(files, 'n.txt'), content: 'y' };
    const prompt = await proxy.client.callTool({
      name: 'approve',
      arguments: { tool_name: 'mcp__files__write_file', input, tool_use_id: 'toolu_3' },
    });
    expect(JSON.parse(resultText(prompt)).behavior).toBe('allow');
    expect(existsSync(input.path)).toBe(false); // allowed to be called, not run by the prompt
  });
});

describe("server requests wait for the client's initialized notification", () => {
  it('roots/list from server-filesystem reaches the client only after notifications/initialized', async () => {
    const { home, config } = setup();
    const raw: RawProxy = startRawProxy(config, home);
    open.push(raw);
    raw.send(initializeRequest(1, { roots: { listChanged: true } }));
    expect((await raw.next((m) => m.id === 1)).result).toBeDefined();
    // server-filesystem asks for roots as soon as it is initialized; give it time to.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(raw.received.filter((m) => m.method === 'roots/list')).toEqual([]);
    raw.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    const ask = await raw.next((m) => m.method === 'roots/list');
    raw.send({ jsonrpc: '2.0', id: ask.id!, result: { roots: [] } });
  });
});
