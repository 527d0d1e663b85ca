import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import {
  CLAUDE,
  cleanEnv,
  FS_SERVER,
  freshDir,
  hitloop,
  log,
  MCP_RECORDER,
  type Pending,
  type ProcessResult,
  pendingApprovals,
  type Running,
  readRecording,
  ScriptedMessagesModel,
  start,
  waitFor,
} from './harness.js';

// Claude Code (the real CLI, 2.1.x) with hitloop from the tarball in its
// --mcp-config, against a scripted Anthropic Messages API. Opt-in: Claude
// Code is not open source, and installing it needs Node 22 from the registry.

const enabled = process.env.HITLOOP_TEST_CLAUDE === '1';
if (!enabled)
  log(
    'Claude Code tests skipped: set HITLOOP_TEST_CLAUDE=1 (after HITLOOP_TEST_CLAUDE=1 bash scripts/install-agent-clis.sh) to run them',
  );

const prefix = inject('prefix');
const userRoot = inject('userRoot');
const HITLOOP = join(prefix, 'bin/hitloop');

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface ClaudeScenario {
  work: string;
  model: ScriptedMessagesModel;
  claude: Running;
  cli: { home: string; hitloopHome: string; cwd: string };
  recording: string;
}

async function claudeScenario(options: {
  file: string;
  content: string;
  hitloopConfig?: Record<string, unknown>;
  env?: Record<string, string>;
}): Promise<ClaudeScenario> {
  if (!existsSync(CLAUDE))
    throw new Error(
      `Claude Code is not installed at ${CLAUDE}: run \`HITLOOP_TEST_CLAUDE=1 bash scripts/install-agent-clis.sh\``,
    );
  const base = freshDir(userRoot, 'claude');
  const home = join(base, 'home');
  const work = join(base, 'work');
  const elsewhere = join(base, 'elsewhere');
  for (const dir of [home, work, elsewhere]) mkdirSync(dir, { recursive: true });
  const hitloopHome = join(base, 'hitloop-home');
  const model = new ScriptedMessagesModel('hitloop', [
    {
      tool: {
        server: 'hitloop',
        name: 'write_file',
        args: { path: join(work, options.file), content: options.content },
      },
    },
    { text: 'finished' },
  ]);
  await model.listen();
  cleanups.push(() => model.close());

  const configArgs: string[] = [];
  if (options.hitloopConfig) {
    const file = join(base, 'hitloop.json');
    writeFileSync(file, JSON.stringify(options.hitloopConfig));
    configArgs.push('--config', file);
  }
  const recording = join(base, 'mcp.jsonl');
  // The recorder sits between Claude Code and hitloop to see the wire.
  const mcpConfig = join(base, 'mcp.json');
  writeFileSync(
    mcpConfig,
    JSON.stringify({
      mcpServers: {
        hitloop: {
          command: 'node',
          args: [
            MCP_RECORDER,
            recording,
            '--',
            HITLOOP,
            'proxy',
            ...configArgs,
            '--',
            'node',
            FS_SERVER,
            work,
          ],
        },
      },
    }),
  );
  const claude = start(
    CLAUDE,
    [
      '-p',
      'Write the greeting file.',
      '--mcp-config',
      mcpConfig,
      // Claude Code asks before MCP tools too; hitloop is the one asking.
      '--allowedTools',
      'mcp__hitloop__*',
    ],
    {
      cwd: work,
      env: cleanEnv({
        HOME: home,
        HITLOOP_HOME: hitloopHome,
        ANTHROPIC_BASE_URL: model.baseUrl,
        ANTHROPIC_API_KEY: 'not-a-real-key',
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
        // Claude Code 2.1 defers MCP tools behind its ToolSearch tool; a
        // scripted model cannot search, so offer them directly.
        ENABLE_TOOL_SEARCH: 'false',
        ...options.env,
      }),
      timeoutMs: 110_000,
    },
  );
  cleanups.push(async () => {
    claude.kill();
    await claude.exited.catch(() => undefined);
  });
  return {
    work,
    model,
    claude,
    cli: { home, hitloopHome, cwd: elsewhere },
    recording,
  };
}

async function onePending(s: ClaudeScenario): Promise<Pending> {
  let exited: ProcessResult | undefined;
  void s.claude.exited.then((r) => {
    exited = r;
  });
  const list = await waitFor(
    'a pending approval from the Claude Code run',
    async () => {
      const pending = await pendingApprovals(HITLOOP, s.cli);
      return pending.length > 0 ? pending : undefined;
    },
    {
      timeoutMs: 60_000,
      intervalMs: 500,
      stopIf: () =>
        exited
          ? `claude exited (${exited.code}) first; problems: ${s.model.problems.join('; ')}\n${s.claude.output()}`
          : undefined,
    },
  );
  expect(list).toHaveLength(1);
  return list[0]!;
}

async function claudeFinished(s: ClaudeScenario): Promise<void> {
  const result = await s.claude.exited;
  expect(result.code, s.claude.output()).toBe(0);
  expect(result.stdout).toContain('finished');
  expect(s.model.problems).toEqual([]);
}

function only<T>(items: T[]): T {
  expect(items).toHaveLength(1);
  return items[0]!;
}

