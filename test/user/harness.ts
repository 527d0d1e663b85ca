import { type ChildProcess, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

/** The checkout. Only MCP servers used as upstreams come from its node_modules. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The real filesystem MCP server, from the checkout's dev dependencies. */
export const FS_SERVER = join(
  ROOT,
  'node_modules/@modelcontextprotocol/server-filesystem/dist/index.js',
);

/** A stdio recorder put in front of hitloop to see what the client sends (see the file). */
export const MCP_RECORDER = join(ROOT, 'test/user/fixtures/mcp-recorder.mjs');

const AGENTS_DIR =
  process.env.HITLOOP_AGENTS_DIR ??
  join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'hitloop/agents');

export const CODEX_VERSION = '0.171.0';
/** Installed by scripts/install-agent-clis.sh. */
export const CODEX =
  process.env.HITLOOP_TEST_CODEX ?? join(AGENTS_DIR, `codex-${CODEX_VERSION}/bin/codex`);
export const CLAUDE_DIR = join(AGENTS_DIR, 'claude-code-2.1');
export const CLAUDE = process.env.HITLOOP_TEST_CLAUDE_BIN ?? join(CLAUDE_DIR, 'bin/claude');

/**
 * The machine's npm cache, shared with the runs under an empty HOME: it holds
 * registry data only (no configuration) and saves minutes of downloads.
 */
export const SHARED_NPM_CACHE = process.env.npm_config_cache || join(homedir(), '.npm');

/** A TCP port free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export function log(message: string): void {
  process.stderr.write(`[user ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/**
 * The environment a user's shell would give a child: no npm_* variables from
 * `npm run`, no hitloop, model-provider or Codex settings of whoever runs the
 * suite (a real API key must never reach a test, and a real ~/.codex must
 * never be read), then `overrides`.
 */
export function cleanEnv(overrides: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(npm_|HITLOOP_|OPENAI_|ANTHROPIC_|CODEX_|CLAUDE_|VITEST|NODE_OPTIONS$)/i.test(key))
      continue;
    env[key] = value;
  }
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

/** A fresh folder under `parent`. */
export function freshDir(parent: string, prefix: string): string {
  mkdirSync(parent, { recursive: true });
  return mkdtempSync(join(parent, `${prefix}-`));
}

export interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** A child process whose output is collected; `exited` settles when it ends. */
export interface Running {
  child: ChildProcess;
  exited: Promise<ProcessResult>;
  output(): string;
  kill(): void;
}

export function start(
  command: string,
  args: string[],
  options: {
    cwd: string;
    env: NodeJS.ProcessEnv;
    timeoutMs?: number;
    /** Written to stdin, which is then closed; else stdin is closed at once. */
    stdin?: string;
    /** Leave stdin open for the test to write to (a terminal prompt). */
    keepStdin?: boolean;
  },
): Running {
  const t0 = Date.now();
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env,
    stdio: [options.stdin === undefined && !options.keepStdin ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  if (options.stdin !== undefined) child.stdin?.end(options.stdin);
  const timer = options.timeoutMs
    ? setTimeout(() => child.kill('SIGKILL'), options.timeoutMs)
    : undefined;
  const exited = new Promise<ProcessResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - t0 });
    });
  });
  return {
    child,
    exited,
    output: () => `--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    },
  };
}

export function run(
  command: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs?: number; stdin?: string },
): Promise<ProcessResult> {
  return start(command, args, { timeoutMs: 60_000, ...options }).exited;
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  options: { timeoutMs?: number; intervalMs?: number; stopIf?: () => string | undefined } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    const stop = options.stopIf?.();
    if (stop) throw new Error(`gave up waiting for ${what}: ${stop}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 300));
  }
}

// --- the installed hitloop -------------------------------------------------

/** One pending call as `hitloop approvals --json` prints it (the fields tests read). */
export interface Pending {
  id: string;
  tool: string;
  server?: string;
  args: Record<string, unknown>;
  argsHash: string;
  status: string;
  client?: { name?: string; version?: string };
}

/** Runs the installed CLI with HITLOOP_HOME set, from an unrelated folder. */
export function hitloop(
  bin: string,
  args: string[],
  env: { home: string; hitloopHome: string; cwd: string },
): Promise<ProcessResult> {
  return run(bin, args, {
    cwd: env.cwd,
    env: cleanEnv({ HOME: env.home, HITLOOP_HOME: env.hitloopHome }),
  });
}

