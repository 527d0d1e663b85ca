import { randomBytes } from 'node:crypto';
import { type Command, Option } from 'commander';
import { ConfigError } from '../../../shared/errors.js';
import { configFromCommand, loadProxyConfig } from '../../proxy/config/load.js';
import { MAX_HTTP_SESSIONS, MAX_TIMER_MS } from '../../proxy/config/schema.js';
import type { ApprovalBackendName, ResolvedProxyConfig } from '../../proxy/config/types.js';
import { parseHostPort } from '../../proxy/host-port.js';
import { LOG_LEVELS, type LogLevel } from '../../proxy/log.js';
import { discardUnmatched, prespawn } from '../../proxy/transport/prespawn.js';
import type { CliIo } from '../program.js';

interface ProxyOptions {
  config?: string;
  name?: string;
  policy?: string;
  trusted?: boolean;
  upstreamUrl?: string;
  upstreamType?: 'http' | 'sse';
  header: string[];
  http?: string;
  token?: string | false;
  maxSessions?: string;
  allowOrigin: string[];
  approval?: ApprovalBackendName;
  fallback?: Exclude<ApprovalBackendName, 'elicitation' | 'webhook'>;
  timeout?: string;
  permissionPrompt?: boolean;
  nameInClient?: string;
  logLevel?: LogLevel;
  telemetry?: string | false;
  store?: string;
  instance?: string;
}

const BACKENDS: ApprovalBackendName[] = [
  'hub',
  'elicitation',
  'cli',
  'webhook',
  'auto-approve',
  'auto-reject',
];

