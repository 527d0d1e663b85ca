import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { ApprovalBackend } from '../../shared/backends/backend.js';
import { ConfigError } from '../../shared/errors.js';
import { ApprovalHub } from '../../shared/hub/approval-hub.js';
import { hitloopHome } from '../../shared/hub/discovery.js';
import { HubBackend } from '../../shared/hub/hub-backend.js';
import type { ApprovalStore } from '../../shared/stores/approval-store.js';
import { openApprovalStore } from '../../shared/stores/open-store.js';
import { SqliteApprovalStore } from '../../shared/stores/sqlite-store.js';
import { TelemetryLogger } from '../../shared/telemetry/logger.js';
import { isLoopbackHost } from '../../shared/util/loopback.js';
import type { PersistentWebhookBackend } from '../../shared/webhooks/persistent-webhook-backend.js';
import { packageVersion } from '../version.js';
import { createBackendResolver } from './approval/backend-resolver.js';
import { RecoveringBackend } from './approval/recovering-backend.js';
import { proxyPolicy } from './config/proxy-policy.js';
import type { ResolvedProxyConfig } from './config/types.js';
import { splitHostPort } from './host-port.js';
import type { HttpDownstream } from './http-downstream.js';
import { createLogger, type Logger } from './log.js';
import { ProxySession } from './session/proxy-session.js';
import { EraTransport } from './transport/era-transport.js';
import { StdioServerTransport } from './transport/stdio-server-transport.js';
import type { JsonRpcTransport } from './transport/transport.js';

export interface RunProxyOptions {
  /**
   * Serve Streamable HTTP instead of stdio. `tokenOrigin` says where the token
   * came from: a generated one is printed in the URL (as Jupyter does), one
   * the user chose is not; "none" means the user turned the token off.
   */
  http?: {
    host: string;
    port: number;
    token?: string;
    tokenOrigin?: 'generated' | 'given' | 'none';
    allowedOrigins?: string[];
  };
  log?: Logger;
  /** The approval hub's backend, when a hub runs in this process. */
  hub?: () => ApprovalBackend;
}

