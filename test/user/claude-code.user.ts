import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import {
  agentFinished,
  CLAUDE,
  cleanEnv,
  FS_SERVER,
  freshDir,
  hitloop,
  log,
  MCP_RECORDER,
  type MessagesTurn,
  onePendingOf,
  only,
  type Pending,
  type ProcessResult,
  pendingApprovals,
  progressUntilCancel,
  type Running,
  readRecording,
  ScriptedMessagesModel,
  start,
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
  /** The model's turns instead of write_file(file, content) then "finished". */
  turns?: (work: string) => MessagesTurn[];
  /**
   * The README's permission-prompt recipe: `hitloop proxy --permission-prompt`
   * and `claude --permission-prompt-tool mcp__hitloop__approve`, no --allowedTools.
   */
  permissionPrompt?: boolean;
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
  const model = new ScriptedMessagesModel(
    'hitloop',
    options.turns?.(work) ?? [
      {
        tool: {
          server: 'hitloop',
          name: 'write_file',
          args: { path: join(work, options.file), content: options.content },
        },
      },
      { text: 'finished' },
    ],
  );
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
            ...(options.permissionPrompt ? ['--permission-prompt'] : []),
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
      ...(options.permissionPrompt
        ? // Every permission prompt, for MCP tools too, goes to hitloop's tool.
          ['--permission-prompt-tool', 'mcp__hitloop__approve']
        : // Claude Code asks before MCP tools too; hitloop is the one asking.
          ['--allowedTools', 'mcp__hitloop__*']),
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

function onePending(s: ClaudeScenario): Promise<Pending> {
  return onePendingOf(HITLOOP, { name: 'claude', run: s.claude, model: s.model, cli: s.cli });
}

async function claudeFinished(s: ClaudeScenario): Promise<void> {
  await agentFinished({ name: 'claude', run: s.claude, model: s.model, cli: s.cli });
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
    const probes = messages.filter((m) => m.message.method === 'server/discover');
    const probeAnswer = messages.find(
      (m) => m.dir === 'server->client' && m.message.id === probes[0]?.message.id,
    );
    const inits = messages.filter((m) => m.message.method === 'initialize');
    const call0 = messages.find((m) => m.message.method === 'tools/call');
    const version = (call0?.message.params?._meta as Record<string, unknown> | undefined)?.[
      'io.modelcontextprotocol/protocolVersion'
    ];
    log(
      `Claude Code ${String(pending.client?.version)}: ${probes.length} server/discover probe(s), answered with ${JSON.stringify(probeAnswer?.message.result?.supportedVersions)}; ${inits.length} initialize; tools/call speaks ${String(version)}`,
    );
    // hitloop answers the probe with 2026-07-28, so Claude Code speaks it: no initialize.
    expect(probeAnswer?.message.result?.supportedVersions).toContain('2026-07-28');
    expect(inits).toHaveLength(0);
    expect(version).toBe('2026-07-28');
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
    const { progress, cutAfter } = progressUntilCancel(messages);
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

/** The `approve` calls on the wire, each with the text hitloop answered. */
function permissionPrompts(s: ClaudeScenario): { args: Record<string, unknown>; answer: string }[] {
  const messages = readRecording(s.recording);
  return messages
    .filter((m) => m.message.method === 'tools/call' && m.message.params?.name === 'approve')
    .map((call) => {
      const answer = messages.find(
        (m) => m.dir === 'server->client' && m.message.id === call.message.id,
      );
      const content = (answer?.message.result?.content ?? []) as { text?: string }[];
      return {
        args: (call.message.params?.arguments ?? {}) as Record<string, unknown>,
        answer: content.map((c) => c.text ?? '').join(''),
      };
    });
}

/** Claude Code's exit, checking meanwhile that the hub never holds another request. */
async function finishedWithNoOtherRequest(s: ClaudeScenario): Promise<void> {
  let exited: ProcessResult | undefined;
  void s.claude.exited.then((r) => {
    exited = r;
  });
  while (!exited) {
    // The hub goes away with the proxy when Claude Code exits: a failed list then is no finding.
    const pending = await pendingApprovals(HITLOOP, s.cli).catch(() => []);
    expect(pending, 'a second approval request after the first was decided').toEqual([]);
    await new Promise((r) => setTimeout(r, 300));
  }
  await claudeFinished(s);
}

describe.skipIf(!enabled)(
  'Claude Code 2.1 with `--permission-prompt-tool mcp__hitloop__approve` (README recipe, no --allowedTools)',
  () => {
    it("hitloop's own write_file: the prompt passes unasked, one approval in the hub, approving it writes the file", async () => {
      const s = await claudeScenario({
        file: 'prompted.txt',
        content: 'approved once',
        permissionPrompt: true,
      });
      const pending = await onePending(s);
      // The proxy's gate on the call itself, not the permission prompt.
      expect(pending.tool).toBe('write_file');
      expect(pending.args).toEqual({
        path: join(s.work, 'prompted.txt'),
        content: 'approved once',
      });
      expect(existsSync(join(s.work, 'prompted.txt'))).toBe(false);
      const r = await hitloop(HITLOOP, ['approve', pending.id], s.cli);
      expect(r.code, r.stderr).toBe(0);
      await finishedWithNoOtherRequest(s);
      expect(s.claude.output()).not.toMatch(/not found/i);
      expect(readFileSync(join(s.work, 'prompted.txt'), 'utf8')).toBe('approved once');
      expect(only(s.model.toolResults()).text).toContain('Successfully wrote to');

      const prompt = only(permissionPrompts(s));
      log(
        `Claude Code asked approve ${JSON.stringify(prompt.args.tool_name)}; hitloop answered ${prompt.answer}`,
      );
      expect(prompt.args.tool_name).toBe('mcp__hitloop__write_file');
      expect(JSON.parse(prompt.answer)).toEqual({
        behavior: 'allow',
        updatedInput: { path: join(s.work, 'prompted.txt'), content: 'approved once' },
      });
      const calls = readRecording(s.recording).filter(
        (m) => m.message.method === 'tools/call' && m.message.params?.name === 'write_file',
      );
      expect(calls).toHaveLength(1);
    });

    const bash = (command: string) => (): MessagesTurn[] => [
      { builtin: { name: 'Bash', input: { command, description: 'Write a file' } } },
      { text: 'finished' },
    ];

    it("Claude Code's Bash: the prompt waits in the hub; approved, the command runs", async () => {
      const s = await claudeScenario({
        file: '',
        content: '',
        permissionPrompt: true,
        turns: bash('echo hi > bash-approved.txt'),
      });
      const pending = await onePending(s);
      expect(pending.tool).toBe('Bash');
      expect(pending.args.command).toBe('echo hi > bash-approved.txt');
      expect(existsSync(join(s.work, 'bash-approved.txt'))).toBe(false);
      const r = await hitloop(HITLOOP, ['approve', pending.id], s.cli);
      expect(r.code, r.stderr).toBe(0);
      await finishedWithNoOtherRequest(s);
      expect(readFileSync(join(s.work, 'bash-approved.txt'), 'utf8')).toBe('hi\n');
      expect(only(s.model.toolResults()).isError).toBe(false);
      const prompt = only(permissionPrompts(s));
      log(`Claude Code asked approve for Bash; hitloop answered ${prompt.answer}`);
      expect(prompt.args.tool_name).toBe('Bash');
      const answer = JSON.parse(prompt.answer) as {
        behavior: string;
        updatedInput: { command: string };
      };
      expect(answer.behavior).toBe('allow');
      expect(answer.updatedInput.command).toBe('echo hi > bash-approved.txt');
    });

    it("Claude Code's Bash: rejected in the hub, the command does not run and the model reads why", async () => {
      const s = await claudeScenario({
        file: '',
        content: '',
        permissionPrompt: true,
        turns: bash('echo hi > bash-rejected.txt'),
      });
      const pending = await onePending(s);
      expect(pending.tool).toBe('Bash');
      const r = await hitloop(HITLOOP, ['reject', pending.id, '--reason', 'no shell today'], s.cli);
      expect(r.code, r.stderr).toBe(0);
      await finishedWithNoOtherRequest(s);
      expect(existsSync(join(s.work, 'bash-rejected.txt'))).toBe(false);
      const prompt = only(permissionPrompts(s));
      log(`Claude Code asked approve for Bash; hitloop answered ${prompt.answer}`);
      const answer = JSON.parse(prompt.answer) as { behavior: string; message: string };
      expect(answer.behavior).toBe('deny');
      expect(answer.message).toMatch(
        /was NOT executed: rejected by cli:\S+\. Reason: no shell today\./,
      );
      const result = only(s.model.toolResults());
      log(`the model read: ${result.text}`);
      expect(result.isError).toBe(true);
      expect(result.text).toContain('no shell today');
    });
  },
);
