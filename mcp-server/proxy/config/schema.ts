// biome-ignore-all lint/suspicious/noTemplateCurlyInString: descriptions quote the config's ${VAR} syntax
import { z } from 'zod';
import { PolicyConfig } from '../../../shared/policies/config.js';
import { TOOL_GLOB_SYNTAX } from '../../../shared/policies/glob.js';
import { RulesDocument, ToolGlob } from '../../../shared/policies/rules-schema.js';
import { splitHostPort } from '../host-port.js';

// The config file as a user writes it. These zod schemas are the single
// source of truth for validation (./load.ts) and for the published JSON Schema
// (./json-schema.ts), so every `describe` here is what an editor shows.
//
// Server entries are loose: VS Code, Claude Desktop, Cursor, Cline and Claude
// Code all put their own keys there (`autoApprove`, `disabled`, `dev`, ...).
// hitloop's own sections are strict, so a typo is an error, not a silent no-op.

/** Server names: they become tool-name prefixes, so only safe characters. */
export const SERVER_NAME = /^[A-Za-z0-9_-]+$/;

/** The largest delay Node timers accept (about 24.8 days); larger values fire at once. */
export const MAX_TIMER_MS = 2_147_483_647;

/** The most HTTP sessions `proxy.httpMaxSessions` may allow (each runs its own servers). */
export const MAX_HTTP_SESSIONS = 10_000;

const ms = (what: string) =>
  z
    .int()
    .positive()
    .max(MAX_TIMER_MS, `${what} must be at most ${MAX_TIMER_MS} ms (about 24 days)`);

/** Per-server hitloop options, under a `hitloop` key inside a server entry. */
export const ServerHitloopOptions = z
  .strictObject({
    trusted: z
      .boolean()
      .default(false)
      .describe(
        "Trust this server's tool annotations (readOnlyHint, destructiveHint) to set a call's risk. Leave false for servers you did not write or vet: a hostile server can label a destructive tool read-only.",
      ),
  })
  .describe('hitloop options for this server.');

const disabled = z
  .boolean()
  .describe('true: hitloop skips this server (Cline and Cursor use the same key).');

/** A server hitloop starts as a child process and talks to over stdin/stdout. */
export const StdioServerEntry = z
  .looseObject({
    type: z.literal('stdio').optional().describe('"stdio" (the default when `command` is given).'),
    command: z
      .string()
      .min(1, 'must not be empty')
      .describe('The program to run, e.g. "npx" or "/usr/bin/python3".'),
    args: z
      .array(z.union([z.string(), z.number()], { error: 'expected a string' }))
      .optional()
      .describe('Arguments. Variables such as ${env:HOME} and ${workspaceFolder} are expanded.'),
    env: z
      .record(
        z.string(),
        z.union([z.string(), z.number(), z.null()], {
          error: 'expected a string (or null to leave the variable out)',
        }),
      )
      .optional()
      .describe(
        "Environment variables added to hitloop's own environment for this server; null leaves a variable out.",
      ),
    envFile: z
      .string()
      .min(1)
      .optional()
      .describe(
        "A dotenv file loaded before `env`, relative to the config file, read by Node's util.parseEnv: KEY=value lines, # comments, optional export, quoted values may span lines.",
      ),
    cwd: z
      .string()
      .min(1)
      .optional()
      .describe('Working directory of the server; relative to the config file.'),
    disabled: disabled.optional(),
    hitloop: ServerHitloopOptions.optional(),
  })
  .describe('A local MCP server started as a child process (stdio transport).');
export type StdioServerEntry = z.input<typeof StdioServerEntry>;

/** Transport names other tools write for a remote server. */
export const REMOTE_TYPES = ['http', 'streamable-http', 'streamableHttp', 'sse'] as const;

/** A server hitloop reaches over HTTP. */
export const RemoteServerEntry = z
  .looseObject({
    type: z
      .enum(REMOTE_TYPES)
      .optional()
      .describe(
        '"http" (Streamable HTTP, the default when `url` is given; "streamable-http" and "streamableHttp" mean the same) or "sse" (the legacy HTTP+SSE transport).',
      ),
    url: z
      .string()
      .min(1, 'must not be empty')
      .describe('The MCP endpoint, e.g. "https://example.com/mcp".'),
    headers: z
      .record(z.string(), z.string())
      .optional()
      .describe(
        'HTTP headers sent with every request, e.g. {"Authorization": "Bearer ${env:TOKEN}"}.',
      ),
    disabled: disabled.optional(),
    hitloop: ServerHitloopOptions.optional(),
  })
  .describe('A remote MCP server (Streamable HTTP or legacy SSE).');