describe.skipIf(!enabled)('Claude Code 2.1 with hitloop from the tarball', () => {
  it('`hitloop approve ID`: the file is written; the wire shows the protocol version and a progressToken', async () => {
    const s = await claudeScenario({ file: 'approved.txt', content: 'hello from claude' });
    const pending = await onePending(s);
    expect(pending.client?.name).toBe('claude-code');
    const r = await hitloop(HITLOOP, ['approve', pending.id], s.cli);
    expect(r.code, r.stderr).toBe(0);
    await claudeFinished(s);
    expect(readFileSync(join(s.work, 'approved.txt'), 'utf8')).toBe('hello from claude');
    const result = only(s.model.toolResults());
    expect(result.isError).toBe(false);
    expect(result.text).toContain('Successfully wrote to');

    const messages = readRecording(s.recording);
    const init = only(messages.filter((m) => m.message.method === 'initialize'));
    const answer = messages.find(
      (m) => m.dir === 'server->client' && m.message.id === init.message.id,
    );
    const probes = messages.filter((m) => m.message.method === 'server/discover');
    log(
      `Claude Code ${String(pending.client?.version)}: ${probes.length} server/discover probe(s) first; initialize asks ${String(init.message.params?.protocolVersion)}, hitloop answered ${String(answer?.message.result?.protocolVersion)}`,
    );
    expect(init.message.params?.protocolVersion).toBe('2025-11-25');
    expect(answer?.message.result?.protocolVersion).toBe('2025-11-25');
    const call = only(messages.filter((m) => m.message.method === 'tools/call'));
    expect(
      (call.message.params?._meta as { progressToken?: unknown } | undefined)?.progressToken,
    ).toBeDefined();
  });

  it('`hitloop reject ID --reason`: nothing is written, the model reads NOT executed and the reason', async () => {
    const s = await claudeScenario({ file: 'rejected.txt', content: 'should not exist' });
    const pending = await onePending(s);
    const r = await hitloop(HITLOOP, ['reject', pending.id, '--reason', 'not today'], s.cli);
    expect(r.code, r.stderr).toBe(0);
    await claudeFinished(s);
    expect(existsSync(join(s.work, 'rejected.txt'))).toBe(false);
    const result = only(s.model.toolResults());
    expect(result.isError).toBe(true);
    expect(result.text).toMatch(
      /Tool 'server-filesystem\/write_file' was NOT executed: rejected by cli:\S+\. Reason: not today\./,
    );
  });

  it('`hitloop approve ID --args`: the model reads that the call was edited and what ran', async () => {
    const s = await claudeScenario({ file: 'edited.txt', content: 'the model wrote this' });
    const pending = await onePending(s);
    const edited = { path: join(s.work, 'edited.txt'), content: 'a reviewer wrote this' };
    const r = await hitloop(
      HITLOOP,
      ['approve', pending.id, '--args', JSON.stringify(edited)],
      s.cli,
    );
    expect(r.code, r.stderr).toBe(0);
    await claudeFinished(s);
    expect(readFileSync(join(s.work, 'edited.txt'), 'utf8')).toBe('a reviewer wrote this');
    // hitloop's answer carries the note in content[] ...
    const messages = readRecording(s.recording);
    const call = only(messages.filter((m) => m.message.method === 'tools/call'));
    const answer = only(
      messages.filter((m) => m.dir === 'server->client' && m.message.id === call.message.id),
    );
    expect(JSON.stringify(answer.message.result)).toContain("edited this call's arguments");
    // ... and the model must read it, whatever part of the result the client forwards.
    const result = only(s.model.toolResults());
    expect(result.text).toContain("edited this call's arguments");
    // As the note's own text, or escaped inside the structured content's JSON.
    const ran = JSON.stringify(edited);
    expect(result.text).toContain(
      result.text.includes(ran) ? ran : JSON.stringify(ran).slice(1, -1),
    );
  });

  it('MCP_TOOL_TIMEOUT cuts the call despite progress every second', async () => {
    const s = await claudeScenario({
      file: 'late.txt',
      content: 'too late',
      hitloopConfig: { approval: { keepAliveMs: 1000 } },
      env: { MCP_TOOL_TIMEOUT: '8000' },
    });
    await onePending(s);
    await claudeFinished(s);
    const messages = readRecording(s.recording);
    const call = only(messages.filter((m) => m.message.method === 'tools/call'));
    const token = (call.message.params?._meta as { progressToken?: unknown } | undefined)
      ?.progressToken;
    const cancel = only(messages.filter((m) => m.message.method === 'notifications/cancelled'));
    expect(cancel.message.params?.requestId).toBe(call.message.id);
    const progress = messages.filter(
      (m) =>
        m.message.method === 'notifications/progress' &&
        m.message.params?.progressToken === token &&
        m.at < cancel.at,
    );
    const cutAfter = (cancel.at - call.at) / 1000;
    log(
      `Claude Code: ${progress.length} progress notifications, cancelled after ${cutAfter.toFixed(1)} s (MCP_TOOL_TIMEOUT=8000)`,
    );
    expect(progress.length).toBeGreaterThanOrEqual(5);
    expect(cutAfter).toBeGreaterThan(7.5);
    expect(cutAfter).toBeLessThan(11);
    expect(existsSync(join(s.work, 'late.txt'))).toBe(false);
    const result = only(s.model.toolResults());
    expect(result.isError).toBe(true);
    expect(result.text).toContain('timed out after 8s');
  });
});