export async function pendingApprovals(
  bin: string,
  env: { home: string; hitloopHome: string; cwd: string },
): Promise<Pending[]> {
  const r = await hitloop(bin, ['approvals', '--json'], env);
  if (r.code !== 0) throw new Error(`hitloop approvals --json exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Pending[];
}

/** An agent CLI run that asks hitloop: the process, its scripted model, where `hitloop` runs. */
export interface AgentRun {
  /** For messages: `codex`, `claude`. */
  name: string;
  run: Running;
  model: { problems: string[] };
  cli: { home: string; hitloopHome: string; cwd: string };
}

/**
 * The one pending call of an agent run, once the proxy has put it in its
 * hub; gives up at once, with the agent's output, if the agent exits first.
 */
export async function onePendingOf(bin: string, agent: AgentRun): Promise<Pending> {
  let exited: ProcessResult | undefined;
  void agent.run.exited.then((r) => {
    exited = r;
  });
  const list = await waitFor(
    `a pending approval from the ${agent.name} run`,
    async () => {
      const pending = await pendingApprovals(bin, agent.cli);
      return pending.length > 0 ? pending : undefined;
    },
    {
      timeoutMs: 60_000,
      intervalMs: 500,
      stopIf: () =>
        exited
          ? `${agent.name} exited (${exited.code}) first; problems: ${agent.model.problems.join('; ')}\n${agent.run.output()}`
          : undefined,
    },
  );
  expect(list).toHaveLength(1);
  return list[0]!;
}

/** Waits for the agent to finish its turn: exit 0 with the model's final text, no protocol surprises. */
export async function agentFinished(agent: AgentRun): Promise<ProcessResult> {
  const result = await agent.run.exited;
  expect(result.code, agent.run.output()).toBe(0);
  expect(result.stdout).toContain('finished');
  expect(agent.model.problems).toEqual([]);
  return result;
}

/** The single item of a list, asserting there is exactly one. */
export function only<T>(items: T[]): T {
  expect(items).toHaveLength(1);
  return items[0]!;
}

/** The hubs announced in `$HITLOOP_HOME/hubs/` (what the CLI and VS Code discover). */
export function discoveredHubs(hitloopHome: string): { url: string; token: string }[] {
  const dir = join(hitloopHome, 'hubs');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as { url: string; token: string });
}

// --- the scripted model: OpenAI Responses API over SSE ----------------------

/**
 * One model turn: call an MCP tool (by its server's name in the client's
 * config and the tool's name), or answer with text and end the turn.
 */
export type ModelTurn =
  | { tool: { server: string; name: string; args: Record<string, unknown> } }
  | { text: string };

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: Record<string, unknown>;
}

interface ResponsesInputItem {
  type?: string;
  call_id?: string;
  output?: string | { type?: string; text?: string }[];
}

interface ResponsesTool {
  type?: string;
  name?: string;
  tools?: { name?: string }[];
}

/**
 * Reads a request to a scripted model and records it (a body that is not
 * JSON is recorded as `{}` and noted in `problems`), for both model APIs.
 */
function recordRequest(
  req: IncomingMessage,
  requests: RecordedRequest[],
  problems: string[],
): Promise<RecordedRequest> {
  return new Promise((resolve) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      raw += chunk;
    });
    req.on('end', () => {
      let body: Record<string, unknown> = {};
      try {
        body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
      } catch {
        problems.push(`${req.method} ${req.url}: body is not JSON`);
      }
      const recorded = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body,
      };
      requests.push(recorded);
      resolve(recorded);
    });
  });
}

/**
 * An HTTP server on a free loopback port for a scripted model; subclasses
 * answer requests in `handle` and say where the client points in `baseUrl`.
 */
abstract class LoopbackModelServer {
  readonly requests: RecordedRequest[] = [];
  /** Protocol surprises (a tool the script calls was not offered, ...), for the test to assert empty. */
  readonly problems: string[] = [];
  private server: Server | undefined;
  protected port = 0;

  abstract get baseUrl(): string;
  protected abstract handle(req: IncomingMessage, res: ServerResponse): void;

  async listen(): Promise<string> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this.baseUrl;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}

/**
 * A model that follows a script, served as the OpenAI Responses API streamed
 * over SSE (`POST /v1/responses`), enough for Codex. Each request gets the
 * next turn; once the script is used up it answers "done". Every request body
 * is recorded, so a test can read the exact tool output the model received.
 */
export class ScriptedResponsesModel extends LoopbackModelServer {
  constructor(private readonly turns: ModelTurn[]) {
    super();
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}/v1`;
  }

  /** Requests to /responses (the model turns Codex asked for). */
  get turnRequests(): RecordedRequest[] {
    return this.requests.filter((r) => r.path.endsWith('/responses'));
  }

  /**
   * The tool outputs the model has received, oldest first, each as one text
   * (Codex sends a string or a list of `input_text` parts).
   */
  toolOutputs(): string[] {
    const last = this.turnRequests.at(-1);
    const input = (last?.body.input ?? []) as ResponsesInputItem[];
    return input
      .filter((i) => i.type === 'function_call_output')
      .map((i) =>
        typeof i.output === 'string'
          ? i.output
          : (i.output ?? []).map((p) => p.text ?? '').join('\n'),
      );
  }

  /** The tools offered in a request, as `namespace/name` (or `name` outside a namespace). */
  offeredTools(request: RecordedRequest): string[] {
    const tools = (request.body.tools ?? []) as ResponsesTool[];
    return tools.flatMap((t) =>
      t.type === 'namespace'
        ? (t.tools ?? []).map((inner) => `${t.name}/${inner.name}`)
        : [String(t.name ?? t.type)],
    );
  }

  protected handle(req: IncomingMessage, res: ServerResponse): void {
    void recordRequest(req, this.requests, this.problems).then((recorded) => {
      if (req.method !== 'POST' || !req.url?.endsWith('/responses')) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: `not scripted: ${req.method} ${req.url}` } }));
        return;
      }
      this.respond(recorded, res);
    });
  }

  private respond(request: RecordedRequest, res: ServerResponse): void {
    const n = this.turnRequests.length;
    const turn = this.turns.shift() ?? { text: 'done' };
    const id = `resp_${n}`;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const event = (type: string, data: Record<string, unknown>) =>
      res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
    event('response.created', { response: { id } });
    if ('tool' in turn) {
      // Codex 0.171 offers each MCP server's tools as one namespace,
      // `mcp__<server>`, and expects the call to name both.
      const namespace = `mcp__${turn.tool.server}`;
      const offered = this.offeredTools(request);
      if (!offered.includes(`${namespace}/${turn.tool.name}`)) {
        this.problems.push(
          `turn ${n}: ${namespace}/${turn.tool.name} was not offered; offered: ${offered.join(', ')}`,
        );
      }
      event('response.output_item.done', {
        item: {
          type: 'function_call',
          id: `fc_${n}`,
          call_id: `call_${n}`,
          namespace,
          name: turn.tool.name,
          arguments: JSON.stringify(turn.tool.args),
        },
      });
    } else {
      event('response.output_item.done', {
        item: {
          type: 'message',
          role: 'assistant',
          id: `msg_${n}`,
          content: [{ type: 'output_text', text: turn.text }],
        },
      });
    }
    event('response.completed', {
      response: {
        id,
        usage: { input_tokens: 1, output_tokens: 1, total_tokens: 2 },
      },
    });
    res.end();
  }
}