/** A running proxy. */
export interface RunningProxy {
  /** The MCP endpoint in HTTP mode. */
  url?: string;
  /** Resolves when the (stdio) client disconnects. */
  done: Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts `hitloop proxy`: the client side on stdio (default) or Streamable
 * HTTP, one proxy session per client, telemetry in SQLite.
 *
 * @example
 * const proxy = await runProxy(loadProxyConfig('hitloop.json'));
 * await proxy.done;
 */
export async function runProxy(
  config: ResolvedProxyConfig,
  options: RunProxyOptions = {},
): Promise<RunningProxy> {
  // hitloop's own files are protected before the configured policy is asked
  // (the same composition `hitloop policy check` evaluates).
  config = { ...config, policy: proxyPolicy(config) };
  const log = options.log ?? createLogger(config.proxy.logLevel);
  if (config.proxy.protectHitloopFiles === false)
    log.warn(
      "proxy.protectHitloopFiles is false: tools may read hitloop's own files, including the hub tokens that approve calls",
    );
  if (config.proxy.permissionPrompt)
    // The name decides which prompts pass unasked: say which, so a proxy
    // registered under another name (or another server named like it) is noticed.
    log.info(
      `permission prompts for mcp__${config.proxy.nameInClient}__<tool> with one of this proxy's tools pass without a question (the call is gated when it arrives); if your client knows this proxy by another name, pass --name-in-client NAME`,
    );
  if (config.approval.backend === 'cli' && !options.http) {
    throw new ConfigError({
      file: config.source,
      field: 'approval.backend',
      problem:
        'the cli backend needs the terminal, but in stdio mode stdin and stdout carry the MCP protocol',
      fix: 'serve the client over HTTP (--http 127.0.0.1:PORT), or choose "hub", "elicitation", "auto-approve" or "auto-reject"',
    });
  }
  if (options.http && !isLoopbackHost(options.http.host) && !options.http.token) {
    throw new ConfigError({
      file: '--http',
      problem: `refusing to serve on non-loopback address ${options.http.host} without a token`,
      fix: 'drop --no-token (a token is then generated), pass --token, or bind to 127.0.0.1',
    });
  }
  const telemetry = config.telemetry.db
    ? new TelemetryLogger({
        dbPath: config.telemetry.db,
        required: config.telemetry.required,
        redactKeys: config.telemetry.redactKeys,
        onError: (err) => log.error(`telemetry: ${err.message}`),
      })
    : undefined;
  // The approval hub is where the VS Code sidebar and `hitloop approvals`
  // find this proxy's pending calls; it runs whenever a config may ask through
  // it, and the webhook channel keeps its requests in the hub's store too.
  let hub: ApprovalHub | undefined;
  let hubBackend = options.hub;
  let webhookBackend: (() => ApprovalBackend) | undefined;
  let callbacks: Server | undefined;
  // A half-started proxy must not linger (an HTTP server, a listen
  // connection, the hub): a failed start undoes what started, then reports.
  const undoStart = async () => {
    callbacks?.close();
    await hub?.stop().catch(() => undefined);
    await hub?.store.close().catch(() => undefined);
    telemetry?.close();
  };
  const approval = config.approval;
  const usesWebhook = approval.backend === 'webhook';
  if (usesWebhook && !approval.webhook)
    throw new ConfigError({
      file: config.source,
      field: 'approval.webhook',
      problem: 'the "webhook" backend needs approval.webhook (url, callbackBaseUrl, secret)',
      fix: 'add an approval.webhook section to the config file given with --config',
    });
  if (!hubBackend && (approval.backend === 'hub' || approval.fallback === 'hub' || usesWebhook)) {
    const home = hitloopHome();
    let store: ApprovalStore;
    try {
      store = approval.store
        ? await openApprovalStore(approval.store, {
            onInvalid: (m) => log.warn(m),
            redactKeys: config.telemetry.redactKeys,
          })
        : new SqliteApprovalStore(join(home, 'approvals.db'), {
            onInvalid: (m) => log.warn(m),
            redactKeys: config.telemetry.redactKeys,
          });
    } catch (err) {
      throw new ConfigError({
        file: config.source,
        field: 'approval.store',
        problem: err instanceof Error ? err.message : String(err),
        fix: 'check the store URL, or remove approval.store to use the local SQLite file',
      });
    }
    hub = new ApprovalHub({
      store,
      name: `hitloop proxy (${config.servers.map((s) => s.name).join(', ')})`,
      home,
      version: packageVersion(),
      log: (m) => log.warn(m),
      resumeWindowMs: approval.resumeWindowMs,
    });
    try {
      await hub.start();
      const threadId = approval.instance ?? defaultInstance(config);
      const recovered = await hub.recover(threadId, approval.timeoutMs);
      if (recovered.length)
        log.warn(
          `took back ${recovered.length} approval(s) left by an earlier run of ${threadId}; a decision on them applies when the agent retries the same call`,
        );
      log.info(
        `approval hub at ${hub.url}${approval.store ? ` on ${store.name}` : ''}; approve with the VS Code sidebar or \`hitloop approvals\``,
      );
      const backend = new HubBackend(hub, { timeoutMs: approval.timeoutMs, threadId });
      hubBackend = () => backend;
      if (usesWebhook && approval.webhook) {
        const hook = approval.webhook;
        // Loaded only by configs that use webhooks, like the HTTP server below.
        const { PersistentWebhookBackend } = await import(
          '../../shared/webhooks/persistent-webhook-backend.js'
        );
        const webhook = new PersistentWebhookBackend({
          url: hook.url,
          callbackBaseUrl: hook.callbackBaseUrl,
          secret: hook.secret,
          headers: hook.headers,
          timeoutMs: approval.timeoutMs,
          store,
          threadId,
          hubId: hub.hubId,
          retry: hook.retry,
          circuitBreaker: hook.circuitBreaker,
        });
        const resuming = new RecoveringBackend(hub, webhook, (id, o) =>
          webhook.awaitRecovered(id, o),
        );
        webhookBackend = () => resuming;
        if (hook.listen) callbacks = await serveCallbacks(hook.listen, webhook, config.source);
      }
    } catch (err) {
      await undoStart();
      throw err;
    }
  }
  const resolveBackend = createBackendResolver(config.approval, {
    log,
    hub: hubBackend,
    webhook: webhookBackend,
  });
  const sessions = new Set<ProxySession>();
  const openSession = async (transport: JsonRpcTransport, transportName: string) => {
    // Both eras on one transport: 2026-07-28 requests are checked and their answers shaped.
    const era = new EraTransport(transport, () => session.serverInfo());
    const session: ProxySession = new ProxySession(config, era, {
      log,
      telemetry,
      resolveBackend,
      version: packageVersion(),
      transportName,
    });
    sessions.add(session);
    await session.start();
    return {
      session,
      busy: () => session.busy,
      inFlight: (id: string | number) => session.hasInFlight(id),
      close: async () => {
        sessions.delete(session);
        await session.close();
      },
    };
  };

  let http: HttpDownstream | undefined;
  let done: Promise<void>;
  if (options.http) {
    try {
      const { startHttpDownstream } = await import('./http-downstream.js');
      http = await startHttpDownstream({
        ...options.http,
        maxSessions: config.proxy.httpMaxSessions,
        maxSessionsSetting: 'proxy.httpMaxSessions (or --max-sessions)',
        idleSessionMs: config.proxy.httpIdleSessionMs,
        maxBodyBytes: config.proxy.maxMessageBytes,
        log,
        openSession: (transport) => openSession(transport, 'http'),
      });
    } catch (err) {
      // The hub started above would keep the process alive with nothing served.
      await undoStart();
      throw new ConfigError({
        file: '--http',
        problem: `cannot listen on ${options.http.host}:${options.http.port}: ${err instanceof Error ? err.message : String(err)}`,
        fix: 'choose a free port (port 0 picks one)',
      });
    }
    // The endpoint is the one thing an HTTP user must see, whatever the log level.
    process.stderr.write(servingMessage(http.url, options.http.token, options.http.tokenOrigin));
    done = new Promise(() => {});
  } else {
    const transport = new StdioServerTransport(
      process.stdin,
      process.stdout,
      config.proxy.maxMessageBytes,
    );
    await openSession(transport, 'stdio');
    // The session set onclose; chain it so `done` hears the client leave too.
    const sessionClose = transport.onclose;
    done = new Promise<void>((resolve) => {
      transport.onclose = () => {
        sessionClose?.();
        resolve();
      };
    });
  }

  return {
    url: http?.url,
    done,
    async close() {
      await http?.close();
      await Promise.allSettled([...sessions].map((s) => s.close()));
      if (callbacks) await new Promise<void>((resolve) => callbacks!.close(() => resolve()));
      await hub?.stop();
      await hub?.store.close();
      telemetry?.close();
    },
  };
}

/**
 * What an HTTP proxy prints at start: where to connect, and with which token.
 * A generated token is shown (the user has no other way to learn it); one the
 * user gave is not repeated into logs.
 */
function servingMessage(
  url: string,
  token: string | undefined,
  origin: 'generated' | 'given' | 'none' | undefined,
): string {
  if (!token)
    return `hitloop: serving MCP over Streamable HTTP at ${url}\nhitloop: WARNING: no token (--no-token): any program or user on this machine can call these tools through it\n`;
  if (origin !== 'generated')
    return `hitloop: serving MCP over Streamable HTTP at ${url} (bearer token required)\n`;
  return (
    `hitloop: serving MCP over Streamable HTTP at ${url}?token=${token}\n` +
    `hitloop: give clients that URL, or ${url} with the header "Authorization: Bearer ${token}"; ` +
    'the token is new at every start (--token or HITLOOP_PROXY_TOKEN keeps one; --no-token turns it off)\n'
  );
}

/**
 * The instance name a proxy has when the config names none: the host plus a
 * hash of what it serves, so a restart of the same proxy finds its own
 * approvals and a different proxy on the same store does not.
 */
export function defaultInstance(config: ResolvedProxyConfig): string {
  const servers = config.servers.map((s) =>
    s.type === 'stdio' ? [s.name, s.command, ...s.args] : [s.name, s.url],
  );
  const digest = createHash('sha256')
    .update(JSON.stringify([config.source, servers]))
    .digest('hex')
    .slice(0, 12);
  return `proxy:${hostname()}:${digest}`;
}

/** Serves webhook callbacks at `listen` under /v1/callbacks/ (HMAC-capability URLs). */
async function serveCallbacks(
  listen: string,
  webhook: PersistentWebhookBackend,
  source: string,
): Promise<Server> {
  // The config schema has checked the form; this only narrows the type.
  const { host, port } = splitHostPort(listen) ?? { host: '127.0.0.1', port: 0 };
  const { createCallbackListener } = await import('../../shared/webhooks/callback-server.js');
  const server = createServer(
    createCallbackListener((id, sig, body) => webhook.handleCallback(id, sig, body), {
      pathPrefix: '/v1/callbacks',
    }),
  );
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
  } catch (err) {
    throw new ConfigError({
      file: source,
      field: 'approval.webhook.listen',
      problem: `cannot listen on ${listen}: ${err instanceof Error ? err.message : String(err)}`,
      fix: 'choose a free port',
    });
  }
  const address = server.address() as AddressInfo;
  process.stderr.write(
    `hitloop: webhook callbacks at http://${host.includes(':') ? `[${host}]` : host}:${address.port}/v1/callbacks/\n`,
  );
  return server;
}
