import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  agentFinished,
  CODEX,
  CODEX_SERVER_SETTINGS,
  CODEX_VERSION,
  type CodexMcpServer,
  codexConfigToml,
  discoveredHubs,
  FS_SERVER,
  freshDir,
  hitloop,
  log,
  MCP_RECORDER,
  type ModelTurn,
  onePendingOf,
  only,
  type Pending,
  type ProcessResult,
  pendingApprovals,
  progressUntilCancel,
  type Running,
  readRecording,
  ScriptedResponsesModel,
  startCodex,
  waitFor,
  writeCodexConfig,
} from './harness.js';

// Codex CLI (the real binary, pinned) with hitloop, installed from the
// packed tarball, as its MCP server, in front of the real filesystem MCP
// server. The model is scripted: it calls write_file, then ends the turn;
// the requests it receives are recorded, so each test reads the exact tool
// output the model was given.

const prefix = inject('prefix');
const userRoot = inject('userRoot');
const HITLOOP = join(prefix, 'bin/hitloop');

beforeAll(() => {
  if (!existsSync(CODEX)) {
    throw new Error(
      `Codex ${CODEX_VERSION} is not installed at ${CODEX}: run \`bash scripts/install-agent-clis.sh\``,
    );
  }
});

interface Scenario {
  home: string;
  hitloopHome: string;
  /** The folder the filesystem server may write to; Codex runs there too. */
  work: string;
  model: ScriptedResponsesModel;
  codex: Running;
  /** The CLI's environment: the same HITLOOP_HOME as the proxy, an unrelated folder. */
  cli: { home: string; hitloopHome: string; cwd: string };
  recording?: string;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface ScenarioOptions {
  turns: (work: string) => ModelTurn[];
  /** Arguments of `hitloop proxy` before `--` (e.g. --config FILE). */
  proxyArgs?: (base: string) => string[];
  /** More lines for the [mcp_servers.hitloop] table. */
  serverExtra?: string[];
  /** Put the MCP recorder between Codex and hitloop. */
  record?: boolean;
}

async function codexScenario(options: ScenarioOptions): Promise<Scenario> {
  const base = freshDir(userRoot, 'codex');
  const home = join(base, 'home');
  const hitloopHome = join(base, 'hitloop-home');
  const work = join(base, 'work');
  const elsewhere = join(base, 'elsewhere');
  for (const dir of [home, work, elsewhere]) mkdirSync(dir, { recursive: true });

  const model = new ScriptedResponsesModel(options.turns(work));
  await model.listen();
  cleanups.push(() => model.close());

  const proxy = [
    HITLOOP,
    'proxy',
    ...(options.proxyArgs?.(base) ?? []),
    '--',
    'node',
    FS_SERVER,
    work,
  ];
  const recording = options.record ? join(base, 'mcp.jsonl') : undefined;
  const server: CodexMcpServer = recording
    ? { command: 'node', args: [MCP_RECORDER, recording, '--', ...proxy] }
    : { command: proxy[0]!, args: proxy.slice(1) };
  // Codex passes an MCP server only the variables it lists (plus a few like
  // HOME and PATH): without this, the proxy would announce its hub in
  // ~/.hitloop instead of the HITLOOP_HOME the reviewer's CLI uses.
  server.envVars = ['HITLOOP_HOME'];
  server.extra = [...CODEX_SERVER_SETTINGS, ...(options.serverExtra ?? [])];
  writeCodexConfig(home, codexConfigToml(model.baseUrl, { hitloop: server }));

  const codex = startCodex({
    home,
    cwd: work,
    prompt: 'Write the greeting file.',
    env: { HITLOOP_HOME: hitloopHome },
  });
  cleanups.push(async () => {
    codex.kill();
    await codex.exited.catch(() => undefined);
  });
  return {
    home,
    hitloopHome,
    work,
    model,
    codex,
    cli: { home, hitloopHome, cwd: elsewhere },
    ...(recording ? { recording } : {}),
  };
}

function writeTurns(file: string, content: string): (work: string) => ModelTurn[] {
  return (work) => [
    { tool: { server: 'hitloop', name: 'write_file', args: { path: join(work, file), content } } },
    { text: 'finished' },
  ];
}

/** The one pending call of a Codex scenario. */
function onePending(s: Scenario): Promise<Pending> {
  return onePendingOf(HITLOOP, { name: 'codex', run: s.codex, model: s.model, cli: s.cli });
}

/** Waits for Codex to finish its turn; it must exit 0 with the model's final text. */
function codexFinished(s: Scenario): Promise<ProcessResult> {
  return agentFinished({ name: 'codex', run: s.codex, model: s.model, cli: s.cli });
}

describe(`Codex ${CODEX_VERSION} with hitloop from the tarball`, () => {
  it('starts `hitloop proxy` from its config.toml; a call approved through the hub HTTP API runs', async () => {
    const s = await codexScenario({ turns: writeTurns('greeting.txt', 'hello from codex') });
    const pending = await onePending(s);
    expect(pending.tool).toBe('write_file');
    expect(pending.args).toEqual({
      path: join(s.work, 'greeting.txt'),
      content: 'hello from codex',
    });
    // The proxy records who asked: Codex's MCP client.
    expect(pending.client).toEqual({ name: 'codex-mcp-client', version: CODEX_VERSION });
    // Held, not run, while nobody has decided.
    expect(existsSync(join(s.work, 'greeting.txt'))).toBe(false);

    // The way VS Code and the CLI find a hub: $HITLOOP_HOME/hubs/*.json.
    const hub = only(discoveredHubs(s.hitloopHome));
    const headers = { authorization: `Bearer ${hub.token}`, 'content-type': 'application/json' };
    const listed = (await (
      await fetch(`${hub.url}/v1/approvals?status=pending`, { headers })
    ).json()) as { approvals: Pending[] };
    expect(listed.approvals.map((a) => a.id)).toEqual([pending.id]);
    const decided = await fetch(`${hub.url}/v1/approvals/${pending.id}/decision`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        approve: true,
        argsHash: pending.argsHash,
        decidedBy: 'test:hub-api',
      }),
    });
    expect(decided.status).toBe(200);

    await codexFinished(s);
    expect(readFileSync(join(s.work, 'greeting.txt'), 'utf8')).toBe('hello from codex');
    expect(only(s.model.toolOutputs())).toContain(
      `Successfully wrote to ${join(s.work, 'greeting.txt')}`,
    );
  });

  // Not a test: without `required = true`, whether Codex 0.171's first model
  // request lists hitloop's tools is a race with under 0.1 s to spare
  // (README "Agent clients" gives the measurement), and a test that depends
  // on it would fail on a slower machine for no fault of hitloop's. The
  // documented config sets `required = true`, as every test here does.

  it('`hitloop approve ID` from another terminal: the file is written', async () => {
    const s = await codexScenario({ turns: writeTurns('approved.txt', 'approved content') });
    const pending = await onePending(s);
    const r = await hitloop(HITLOOP, ['approve', pending.id], s.cli);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`approved ${pending.id}`);

    await codexFinished(s);
    expect(readFileSync(join(s.work, 'approved.txt'), 'utf8')).toBe('approved content');
    expect(only(s.model.toolOutputs())).toContain('Successfully wrote to');
  });

  it('`hitloop reject ID --reason`: nothing is written, the model reads NOT executed and the reason', async () => {
    const s = await codexScenario({ turns: writeTurns('rejected.txt', 'should not exist') });
    const pending = await onePending(s);
    const r = await hitloop(HITLOOP, ['reject', pending.id, '--reason', 'wrong folder'], s.cli);
    expect(r.code, r.stderr).toBe(0);

    await codexFinished(s);
    expect(existsSync(join(s.work, 'rejected.txt'))).toBe(false);
    // `proxy -- COMMAND` names the server after the command's package.
    expect(only(s.model.toolOutputs())).toMatch(
      /Tool 'server-filesystem\/write_file' was NOT executed: rejected by cli:\S+\. Reason: wrong folder\./,
    );
  });

  it('`hitloop approve ID --args`: the edited call runs, and the model is told it was edited and what ran', async () => {
    const s = await codexScenario({
      turns: writeTurns('edited.txt', 'the model wrote this'),
      record: true,
    });
    const pending = await onePending(s);
    const edited = { path: join(s.work, 'edited.txt'), content: 'a reviewer wrote this' };
    const r = await hitloop(
      HITLOOP,
      ['approve', pending.id, '--args', JSON.stringify(edited)],
      s.cli,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('with edited arguments');

    await codexFinished(s);
    expect(readFileSync(join(s.work, 'edited.txt'), 'utf8')).toBe('a reviewer wrote this');
    // What hitloop answered Codex: the server's result plus a note. Without
    // the note the model would believe its own arguments ran.
    const messages = readRecording(s.recording!);
    const call = only(messages.filter((m) => m.message.method === 'tools/call'));
    const answer = only(
      messages.filter((m) => m.dir === 'server->client' && m.message.id === call.message.id),
    );
    expect(JSON.stringify(answer.message.result)).toContain("edited this call's arguments");
    // What the model received from Codex (which forwards structuredContent
    // instead of content[] when a result has both).
    const output = only(s.model.toolOutputs());
    const asJsonString = (text: string) =>
      output.includes(text) ? text : JSON.stringify(text).slice(1, -1);
    expect(output).toContain('Successfully wrote to');
    expect(output).toMatch(/edited this call's arguments/);
    // As the note's own text, or escaped inside the structured content's JSON.
    expect(output).toContain(asJsonString(JSON.stringify(edited)));
  });

  it('a rules policy (`hitloop proxy --config FILE`) denies: nobody is asked, the model reads why', async () => {
    const s = await codexScenario({
      turns: writeTurns('secret.env', 'TOKEN=1'),
      proxyArgs: (base) => {
        const file = join(base, 'hitloop.json');
        writeFileSync(
          file,
          JSON.stringify({
            policy: {
              type: 'rules',
              default: 'ask',
              rules: [
                {
                  id: 'no-secrets',
                  tool: 'write_file',
                  args: { path: { glob: '**/*.env' } },
                  effect: 'deny',
                  reason: 'secrets are written by people',
                },
              ],
            },
          }),
        );
        return ['--config', file];
      },
    });
    await codexFinished(s);
    expect(existsSync(join(s.work, 'secret.env'))).toBe(false);
    expect(only(s.model.toolOutputs())).toMatch(
      /Tool 'server-filesystem\/write_file' was NOT executed: denied by policy \(rule no-secrets\)\. Reason: secrets are written by people\./,
    );
    expect(await pendingApprovals(HITLOOP, s.cli)).toEqual([]);
  });
});