// --- Codex -------------------------------------------------------------------

/** A TOML basic string (JSON's escapes are valid TOML). */
export function tomlString(value: string): string {
  return JSON.stringify(value);
}

export function tomlArray(values: string[]): string {
  return `[${values.map(tomlString).join(', ')}]`;
}

/** One `[mcp_servers.NAME]` table; `extra` lines are written as given (already TOML). */
export interface CodexMcpServer {
  command: string;
  args: string[];
  envVars?: string[];
  extra?: string[];
}

/**
 * `$HOME/.codex/config.toml` for a run against the scripted model. The
 * `fake` provider is a custom `model_providers` entry speaking the Responses
 * API; its key comes from FAKE_MODEL_API_KEY (any value).
 */
export function codexConfigToml(
  modelBaseUrl: string,
  servers: Record<string, CodexMcpServer>,
): string {
  const lines = [
    '# written by the hitloop user-side suite',
    'model = "scripted"',
    'model_provider = "fake"',
    // No network but the loopback model here: no update check.
    'check_for_update_on_startup = false',
    '',
    '[model_providers.fake]',
    'name = "scripted model"',
    `base_url = ${tomlString(modelBaseUrl)}`,
    'wire_api = "responses"',
    'env_key = "FAKE_MODEL_API_KEY"',
  ];
  for (const [name, s] of Object.entries(servers)) {
    lines.push(
      '',
      `[mcp_servers.${name}]`,
      `command = ${tomlString(s.command)}`,
      `args = ${tomlArray(s.args)}`,
    );
    if (s.envVars) lines.push(`env_vars = ${tomlArray(s.envVars)}`);
    lines.push(...(s.extra ?? []));
  }
  return `${lines.join('\n')}\n`;
}