/** `hitloop proxy`: the MCP approval proxy. */
export function registerProxyCommand(program: Command, _io: CliIo): void {
  program
    .command('proxy')
    .description('run the MCP approval proxy in front of MCP servers')
    .usage('[options] [-- COMMAND [ARGS...]]')
    .option(
      '-c, --config <file>',
      'config file (VS Code mcp.json, Claude/Cursor mcpServers, hitloop keys); with -- COMMAND, only its settings are used',
    )
    .option('-n, --name <name>', 'server name for a single upstream given on the command line')
    .option('-p, --policy <file>', 'policy file for a single upstream given on the command line')
    .option(
      '--trusted',
      "trust the single upstream's tool annotations (readOnlyHint, destructiveHint) for risk",
    )
    .option('--upstream-url <url>', 'a single Streamable HTTP (or SSE) upstream server')
    .addOption(
      new Option('--upstream-type <type>', 'transport of --upstream-url').choices(['http', 'sse']),
    )
    .option(
      '--header <header>',
      'HTTP header for --upstream-url, "Name: value" (repeatable)',
      collect,
      [],
    )
    .option('--http <host:port>', 'serve the client over Streamable HTTP at /mcp instead of stdio')
    .option(
      '--token <token>',
      'token required from HTTP clients (default: $HITLOOP_PROXY_TOKEN, else a new random one, printed in the URL)',
    )
    .option('--no-token', 'serve HTTP without a token: any local user or program can connect')
    .option(
      '--max-sessions <n>',
      'most HTTP sessions (each with its own upstream servers) at once (default 16)',
    )
    .option(
      '--allow-origin <origin>',
      'browser origin allowed besides loopback ones (repeatable)',
      collect,
      [],
    )
    .addOption(new Option('--approval <backend>', 'approval channel').choices(BACKENDS))
    .addOption(
      new Option('--fallback <backend>', 'approval channel when the first cannot ask').choices(
        BACKENDS.filter((b) => b !== 'elicitation' && b !== 'webhook'),
      ),
    )
    .option('--timeout <seconds>', 'approval timeout in seconds (default 600)')
    .option(
      '--store <url>',
      'approval store shared with a team hub: postgres://..., redis://... or a SQLite file (default: $HITLOOP_HOME/approvals.db)',
    )
    .option(
      '--instance <name>',
      'stable name of this proxy: after a restart it takes back its pending approvals',
    )
    .option('--permission-prompt', "also expose Claude Code's permission-prompt tool 'approve'")
    .option(
      '--name-in-client <name>',
      "this proxy's name in the client's MCP config (default hitloop): permission prompts for its own tools pass, as it gates them itself",
    )
    .addOption(new Option('--log-level <level>', 'stderr log level').choices([...LOG_LEVELS]))
    .option('--telemetry <file>', 'SQLite telemetry file')
    .option('--no-telemetry', 'do not record telemetry')
    .allowExcessArguments(true)
    .action(async (opts: ProxyOptions, command: Command) => {
      const rest = command.args;
      const config = resolveConfig(opts, rest);
      const http = opts.http ? parseHostPort(opts.http) : undefined;
      const { token, tokenOrigin } = httpToken(opts.token);
      // In stdio mode there is exactly one session: start its servers now, so
      // they boot while the proxy loads the rest of itself and opens its hub.
      const stdioServers = config.servers.flatMap((s) => (s.type === 'stdio' ? [s] : []));
      // One started from the raw command line that the config does not run goes.
      discardUnmatched(http ? [] : stdioServers);
      if (!http) for (const s of stdioServers) prespawn(s);
      const { runProxy } = await import('../../proxy/run-proxy.js');
      const proxy = await runProxy(config, {
        http: http ? { ...http, token, tokenOrigin, allowedOrigins: opts.allowOrigin } : undefined,
      });
      const stop = async () => {
        await proxy.close();
        process.exit(0);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      await proxy.done;
      await proxy.close();
    });
}

/**
 * The token HTTP clients must present: --token, else $HITLOOP_PROXY_TOKEN,
 * else a new random one (as Jupyter does), unless --no-token turned it off.
 */
function httpToken(option: string | false | undefined): {
  token?: string;
  tokenOrigin: 'generated' | 'given' | 'none';
} {
  if (option === false) return { tokenOrigin: 'none' };
  const given = option ?? process.env.HITLOOP_PROXY_TOKEN?.trim();
  if (given) return { token: given, tokenOrigin: 'given' };
  return { token: randomBytes(24).toString('base64url'), tokenOrigin: 'generated' };
}

function resolveConfig(opts: ProxyOptions, rest: string[]): ResolvedProxyConfig {
  const single = rest.length > 0 || opts.upstreamUrl !== undefined;
  if (!opts.config && !single) {
    throw new ConfigError({
      problem: 'no upstream MCP server given',
      fix: 'pass --config FILE, or: hitloop proxy -- npx -y @modelcontextprotocol/server-filesystem /path',
    });
  }
  // With a single upstream on the command line, --config supplies only the
  // settings (policy, approval, telemetry, proxy); its servers are ignored.
  const config = single
    ? configFromCommand({
        command: rest[0],
        args: rest.slice(1),
        url: opts.upstreamUrl,
        type: opts.upstreamType,
        headers: opts.header.length ? opts.header : undefined,
        name: opts.name,
        trusted: opts.trusted,
        configFile: opts.config,
        policyFile: opts.policy,
      })
    : loadProxyConfig(opts.config!);
  if (!single && opts.policy) {
    throw new ConfigError({
      file: '--policy',
      problem: '--policy applies to a single upstream given on the command line',
      fix: 'put the policy under "policy" in the config file',
    });
  }
  return applyOverrides(config, opts);
}

function applyOverrides(config: ResolvedProxyConfig, opts: ProxyOptions): ResolvedProxyConfig {
  const approval = { ...config.approval };
  if (opts.approval) approval.backend = opts.approval;
  if (opts.fallback) approval.fallback = opts.fallback;
  if (opts.timeout !== undefined) {
    const seconds = Number(opts.timeout);
    if (!Number.isFinite(seconds) || seconds <= 0) {
      throw new ConfigError({
        file: '--timeout',
        problem: `expected a positive number of seconds, got '${opts.timeout}'`,
      });
    }
    // Node fires a longer timer at once, which would time out every approval
    // immediately; approval.timeoutMs in a config file has the same limit.
    if (seconds * 1000 > MAX_TIMER_MS) {
      throw new ConfigError({
        file: '--timeout',
        problem: `${opts.timeout} seconds is longer than the ${Math.floor(MAX_TIMER_MS / 1000)} seconds (about 24 days) a timer can wait`,
        fix: `give at most --timeout ${Math.floor(MAX_TIMER_MS / 1000)}`,
      });
    }
    approval.timeoutMs = seconds * 1000;
  }
  if (opts.store) approval.store = opts.store;
  if (opts.instance) {
    if (!/^[A-Za-z0-9_.:@/-]{1,200}$/.test(opts.instance))
      throw new ConfigError({
        file: '--instance',
        problem: `'${opts.instance}' is not a valid instance name`,
        fix: 'use 1 to 200 of A-Z a-z 0-9 _ . : @ / -',
      });
    approval.instance = opts.instance;
  }
  const proxy = { ...config.proxy };
  if (opts.permissionPrompt) proxy.permissionPrompt = true;
  if (opts.nameInClient !== undefined) {
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(opts.nameInClient))
      throw new ConfigError({
        file: '--name-in-client',
        problem: `'${opts.nameInClient}' is not a valid server name`,
        fix: 'use the key your MCP client config gives this proxy: 1 to 64 of A-Z a-z 0-9 _ . -',
      });
    proxy.nameInClient = opts.nameInClient;
  }
  if (opts.logLevel) proxy.logLevel = opts.logLevel;
  if (opts.maxSessions !== undefined) {
    const n = Number(opts.maxSessions);
    if (!Number.isInteger(n) || n < 1 || n > MAX_HTTP_SESSIONS)
      throw new ConfigError({
        file: '--max-sessions',
        problem: `expected a whole number from 1 to ${MAX_HTTP_SESSIONS}, got '${opts.maxSessions}'`,
        fix: 'e.g. --max-sessions 32',
      });
    proxy.httpMaxSessions = n;
  }
  const telemetry = { ...config.telemetry };
  if (opts.telemetry === false) telemetry.db = undefined;
  else if (typeof opts.telemetry === 'string') telemetry.db = opts.telemetry;
  return { ...config, approval, proxy, telemetry };
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