export type RemoteServerEntry = z.input<typeof RemoteServerEntry>;

/** One upstream server: local (stdio) or remote (HTTP). */
export const ServerEntry = z
  .union([StdioServerEntry, RemoteServerEntry])
  .describe('An upstream MCP server: "command" for a local one, "url" for a remote one.');

const ServerMap = (shape: string) =>
  z
    .record(z.string().regex(SERVER_NAME), ServerEntry)
    .describe(
      `Upstream MCP servers by name (${shape}). Names become tool prefixes (SERVER__TOOL): letters, digits, _ and -.`,
    );

/** Names of the approval channels. */
export const APPROVAL_BACKENDS = [
  'hub',
  'auto-approve',
  'auto-reject',
  'cli',
  'elicitation',
  'webhook',
] as const;

/** `approval.webhook`: where requests go and how decisions come back. */
export const WebhookConfig = z
  .strictObject({
    url: z
      .string()
      .regex(/^https?:\/\//, 'must be an http:// or https:// URL')
      .describe(
        'Where approval requests are POSTed (signed JSON): a Slack/Telegram bridge, your app.',
      ),
    callbackBaseUrl: z
      .string()
      .regex(/^https?:\/\//, 'must be an http:// or https:// URL')
      .describe(
        'Public base URL decisions are POSTed back to; each request gets `BASE/ID?sig=...`. Callbacks are served under /v1/callbacks/, so: `http://HOST:PORT/v1/callbacks` for `listen` below, or `.../v1/callbacks` of a team hub (`hitloop serve` with the same secret) sharing `approval.store`.',
      ),
    secret: z
      .string()
      .min(16, 'use at least 16 characters (e.g. `openssl rand -base64 32`)')
      .describe(
        'Shared with the receiver: signs requests (X-Hitloop-Signature) and callback URLs. Use ${env:VAR}.',
      ),
    listen: z
      .string()
      .regex(/^(?:\[[^\]]+\]:|[^:[\]]+:)?\d+$/, 'expected HOST:PORT, e.g. 127.0.0.1:8790')
      .refine((v) => splitHostPort(v) !== undefined, 'the port must be 0 to 65535')
      .optional()
      .describe(
        'Serve callbacks in this proxy at HOST:PORT under /v1/callbacks/ (callback URLs carry an HMAC capability).',
      ),
    headers: z
      .record(z.string().min(1), z.string())
      .default({})
      .describe("Extra headers on every request, e.g. the receiver's own Authorization."),
    retry: z
      .strictObject({
        maxAttempts: z.int().min(1).max(100).default(5),
        baseDelayMs: z.number().min(0).default(500),
        maxDelayMs: z.number().min(0).default(30_000),
        jitter: z.number().min(0).max(1).default(0.2),
      })
      .default({ maxAttempts: 5, baseDelayMs: 500, maxDelayMs: 30_000, jitter: 0.2 })
      .describe('Delivery retries: exponential backoff with jitter, capped at maxDelayMs.'),
    circuitBreaker: z
      .strictObject({
        failureThreshold: z.int().min(1).default(5),
        resetTimeoutMs: z.number().min(0).default(30_000),
        halfOpenMaxCalls: z.int().min(1).default(1),
      })
      .default({ failureThreshold: 5, resetTimeoutMs: 30_000, halfOpenMaxCalls: 1 })
      .describe(
        'After failureThreshold failed deliveries in a row, requests fail closed (system:circuit_breaker) until resetTimeoutMs has passed.',
      ),
  })
  .describe('The webhook approval channel (backend "webhook").');

/** The `approval` section. */
export const ApprovalConfig = z
  .strictObject({
    backend: z
      .enum(APPROVAL_BACKENDS)
      .default('hub')
      .describe(
        'Who answers calls the policy marks "ask": "hub" (the approval hub: VS Code sidebar, `hitloop approvals`), "elicitation" (a form in the MCP client, if it supports elicitation), "cli" (a terminal prompt; only with --http), "webhook" (signed HTTP requests, decisions on callback URLs; see approval.webhook), "auto-approve" or "auto-reject".',
      ),
    fallback: z
      .enum(['hub', 'auto-approve', 'auto-reject', 'cli'])
      .default('auto-reject')
      .describe('Used when the backend cannot ask, e.g. the client does not support elicitation.'),
    timeoutMs: ms('timeoutMs')
      .default(600_000)
      .describe(
        'How long a call waits for a decision, in ms (default 10 minutes). A timeout is reported as a timeout, not as a rejection.',
      ),
    toolTimeouts: z
      .record(ToolGlob, ms('a tool timeout'))
      .default({})
      .describe(
        `Per-tool timeouts in ms, keyed by a glob over the exposed tool name, e.g. {"fs__write_*": 120000}. The first matching glob wins. ${TOOL_GLOB_SYNTAX}`,
      ),
    keepAliveMs: z
      .int()
      .min(100)
      .max(MAX_TIMER_MS)
      .default(15_000)
      .describe(
        'While a call waits, send a progress notification this often (ms) so clients that reset their timeout on progress keep waiting.',
      ),
    store: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Where pending approvals live. Default: $HITLOOP_HOME/approvals.db (SQLite, this machine). For a team hub (`hitloop serve`): "postgres://user@host/db" or "redis://host:6379"; use ${env:VAR} for credentials.',
      ),
    instance: z
      .string()
      .regex(/^[A-Za-z0-9_.:@/-]{1,200}$/, 'use 1 to 200 of A-Z a-z 0-9 _ . : @ / -')
      .optional()
      .describe(
        'A stable name for this proxy. After a crash or restart, a proxy with the same instance name takes back its pending approvals, and a decision made meanwhile applies when the agent retries the call. Default: derived from the host and the config.',
      ),
    webhook: WebhookConfig.optional(),
    resumeWindowMs: ms('resumeWindowMs')
      .default(120_000)
      .describe(
        'How long the approvals of a proxy that died stay answerable, waiting for it to restart (ms, default 2 minutes); after that they expire with the reason.',
      ),
  })
  .describe('How calls that need a person are asked.');