/**
 * What every hitloop server entry needs in Codex 0.171 (each observed; see
 * README "Agent clients"):
 * - `required = true`: otherwise `codex exec` does not wait for the server
 *   before its first model request; hitloop listed its tools in time without
 *   it (5/5 runs), but with under 0.1 s to spare (codex.user.ts);
 * - `startup_timeout_sec`: a margin, not a need seen so far: hitloop answers
 *   initialize once its upstream server is up, which took up to 3 s here on
 *   a machine busy with other builds;
 * - `default_tools_approval_mode = "approve"`: Codex asks itself before
 *   destructive MCP tools, and `codex exec` (approval "never") then fails the
 *   call with "MCP tool call requires approval, but approval policy is never";
 *   hitloop is the one asking.
 */
export const CODEX_SERVER_SETTINGS = [
  'required = true',
  'startup_timeout_sec = 60',
  'default_tools_approval_mode = "approve"',
];

export function writeCodexConfig(home: string, toml: string): string {
  const dir = join(home, '.codex');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'config.toml');
  writeFileSync(file, toml);
  return file;
}

/**
 * `codex exec` with the prompt, non-interactively: no git repository needed,
 * unknown config keys are errors (a typo in the config above must fail, not
 * be ignored), stdin closed (else it waits for more prompt).
 */
export function startCodex(options: {
  home: string;
  cwd: string;
  prompt: string;
  env?: Record<string, string>;
  timeoutMs?: number;
}): Running {
  return start(
    CODEX,
    ['exec', '--skip-git-repo-check', '--strict-config', '--color', 'never', options.prompt],
    {
      cwd: options.cwd,
      env: cleanEnv({ HOME: options.home, FAKE_MODEL_API_KEY: 'not-a-real-key', ...options.env }),
      timeoutMs: options.timeoutMs ?? 110_000,
    },
  );
}

// --- the MCP recorder's log ---------------------------------------------------

export interface RecordedMessage {
  at: number;
  dir: 'client->server' | 'server->client';
  message: {
    id?: number | string;
    method?: string;
    params?: Record<string, unknown>;
    result?: Record<string, unknown>;
  };
}

/** The JSON-RPC messages the recorder saw, in order. */
export function readRecording(file: string): RecordedMessage[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as RecordedMessage);
}

/**
 * The one `tools/call` a client made and cancelled, as the recorder saw it:
 * its progress token, the progress notifications sent for it before the
 * cancel, and how many seconds after the call the client cancelled.
 */
export function progressUntilCancel(messages: RecordedMessage[]): {
  token: unknown;
  progress: RecordedMessage[];
  cutAfter: number;
} {
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
  return { token, progress, cutAfter: (cancel.at - call.at) / 1000 };
}

// --- the scripted model: Anthropic Messages API over SSE ---------------------

interface MessagesContentBlock {
  type?: string;
  tool_use_id?: string;
  content?: string | { type?: string; text?: string }[];
  is_error?: boolean;
}

/**
 * A Claude Code turn: a ModelTurn, or a call of one of Claude Code's own
 * tools (Bash, Write, ...) by its name.
 */
export type MessagesTurn =
  | ModelTurn
  | { builtin: { name: string; input: Record<string, unknown> } };

/** A tool result as the model received it. */
export interface ToolResult {
  text: string;
  isError: boolean;
}