describe(`Codex ${CODEX_VERSION}: protocol and timeouts, as seen on the wire`, () => {
  it('asks for MCP 2025-06-18, sends _meta.progressToken, and cancels at tool_timeout_sec despite progress', async () => {
    const s = await codexScenario({
      turns: writeTurns('late.txt', 'too late'),
      record: true,
      // Progress every second, so several arrive before Codex's deadline.
      proxyArgs: (base) => {
        const file = join(base, 'hitloop.json');
        writeFileSync(file, JSON.stringify({ approval: { keepAliveMs: 1000 } }));
        return ['--config', file];
      },
      serverExtra: ['tool_timeout_sec = 6'],
    });
    const pending = await onePending(s);
    // Nobody decides: Codex gives up on its own.
    await codexFinished(s);
    const messages = readRecording(s.recording!);
    const init = messages.find((m) => m.message.method === 'initialize')!;
    const initResult = messages.find(
      (m) => m.dir === 'server->client' && m.message.id === init.message.id,
    )!;
    log(
      `Codex initialize: protocolVersion ${String(init.message.params?.protocolVersion)}, hitloop answered ${String(initResult.message.result?.protocolVersion)}`,
    );
    expect(init.message.params?.protocolVersion).toBe('2025-06-18');
    expect(initResult.message.result?.protocolVersion).toBe('2025-06-18');

    const { token, progress, cutAfter } = progressUntilCancel(messages);
    expect(token).toBeDefined();
    log(
      `Codex tools/call _meta.progressToken=${JSON.stringify(token)}; ${progress.length} progress notifications, cancelled after ${cutAfter.toFixed(1)} s (tool_timeout_sec = 6)`,
    );
    expect(progress.length).toBeGreaterThanOrEqual(3);
    // Progress did not move the deadline.
    expect(cutAfter).toBeGreaterThan(5.5);
    expect(cutAfter).toBeLessThan(9);

    expect(existsSync(join(s.work, 'late.txt'))).toBe(false);
    expect(only(s.model.toolOutputs())).toContain('timed out awaiting tools/call after 6s');
    // The cancellation withdrew the request: nothing left to approve, and a late approval runs nothing.
    await waitFor('the request to be withdrawn', async () =>
      (await pendingApprovals(HITLOOP, s.cli)).length === 0 ? true : undefined,
    );
    const late = await hitloop(HITLOOP, ['approve', pending.id], s.cli);
    expect(late.code).not.toBe(0);
    expect(existsSync(join(s.work, 'late.txt'))).toBe(false);
  });

  it('with tool_timeout_sec above the wait, a call approved after 25 s runs', async () => {
    const s = await codexScenario({
      turns: writeTurns('patient.txt', 'worth the wait'),
      serverExtra: ['tool_timeout_sec = 60'],
    });
    const pending = await onePending(s);
    await new Promise((r) => setTimeout(r, 25_000));
    const r = await hitloop(HITLOOP, ['approve', pending.id], s.cli);
    expect(r.code, r.stderr).toBe(0);
    await codexFinished(s);
    expect(readFileSync(join(s.work, 'patient.txt'), 'utf8')).toBe('worth the wait');
    expect(only(s.model.toolOutputs())).toContain('Successfully wrote to');
  });
});