export type ApprovalConfig = z.input<typeof ApprovalConfig>;

function isRegExpSource(source: string): boolean {
  try {
    new RegExp(source, 'i');
    return true;
  } catch {
    return false;
  }
}

/** The `telemetry` section. */
export const TelemetryConfig = z
  .strictObject({
    db: z
      .union([z.string().min(1), z.literal(false)], {
        error: 'expected a file path, or false for no telemetry',
      })
      .optional()
      .describe(
        'SQLite file for telemetry (relative to the config file; ${env:...} and ~ expanded), or false for none. Default: $HITLOOP_HOME/telemetry.db (HITLOOP_HOME defaults to ~/.hitloop).',
      ),
    required: z
      .boolean()
      .default(false)
      .describe(
        'true: a call is forwarded only once its record (proposal, decision, execution start) is committed and synced to disk; when that write fails the call is refused and nothing runs. false (default): rows are written in the background, and a crash can lose the last 200 ms of them.',
      ),
    redactKeys: z
      .union(
        [z.boolean(), z.string().min(1).refine(isRegExpSource, 'not a valid regular expression')],
        {
          error: 'expected true, false, or a regular expression such as "token|secret|password"',
        },
      )
      .default(true)
      .describe(
        'Tool argument keys whose values are stored as sha256:<hex> in telemetry and in settled records of the local approvals.db: true (default) for keys with a word such as token, secret, password, api_key, credential, authorization or cookie; a regular expression (case-insensitive) tested against each key instead; false to store everything in clear. Live approval cards always show the real values.',
      ),
  })
  .describe('Where every action, verdict, approval and execution is recorded.');
export type TelemetryConfig = z.input<typeof TelemetryConfig>;

