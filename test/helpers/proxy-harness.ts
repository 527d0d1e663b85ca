import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  type ClientCapabilities,
  CreateMessageRequestSchema,
  type CreateMessageResult,
  type ElicitRequest,
  ElicitRequestSchema,
  type ElicitResult,
} from '@modelcontextprotocol/sdk/types.js';
import { discoverHubs } from '../../shared/hub/discovery.js';
import { HubClient } from '../../shared/hub/hub-client.js';
import type { ApprovalRecord } from '../../shared/hub/protocol.js';
import { CLI } from './run-cli.js';
import { makeTempDir } from './temp-dir.js';

// Drives the real `hitloop proxy` (the built CLI) in front of real MCP servers
// from npm, with the MCP SDK's own Client, over stdio and Streamable HTTP.

const root = fileURLToPath(new URL('../../', import.meta.url));

/** Entry points of the real servers installed as dev dependencies. */
export const EVERYTHING = join(
  root,
  'node_modules/@modelcontextprotocol/server-everything/dist/index.js',
);
export const FILESYSTEM = join(
  root,
  'node_modules/@modelcontextprotocol/server-filesystem/dist/index.js',
);

/** What the proxy runs: the built CLI (`npm test` builds first). */
export const PROXY_ENTRY = CLI;

export interface StdioServerEntry {
  command: string;
  args: string[];
  env?: Record<string, string>;
}

/** server-everything over stdio, spawned with this Node (never through npx). */
export function everythingServer(): StdioServerEntry {
  return { command: process.execPath, args: [EVERYTHING, 'stdio'] };
}

/** server-filesystem allowed to touch `dir` only. */
export function filesystemServer(dir: string): StdioServerEntry {
  return { command: process.execPath, args: [FILESYSTEM, dir] };
}

/**
 * A temporary directory, removed by the returned function or else at the end
 * of its test or file ({@link makeTempDir}).
 */