describe(`hitloop wrap on Codex ${CODEX_VERSION}'s config.toml`, () => {
  it('wraps the servers, Codex runs a call through hitloop, --undo restores the file byte for byte', async () => {
    const base = freshDir(userRoot, 'wrap');
    const home = join(base, 'home');
    const work = join(base, 'work');
    const elsewhere = join(base, 'elsewhere');
    for (const dir of [home, work, elsewhere]) mkdirSync(dir, { recursive: true });
    const model = new ScriptedResponsesModel([
      {
        tool: {
          server: 'fs',
          name: 'write_file',
          args: { path: join(work, 'wrapped.txt'), content: 'via wrap' },
        },
      },
      { text: 'finished' },
    ]);
    await model.listen();
    cleanups.push(() => model.close());
    // A user's own config: comments, an unrelated table after the server, and
    // no hitloop anywhere. The proxy's hub goes to ~/.hitloop of this HOME
    // (Codex passes HOME to MCP servers).
    const original = `${codexConfigToml(model.baseUrl, {
      fs: {
        command: 'node',
        args: [FS_SERVER, work],
        extra: ['# the settings Codex needs (see the README)', ...CODEX_SERVER_SETTINGS],
      },
    })}
[tui]
# kept as it is
notifications = false
`;
    const configFile = writeCodexConfig(home, original);
    const cli = { home, hitloopHome: join(home, '.hitloop'), cwd: elsewhere };

    const wrapped = await hitloop(HITLOOP, ['wrap', configFile], cli);
    expect(wrapped.code, wrapped.stdout + wrapped.stderr).toBe(0);
    // The server now starts the installed hitloop, which starts it; Codex
    // passes HITLOOP_HOME through; the other keys stay.
    const after = parseToml(readFileSync(configFile, 'utf8')) as {
      mcp_servers: Record<
        string,
        { command: string; args: string[]; env_vars?: string[]; required?: boolean }
      >;
      tui?: unknown;
    };
    const fs = after.mcp_servers.fs!;
    const argv = [fs.command, ...fs.args];
    expect(argv.slice(argv.indexOf('--'))).toEqual(['--', 'node', FS_SERVER, work]);
    expect(argv).toContain('proxy');
    expect(argv.some((a) => a.startsWith(prefix))).toBe(true);
    expect(fs.env_vars).toContain('HITLOOP_HOME');
    expect(fs.required).toBe(true);
    expect(after.tui).toEqual({ notifications: false });

    const codex = startCodex({ home, cwd: work, prompt: 'Write through the wrapped server.' });
    cleanups.push(async () => {
      codex.kill();
      await codex.exited.catch(() => undefined);
    });
    let exited: ProcessResult | undefined;
    void codex.exited.then((r) => {
      exited = r;
    });
    const pending = await waitFor(
      'a pending approval through the wrapped server',
      async () => {
        const list = await pendingApprovals(HITLOOP, cli);
        return list[0];
      },
      {
        timeoutMs: 60_000,
        intervalMs: 500,
        stopIf: () =>
          exited
            ? `codex exited (${exited.code}) first; problems: ${model.problems.join('; ')}\n${codex.output()}`
            : undefined,
      },
    );
    expect(pending.tool).toBe('write_file');
    const approved = await hitloop(HITLOOP, ['approve', pending.id], cli);
    expect(approved.code, approved.stderr).toBe(0);
    const result = await codex.exited;
    expect(result.code, codex.output()).toBe(0);
    expect(model.problems).toEqual([]);
    expect(readFileSync(join(work, 'wrapped.txt'), 'utf8')).toBe('via wrap');
    expect(only(model.toolOutputs())).toContain('Successfully wrote to');

    const undone = await hitloop(HITLOOP, ['wrap', '--undo', configFile], cli);
    expect(undone.code, undone.stdout + undone.stderr).toBe(0);
    expect(
      readFileSync(configFile, 'utf8'),
      `hitloop wrap --undo printed:\n${undone.stdout}${undone.stderr}`,
    ).toBe(original);
  });
});