/** The `proxy` section. */
export const ProxyConfig = z
  .strictObject({
    prefixNames: z
      .boolean()
      .optional()
      .describe(
        'Expose tools and prompts as SERVER + separator + NAME. Default: true when the config has more than one server.',
      ),
    separator: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,8}$/, 'use 1 to 8 of the characters A-Z a-z 0-9 _ . -')
      .default('__')
      .describe(
        'Between the server name and the tool name (default "__"). Server names may not contain it.',
      ),
    protectHitloopFiles: z
      .boolean()
      .default(true)
      .describe(
        "Deny any call whose arguments name hitloop's own files (HITLOOP_HOME with its hub tokens, the approval store, telemetry, this config), so an agent cannot read a token and approve itself. Default true; false turns the protection off.",
      ),
    protectedPaths: z
      .array(z.string().min(1))
      .default([])
      .describe(
        'More files or folders protected the same way (e.g. a `hitloop serve --token-file`); relative to the config file, ~ and ${env:...} expanded.',
      ),
    permissionPrompt: z
      .boolean()
      .default(false)
      .describe(
        "Also expose the tool `approve` for Claude Code's --permission-prompt-tool (e.g. mcp__hitloop__approve).",
      ),
    nameInClient: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'use 1 to 64 of the characters A-Z a-z 0-9 _ . -')
      .default('hitloop')
      .describe(
        "The name the MCP client knows this proxy by (its key in the client's MCP config; default \"hitloop\"). With permissionPrompt, Claude Code's permission prompts for this proxy's own tools (mcp__<nameInClient>__<tool>) pass without a second question: the proxy asks about those calls itself when they arrive.",
      ),
    logLevel: z
      .enum(['error', 'warn', 'info', 'debug'])
      .default('info')
      .describe('What the proxy logs to stderr (stdout carries only the protocol).'),
    maxMessageBytes: z
      .int()
      .min(1024)
      .max(1024 * 1024 * 1024)
      .default(16 * 1024 * 1024)
      .describe(
        'The largest JSON-RPC message accepted from the client or a server, in bytes (default 16 MiB).',
      ),
    startupTimeoutMs: ms('startupTimeoutMs')
      .default(20_000)
      .describe(
        'How long a server may take to start (connect, initialize, list its tools) before it is reported as failed and restarted, in ms (default 20 s).',
      ),
    initializeWaitMs: z
      .int()
      .min(0)
      .max(MAX_TIMER_MS)
      .optional()
      .describe(
        "How long the client's initialize waits for servers still starting before the proxy answers without them, in ms (default: startupTimeoutMs). 0 answers at once: hitloop's own tools (approve) are listed immediately and each server's tools follow with notifications/tools/list_changed, which only clients that re-list on it (Claude Code, VS Code) pick up.",
      ),
    executionTimeoutMs: z
      .int()
      .min(0)
      .max(MAX_TIMER_MS)
      .default(600_000)
      .describe(
        'How long an allowed call may run on its server before the proxy gives up on it, in ms (default 10 minutes; 0: wait forever). The agent then gets a tool error saying the call did not answer in time and may still be running, and the server gets notifications/cancelled. The time waiting for approval does not count.',
      ),
    executionTimeouts: z
      .record(ToolGlob, z.int().min(0).max(MAX_TIMER_MS))
      .default({})
      .describe(
        `Per-tool execution timeouts in ms, keyed by a glob over the exposed tool name, e.g. {"build__*": 3600000}; the first matching glob wins, 0 waits forever. ${TOOL_GLOB_SYNTAX}`,
      ),
    httpMaxSessions: z
      .int()
      .min(1)
      .max(MAX_HTTP_SESSIONS)
      .default(16)
      .describe(
        'With --http: the most MCP sessions served at once (default 16). Each session runs its own upstream server processes; an initialize beyond the limit gets HTTP 503 naming this setting.',
      ),
    httpIdleSessionMs: ms('httpIdleSessionMs')
      .default(300_000)
      .describe(
        'With --http: a session with no request for this long, no open GET (SSE) stream, and no call running or waiting for approval, is closed and its server processes stopped, in ms (default 5 minutes).',
      ),
  })
  .describe('The proxy itself.');
export type ProxyConfig = z.input<typeof ProxyConfig>;

/** The `policy` key: a policy with its `type`, or a bare rules document (`{"rules": [...]}`). */
export const PolicySection = z
  .union([PolicyConfig, RulesDocument])
  .describe(
    'Which calls run, which are refused and which wait for a person. Default: {"type": "rules", "default": "ask"} (every call asks). A bare {"rules": [...]} means type "rules".',
  );

/**
 * A whole config file: VS Code's mcp.json (`servers`), Claude Desktop / Cursor
 * / Claude Code (`mcpServers`), or both, plus hitloop's own sections. Other
 * top-level keys (Claude Desktop's preferences, ...) are allowed and ignored.
 */
export const HitloopConfigFile = z
  .looseObject({
    $schema: z.string().optional().describe('This JSON Schema, for editor completion.'),
    servers: ServerMap('VS Code mcp.json shape').optional(),
    mcpServers: ServerMap('Claude Desktop, Cursor and Claude Code shape').optional(),
    inputs: z
      .array(z.looseObject({}))
      .optional()
      .describe(
        "VS Code's prompted inputs. hitloop cannot prompt: use ${env:NAME} instead of ${input:...}.",
      ),
    policy: PolicySection.optional(),
    approval: ApprovalConfig.optional(),
    telemetry: TelemetryConfig.optional(),
    proxy: ProxyConfig.optional(),
  })
  .describe(
    'hitloop MCP approval proxy config: upstream servers (VS Code "servers" or Claude/Cursor "mcpServers") plus policy, approval, telemetry and proxy settings.',
  );
export type HitloopConfigFile = z.input<typeof HitloopConfigFile>;

/** hitloop's own top-level keys, strict inside. */
export const HITLOOP_SECTIONS = ['policy', 'approval', 'telemetry', 'proxy'] as const;
