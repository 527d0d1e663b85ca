import { randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { unshowableReason } from '../../shared/util/faithful-args.js';
import { bearerTokenMatches, readRequestBody } from '../../shared/util/http-server.js';
import { isLoopbackHost } from '../../shared/util/loopback.js';
import type { JsonRpcMessage } from './jsonrpc/messages.js';
import type { Logger } from './log.js';
import { createStatelessHttp, type StatelessHttp } from './stateless-http.js';
import { SdkTransportAdapter } from './transport/sdk-transport-adapter.js';
import type { JsonRpcTransport } from './transport/transport.js';

export interface HttpDownstreamOptions {
  host: string;
  port: number;
  /**
   * When set, every request needs it: as `Authorization: Bearer <token>`, or
   * as `?token=<token>` in the URL for clients that take only a URL.
   */
  token?: string;
  /** Extra browser origins allowed besides loopback ones. */
  allowedOrigins?: string[];
  maxBodyBytes: number;
  /**
   * A session with no request for this long, no open GET stream, and no call
   * still running or waiting for approval, is closed (its upstream servers
   * stop). Default 5 minutes.
   */
  idleSessionMs?: number;
  /**
   * Most sessions open at once (each runs its own upstream servers); an
   * initialize beyond it gets HTTP 503. Default {@link DEFAULT_MAX_SESSIONS}.
   */
  maxSessions?: number;
  /**
   * At the cap, a new initialize closes the session quiet for longest instead
   * of being refused, if that one has had no request for this long, holds no
   * GET stream and runs no call. Default {@link DEFAULT_EVICT_QUIET_MS}.
   */
  evictQuietMs?: number;
  /** How the error at the cap tells the user to raise it, e.g. "proxy.httpMaxSessions". */
  maxSessionsSetting?: string;
  log: Logger;
  /** Creates and starts a session for a new client; returns a closer, and whether calls are still open. */
  openSession: (transport: JsonRpcTransport) => Promise<OpenedSession>;
}

/** What the downstream needs of a session it opened. */
export interface OpenedSession {
  close(): Promise<void>;
  /** True while a call is running or waiting for a human: such a session is not idle. */
  busy?(): boolean;
  /** True while a request with this id is not answered yet. */
  inFlight?(id: string | number): boolean;
}

export interface HttpDownstream {
  url: string;
  close(): Promise<void>;
}

/** A session the downstream serves. */
interface LiveSession {
  transport: StreamableHTTPServerTransport;
  lastSeen: number;
  opened: OpenedSession;
  /** Open GET (SSE) streams: a client holding one is connected, not gone. */
  streams: number;
}

/** Sessions an HTTP proxy serves at once unless configured otherwise. */
export const DEFAULT_MAX_SESSIONS = 16;
/** How long a session must have been quiet to make room for a new one at the cap. */
export const DEFAULT_EVICT_QUIET_MS = 10_000;
/** How long an HTTP session may be quiet before it is closed, unless configured otherwise. */
export const DEFAULT_IDLE_SESSION_MS = 5 * 60_000;

/** Browser origins on this machine: exact hostnames, any port; `*.localhost` is not one. */
const LOOPBACK_ORIGIN_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * Serves MCP Streamable HTTP at `/mcp`: one proxy session (with its own
 * upstream connections) per MCP session id, at most `maxSessions` of them.
 * Host and Origin are checked against DNS rebinding, and a token is required
 * when configured.
 *
 * @example
 * const http = await startHttpDownstream({ host: '127.0.0.1', port: 0, token, maxBodyBytes: 1 << 24, log, openSession });
 * console.error(`serving at ${http.url}`);
 */
export async function startHttpDownstream(options: HttpDownstreamOptions): Promise<HttpDownstream> {
  const sessions = new Map<string, LiveSession>();
  // Clients that vanish without DELETE would otherwise keep their upstream
  // server processes alive for as long as the proxy runs.
  const idleMs = options.idleSessionMs ?? DEFAULT_IDLE_SESSION_MS;
  const maxSessions = options.maxSessions ?? DEFAULT_MAX_SESSIONS;
  // Initializes still being opened count too: a burst of them would otherwise
  // all pass the check before the first one is registered.
  let opening = 0;
  let stateless: StatelessHttp | undefined;
  const sweeper = setInterval(
    () => {
      const now = Date.now();
      for (const [id, s] of sessions) {
        // An approval may wait longer than the idle limit (per-tool timeouts):
        // the client is then waiting on us, not gone.
        if (now - s.lastSeen < idleMs || s.streams > 0 || s.opened.busy?.()) continue;
        sessions.delete(id);
        options.log.info(`closing MCP session ${id}: idle for ${Math.round(idleMs / 1000)} s`);
        void s.opened.close();
      }
    },
    Math.min(60_000, idleMs),
  );
  sweeper.unref();
  // Clients rarely end their sessions (HTTP DELETE): a client that reconnects
  // leaves its old session behind. So at the cap, the session quiet for
  // longest makes room, if it has been quiet a while and nothing of it is
  // open; its client, if it comes back, gets 404 and initializes again, as
  // the spec has it. Only when every session is in use is the new one refused.
  const evictQuietMs = Math.min(options.evictQuietMs ?? DEFAULT_EVICT_QUIET_MS, idleMs);
  const evictQuietest = () => {
    const now = Date.now();
    let quietest: [string, LiveSession] | undefined;
    for (const entry of sessions) {
      const s = entry[1];
      if (now - s.lastSeen < evictQuietMs || s.streams > 0 || s.opened.busy?.()) continue;
      if (!quietest || s.lastSeen < quietest[1].lastSeen) quietest = entry;
    }
    if (!quietest) return;
    sessions.delete(quietest[0]);
    options.log.info(
      `closing MCP session ${quietest[0]} to make room for a new one: quiet for ${Math.round((now - quietest[1].lastSeen) / 1000)} s at the cap of ${maxSessions}`,
    );
    void quietest[1].opened.close();
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      options.log.error(`HTTP request failed: ${err instanceof Error ? err.message : String(err)}`);
      if (!res.headersSent) sendJson(res, 500, rpcError(-32603, 'internal error'));
      else res.end();
    });
  });

  let port = options.port;
  const allowedHosts = () => {
    const hosts = new Set([`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]);
    if (!isLoopbackHost(options.host)) hosts.add(`${options.host}:${port}`);
    return hosts;
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/mcp')
      return sendJson(res, 404, { error: 'not found; the MCP endpoint is /mcp' });
    if (!allowedHosts().has(req.headers.host ?? '')) {
      return sendJson(
        res,
        403,
        rpcError(-32600, `forbidden Host header '${req.headers.host ?? ''}'`),
      );
    }
    const origin = req.headers.origin;
    if (origin && !originAllowed(origin, options.allowedOrigins ?? [])) {
      return sendJson(res, 403, rpcError(-32600, `forbidden Origin '${origin}'`));
    }
    if (
      options.token &&
      !bearerTokenMatches(req.headers.authorization, options.token) &&
      !queryTokenMatches(url.searchParams.get('token'), options.token)
    ) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="hitloop"');
      return sendJson(
        res,
        401,
        rpcError(
          -32600,
          'missing or invalid token: send "Authorization: Bearer TOKEN" or use the URL with ?token= that hitloop proxy printed at start',
        ),
      );
    }
    const sessionId = req.headers['mcp-session-id'];
    const existing = typeof sessionId === 'string' ? sessions.get(sessionId) : undefined;
    if (existing) existing.lastSeen = Date.now();

    if (req.method === 'POST') {
      const body = await readRequestBody(req, options.maxBodyBytes);
      if (body === 'too-large') {
        return sendJson(
          res,
          413,
          rpcError(-32600, `request body exceeds ${options.maxBodyBytes} bytes`),
        );
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(body);
      } catch (err) {
        return sendJson(res, 400, rpcError(-32700, `Parse error: ${(err as Error).message}`));
      }
      // As on stdio (parse-line.ts): a call whose text is ambiguous is refused.
      const call = [parsed]
        .flat()
        .find((m) => (m as { method?: unknown })?.method === 'tools/call');
      const ambiguous = call === undefined ? undefined : unshowableReason(undefined, body);
      if (ambiguous)
        return sendJson(res, 400, {
          ...rpcError(-32600, `Invalid Request: tools/call was NOT executed: ${ambiguous}`),
          id: (call as { id?: unknown }).id ?? null,
        });
      if (existing) {
        // Refused here, before the SDK transport maps the id to this POST's
        // stream: it would take the mapping of the request still running
        // under that id, whose answer would then have nowhere to go.
        const reused = reusedId(parsed, existing.opened);
        if (reused !== undefined)
          return sendJson(
            res,
            400,
            rpcError(
              -32600,
              `Invalid Request: id ${JSON.stringify(reused)} is already used by a request still in progress; give every request a new id`,
              reused,
            ),
          );
        return existing.transport.handleRequest(req, res, parsed);
      }
      if (typeof sessionId === 'string') {
        return sendJson(res, 404, rpcError(-32001, 'unknown or expired session; initialize again'));
      }
      // No session and not a 2025-era initialize: the 2026-07-28 wire, one request per POST.
      if (!isInitialize(parsed) && !Array.isArray(parsed) && parsed && typeof parsed === 'object') {
        stateless ??= createStatelessHttp({ log: options.log, openSession: options.openSession });
        return stateless.handle(req, res, parsed as JsonRpcMessage);
      }
      if (!isInitialize(parsed)) {
        return sendJson(
          res,
          400,
          rpcError(-32600, 'no Mcp-Session-Id header; the first request must be initialize'),
        );
      }
      if (sessions.size + opening >= maxSessions) evictQuietest();
      if (sessions.size + opening >= maxSessions) {
        // Each session runs its own upstream server processes: unlimited
        // sessions would let any client start unlimited processes.
        res.setHeader('Retry-After', String(Math.ceil(idleMs / 1000)));
        return sendJson(
          res,
          503,
          rpcError(
            -32000,
            `too many MCP sessions: ${maxSessions} are open, the most this proxy serves at once. Close one (HTTP DELETE with its Mcp-Session-Id), wait for an idle one to be closed (after ${Math.round(idleMs / 1000)} s), or raise ${options.maxSessionsSetting ?? 'maxSessions'}`,
          ),
        );
      }
      opening++;
      // Counted once: as opening until registered, then in `sessions`.
      let counted = true;
      const registered = () => {
        if (counted) opening--;
        counted = false;
      };
      let opened: OpenedSession | undefined;
      try {
        const transport = new StreamableHTTPServerTransport({
          sessionIdGenerator: () => randomUUID(),
          onsessioninitialized: (id) => {
            sessions.set(id, { transport, lastSeen: Date.now(), opened: opened!, streams: 0 });
            registered();
          },
        });
        transport.onclose = () => {
          if (transport.sessionId) sessions.delete(transport.sessionId);
        };
        const adapter = new SdkTransportAdapter(transport);
        opened = await options.openSession(adapter);
        await transport.handleRequest(req, res, parsed);
        // An initialize the SDK refused leaves a session nobody can reach.
        if (!transport.sessionId || !sessions.has(transport.sessionId)) await opened.close();
      } catch (err) {
        await opened?.close();
        throw err;
      } finally {
        registered();
      }
      return;
    }
    if (req.method === 'GET' || req.method === 'DELETE') {
      if (!existing)
        return sendJson(
          res,
          typeof sessionId === 'string' ? 404 : 400,
          rpcError(-32001, 'unknown or missing session'),
        );
      if (req.method === 'GET') {
        // A client that dies drops its connection: the stream closes, and the
        // idle clock starts from then.
        existing.streams++;
        res.once('close', () => {
          existing.streams--;
          existing.lastSeen = Date.now();
        });
      }
      await existing.transport.handleRequest(req, res);
      if (req.method === 'DELETE') {
        sessions.delete(sessionId as string);
        await existing.opened.close();
      }
      return;
    }
    res.setHeader('Allow', 'GET, POST, DELETE');
    sendJson(res, 405, rpcError(-32600, `method ${req.method} not allowed`));
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  const shownHost = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${shownHost}:${port}/mcp`,
    async close() {
      clearInterval(sweeper);
      await Promise.allSettled([
        ...[...sessions.values()].map((s) => s.opened.close()),
        stateless?.close(),
      ]);
      sessions.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function originAllowed(origin: string, extra: readonly string[]): boolean {
  if (extra.includes(origin)) return true;
  try {
    const u = new URL(origin);
    // Exact names only: http://evil.localhost is a page any site can be served as.
    return (
      (u.protocol === 'http:' || u.protocol === 'https:') && LOOPBACK_ORIGIN_HOSTS.has(u.hostname)
    );
  } catch {
    return false;
  }
}

/** `?token=` of the URL, compared in constant time like the bearer header. */
function queryTokenMatches(given: string | null, token: string): boolean {
  if (given === null) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A 2025-era initialize: a 2026-07-28 one (with the `_meta` envelope) is refused as a removed method. */
function isInitialize(body: unknown): boolean {
  const first = Array.isArray(body) ? body[0] : body;
  if (!first || typeof first !== 'object') return false;
  const m = first as { method?: unknown; params?: { _meta?: Record<string, unknown> } };
  return m.method === 'initialize' && !m.params?._meta?.['io.modelcontextprotocol/protocolVersion'];
}

function rpcError(
  code: number,
  message: string,
  id: string | number | null = null,
): Record<string, unknown> {
  return { jsonrpc: '2.0', id, error: { code, message } };
}

/** The id of a request in `body` (one message or a batch) that is still in flight, if any. */
function reusedId(body: unknown, session: OpenedSession): string | number | undefined {
  if (!session.inFlight) return undefined;
  for (const m of Array.isArray(body) ? body : [body]) {
    if (!m || typeof m !== 'object') continue;
    const { id, method } = m as { id?: unknown; method?: unknown };
    if (typeof method !== 'string') continue; // a response, not a request
    if ((typeof id === 'string' || typeof id === 'number') && session.inFlight(id)) return id;
  }
  return undefined;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