export function tempDir(prefix = 'hitloop-proxy-'): { dir: string; remove: () => void } {
  const dir = makeTempDir(prefix);
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Writes a proxy config file (the `mcpServers` shape plus hitloop's sections). */
export function writeConfig(dir: string, config: Record<string, unknown>, name = 'hitloop.json') {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

/** The environment every proxy in the tests gets: its own HITLOOP_HOME. */
function proxyEnv(home: string, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  return { ...env, HITLOOP_HOME: home, ...extra };
}

/**
 * The simulated human behind the client's elicitation form (and any other
 * elicitation an upstream server sends). Replace `elicit` per test.
 */
export interface ClientHandlers {
  elicit?: (
    request: ElicitRequest['params'],
    extra: { signal: AbortSignal },
  ) => Promise<ElicitResult> | ElicitResult;
  sample?: (request: unknown) => Promise<CreateMessageResult> | CreateMessageResult;
}

export interface ClientOptions {
  capabilities?: ClientCapabilities;
  handlers?: ClientHandlers;
  name?: string;
}

function makeClient(options: ClientOptions): Client {
  const client = new Client(
    { name: options.name ?? 'hitloop-proxy-test', version: '1.0.0' },
    { capabilities: options.capabilities ?? {} },
  );
  const handlers = options.handlers;
  if (handlers && options.capabilities?.elicitation) {
    client.setRequestHandler(ElicitRequestSchema, async (request, extra) => {
      if (!handlers.elicit) return { action: 'decline' };
      return handlers.elicit(request.params, { signal: extra.signal });
    });
  }
  if (handlers && options.capabilities?.sampling) {
    client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
      if (!handlers.sample) throw new Error('no sampling handler in this test');
      return handlers.sample(request.params);
    });
  }
  return client;
}

/** Collects a stream's text and lets a test wait for a pattern in it. */
export class OutputLog {
  text = '';
  private waiters: Array<{ pattern: RegExp; resolve: (m: RegExpMatchArray) => void }> = [];

  attach(stream: Readable | null | undefined): void {
    stream?.on('data', (chunk: Buffer) => {
      this.text += chunk.toString('utf8');
      this.waiters = this.waiters.filter((w) => {
        const m = this.text.match(w.pattern);
        if (m) w.resolve(m);
        return !m;
      });
    });
  }

  /** Resolves with the first match of `pattern` (now or later); rejects after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs = 15_000): Promise<RegExpMatchArray> {
    const m = this.text.match(pattern);
    if (m) return Promise.resolve(m);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`timed out waiting for ${pattern} in:\n${this.text}`));
      }, timeoutMs);
      const done = (match: RegExpMatchArray) => {
        clearTimeout(timer);
        resolve(match);
      };
      this.waiters.push({ pattern, resolve: done });
    });
  }
}

export interface StdioProxy {
  client: Client;
  /** The proxy's process id. */
  pid: number;
  stderr: OutputLog;
  close(): Promise<void>;
}

/** Starts `hitloop proxy --config FILE [extraArgs]` and connects an SDK Client over stdio. */
export async function startStdioProxy(
  configFile: string,
  home: string,
  options: ClientOptions & {
    extraArgs?: string[];
    env?: Record<string, string>;
    /** Runs the proxy through this command, e.g. `['/bin/sh', '-c', 'ulimit -f 100; exec "$0" "$@"']`. */
    launcher?: string[];
  } = {},
): Promise<StdioProxy> {
  const proxyArgs = [PROXY_ENTRY, 'proxy', '--config', configFile, ...(options.extraArgs ?? [])];
  const launcher = options.launcher ?? [];
  const transport = new StdioClientTransport({
    command: launcher[0] ?? process.execPath,
    args: launcher.length ? [...launcher.slice(1), process.execPath, ...proxyArgs] : proxyArgs,
    env: proxyEnv(home, options.env),
    stderr: 'pipe',
  });
  const stderr = new OutputLog();
  stderr.attach(transport.stderr as Readable | null);
  const client = makeClient(options);
  try {
    await client.connect(transport);
  } catch (err) {
    throw new Error(`could not connect to the proxy: ${String(err)}\nstderr:\n${stderr.text}`);
  }
  return {
    client,
    pid: transport.pid!,
    stderr,
    close: () => client.close(),
  };
}

export interface HttpProxy {
  url: string;
  process: ChildProcess;
  stderr: OutputLog;
  /** Opens a new MCP session (a new SDK Client) on the proxy. */
  connect(options?: ClientOptions): Promise<Client>;
  close(): Promise<void>;
}

/**
 * Starts `hitloop proxy --config FILE --http 127.0.0.1:0` and waits for the URL
 * it prints (with `?token=` when the proxy made its token).
 */
export async function startHttpProxy(
  configFile: string,
  home: string,
  extraArgs: string[] = [],
): Promise<HttpProxy> {
  const child = spawn(
    process.execPath,
    [PROXY_ENTRY, 'proxy', '--config', configFile, '--http', '127.0.0.1:0', ...extraArgs],
    { env: proxyEnv(home), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const stderr = new OutputLog();
  stderr.attach(child.stderr);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const match = await Promise.race([
    stderr.waitFor(/serving MCP over Streamable HTTP at (http:\/\/\S+)/, 20_000),
    exited.then(() => {
      throw new Error(`the proxy exited before serving:\n${stderr.text}`);
    }),
  ]);
  const url = match[1]!;
  const clients: Client[] = [];
  return {
    url,
    process: child,
    stderr,
    async connect(options: ClientOptions = {}) {
      const client = makeClient(options);
      await client.connect(new StreamableHTTPClientTransport(new URL(url)));
      clients.push(client);
      return client;
    },
    async close() {
      await Promise.allSettled(clients.map((c) => c.close()));
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}

/** Connects an SDK Client straight to a stdio server, for comparison with the proxy. */
export async function connectDirect(
  server: StdioServerEntry,
  options: ClientOptions = {},
): Promise<Client> {
  const client = makeClient(options);
  await client.connect(
    new StdioClientTransport({
      command: server.command,
      args: server.args,
      env: { ...proxyEnv(tmpdir()), ...server.env },
      stderr: 'ignore',
    }),
  );
  return client;
}

/**
 * A proxy driven with raw JSON-RPC lines on its stdin, for what the SDK
 * client never sends (malformed JSON, oversized lines, late answers).
 */
export interface RawProxy {
  child: ChildProcess;
  stderr: OutputLog;
  /** Writes text to the proxy's stdin as is. */
  write(text: string): void;
  /** Writes one message as a line. */
  send(message: Record<string, unknown>): void;
  /** The next message the proxy writes on stdout that matches `filter`. */
  next(filter?: (m: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<RawMessage>;
  /** Every stdout line so far, parsed. */
  received: RawMessage[];
  /** Ends stdin (the client leaves) and resolves with the exit code once the proxy exits. */
  close(): Promise<number | null>;
}

export type RawMessage = Record<string, unknown> & {
  id?: string | number | null;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { code: number; message: string };
};

/**
 * Starts `hitloop proxy [--config FILE] [extraArgs]` for raw JSON-RPC on its
 * stdio; `configFile` undefined for a proxy configured by its arguments alone
 * (`-- COMMAND ARGS`). `env` is added to the proxy's environment.
 */
export function startRawProxy(
  configFile: string | undefined,
  home: string,
  extraArgs: string[] = [],
  env: Record<string, string> = {},
): RawProxy {
  const child = spawn(
    process.execPath,
    [PROXY_ENTRY, 'proxy', ...(configFile ? ['--config', configFile] : []), ...extraArgs],
    { env: proxyEnv(home, env), stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const stderr = new OutputLog();
  stderr.attach(child.stderr);
  const received: RawMessage[] = [];
  let waiters: Array<{ filter: (m: RawMessage) => boolean; resolve: (m: RawMessage) => void }> = [];
  let consumed = 0;
  const lines = createInterface({ input: child.stdout! });
  lines.on('line', (line) => {
    let message: RawMessage;
    try {
      message = JSON.parse(line) as RawMessage;
    } catch {
      message = { unparsable: line };
    }
    received.push(message);
    const waiter = waiters.find((w) => w.filter(message));
    if (waiter) {
      waiters = waiters.filter((w) => w !== waiter);
      waiter.resolve(message);
    }
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  return {
    child,
    stderr,
    received,
    write: (text) => child.stdin!.write(text),
    send: (message) => child.stdin!.write(`${JSON.stringify(message)}\n`),
    next(filter = () => true, timeoutMs = 15_000) {
      // Messages that arrived before the call count too, in order, once each.
      for (let i = consumed; i < received.length; i++) {
        if (filter(received[i]!)) {
          const m = received[i]!;
          received.splice(i, 1);
          return Promise.resolve(m);
        }
      }
      consumed = received.length;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters = waiters.filter((w) => w.resolve !== done);
          reject(
            new Error(
              `no matching message within ${timeoutMs} ms; got ${JSON.stringify(received)}\nstderr:\n${stderr.text}`,
            ),
          );
        }, timeoutMs);
        const done = (m: RawMessage) => {
          clearTimeout(timer);
          received.splice(received.indexOf(m), 1);
          resolve(m);
        };
        waiters.push({ filter, resolve: done });
      });
    },
    async close() {
      child.stdin!.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 8000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** The standard initialize request, as raw JSON-RPC. */
export function initializeRequest(id: number | string, capabilities: Record<string, unknown> = {}) {
  return {
    jsonrpc: '2.0',
    id,
    method: 'initialize',
    params: {
      protocolVersion: '2025-06-18',
      capabilities,
      clientInfo: { name: 'raw-test-client', version: '1.0.0' },
    },
  };
}

/** Child processes of `pid` (from /proc), with their command lines. */
export function childProcesses(pid: number): Array<{ pid: number; cmdline: string }> {
  const out: Array<{ pid: number; cmdline: string }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Field 4 is the parent pid; the command name (field 2) may contain spaces.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== pid) continue;
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ');
      out.push({ pid: Number(entry), cmdline });
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}

/** Polls `check` until it returns a truthy value (for state with no event to await). */
export async function waitUntil<T>(
  check: () => T | Promise<T>,
  what: string,
  timeoutMs = 15_000,
  intervalMs = 50,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** A promise with its resolver, for handing events between a handler and a test. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** The text of a tool result's first content item. */
export function resultText(result: unknown): string {
  const content = (result as { content?: Array<{ type: string; text?: string }> }).content ?? [];
  return content
    .filter((c) => c.type === 'text')
    .map((c) => c.text)
    .join('\n');
}

/** The approval hub a proxy with HITLOOP_HOME `home` announced, once it has. */
export async function announcedHub(home: string): Promise<HubClient> {
  const hubs = await waitUntil(
    () => (discoverHubs(home).length ? discoverHubs(home) : undefined),
    'the hub to announce itself',
  );
  return new HubClient(hubs[0]!);
}

/** The oldest request pending on `hub`, once there is one. */
export async function nextPending(hub: HubClient): Promise<ApprovalRecord> {
  const [pending] = await waitUntil(async () => {
    const list = await hub.listPending();
    return list.length ? list : undefined;
  }, 'a pending request on the hub');
  return pending!;
}

/**
 * The approval hub a proxy with HITLOOP_HOME `home` announced, once it has
 * a pending request, and that request.
 */
export async function pendingOnHub(
  home: string,
): Promise<{ hub: HubClient; pending: ApprovalRecord }> {
  const hub = await announcedHub(home);
  return { hub, pending: await nextPending(hub) };
}