/**
 * A model that follows a script, served as the Anthropic Messages API
 * streamed over SSE (`POST /v1/messages`), enough for Claude Code. Requests
 * that offer no `mcp__<server>__*` tool (side calls such as titles) get a
 * short text and do not use up the script.
 */
export class ScriptedMessagesModel extends LoopbackModelServer {
  constructor(
    private readonly serverName: string,
    private readonly turns: MessagesTurn[],
  ) {
    super();
  }

  /** ANTHROPIC_BASE_URL (without /v1). */
  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  private isMainTurn(request: RecordedRequest): boolean {
    const tools = (request.body.tools ?? []) as { name?: string }[];
    return tools.some((t) => t.name?.startsWith(`mcp__${this.serverName}__`));
  }

  /** The tool results the model has received, oldest first. */
  toolResults(): ToolResult[] {
    const last = this.requests.filter((r) => this.isMainTurn(r)).at(-1);
    const messages = (last?.body.messages ?? []) as { content?: MessagesContentBlock[] | string }[];
    return messages.flatMap((m) =>
      (Array.isArray(m.content) ? m.content : [])
        .filter((b) => b.type === 'tool_result')
        .map((b) => ({
          text:
            typeof b.content === 'string'
              ? b.content
              : (b.content ?? []).map((p) => p.text ?? '').join('\n'),
          isError: b.is_error === true,
        })),
    );
  }

  protected handle(req: IncomingMessage, res: ServerResponse): void {
    void recordRequest(req, this.requests, this.problems).then((recorded) => {
      const path = (req.url ?? '').split('?')[0];
      if (req.method === 'POST' && path === '/v1/messages/count_tokens') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ input_tokens: 1 }));
        return;
      }
      if (req.method !== 'POST' || path !== '/v1/messages') {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            type: 'error',
            error: { type: 'not_found_error', message: `not scripted: ${req.method} ${req.url}` },
          }),
        );
        return;
      }
      this.respond(recorded, res);
    });
  }

  private respond(request: RecordedRequest, res: ServerResponse): void {
    const n = this.requests.length;
    const turn: MessagesTurn = this.isMainTurn(request)
      ? (this.turns.shift() ?? { text: 'done' })
      : { text: 'ok' };
    const model = String(request.body.model ?? 'scripted');
    const usage = { input_tokens: 1, output_tokens: 1 };
    let block: Record<string, unknown>;
    let delta: Record<string, unknown>;
    let stop: string;
    const call =
      'tool' in turn
        ? { name: `mcp__${turn.tool.server}__${turn.tool.name}`, args: turn.tool.args }
        : 'builtin' in turn
          ? { name: turn.builtin.name, args: turn.builtin.input }
          : undefined;
    const text = 'text' in turn ? turn.text : '';
    if (call) {
      const { name } = call;
      const offered = ((request.body.tools ?? []) as { name?: string }[]).map((t) => t.name);
      if (!offered.includes(name))
        this.problems.push(`request ${n}: ${name} was not offered; offered: ${offered.join(', ')}`);
      block = { type: 'tool_use', id: `toolu_${n}`, name, input: {} };
      delta = { type: 'input_json_delta', partial_json: JSON.stringify(call.args) };
      stop = 'tool_use';
    } else {
      block = { type: 'text', text: '' };
      delta = { type: 'text_delta', text };
      stop = 'end_turn';
    }
    if (request.body.stream !== true) {
      const content = call ? [{ ...block, input: call.args }] : [{ type: 'text', text }];
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          id: `msg_${n}`,
          type: 'message',
          role: 'assistant',
          model,
          content,
          stop_reason: stop,
          stop_sequence: null,
          usage,
        }),
      );
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const event = (type: string, data: Record<string, unknown>) =>
      res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
    event('message_start', {
      message: {
        id: `msg_${n}`,
        type: 'message',
        role: 'assistant',
        model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage,
      },
    });
    event('content_block_start', { index: 0, content_block: block });
    event('content_block_delta', { index: 0, delta });
    event('content_block_stop', { index: 0 });
    event('message_delta', { delta: { stop_reason: stop, stop_sequence: null }, usage });
    event('message_stop', {});
    res.end();
  }
}
