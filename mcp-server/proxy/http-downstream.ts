import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { unshowableReason } from '../../shared/util/faithful-args.js';
import { bearerTokenMatches, readRequestBody } from '../../shared/util/http-server.js';
import { isLoopbackHost } from '../../shared/util/loopback.js';
import type { Logger } from './log.js';
import { SdkTransportAdapter } from './transport/sdk-transport-adapter.js';
import type { JsonRpcTransport } from './transport/transport.js';

export interface HttpDownstreamOptions {
  host: string;
  port: number;
  /** When set, every request needs `Authorization: Bearer <token>`. */
  token?: string;
  /** Extra browser origins allowed besides loopback ones. */
  allowedOrigins?: string[];
  maxBodyBytes: number;
  /**
   * A session with no request for this long, and no call still running or
   * waiting for approval, is closed (its upstream servers stop). Default 30 minutes.
   */
  idleSessionMs?: number;
  log: Logger;
  /** Creates and starts a session for a new client; returns a closer, and whether calls are still open. */
  openSession: (transport: JsonRpcTransport) => Promise<OpenedSession>;
}

/** What the downstream needs of a session it opened. */
export interface OpenedSession {
  close(): Promise<void>;
  /** True while a call is running or waiting for a human: such a session is not idle. */
  busy?(): boolean;
}

export interface HttpDownstream {
  url: string;
  close(): Promise<void>;
}

/**
 * Serves MCP Streamable HTTP at `/mcp`: one proxy session (with its own
 * upstream connections) per MCP session id. Host and Origin are checked
 * against DNS rebinding, and a bearer token is required when configured.
 */
export async function startHttpDownstream(options: HttpDownstreamOptions): Promise<HttpDownstream> {
  const sessions = new Map<
    string,
    { transport: StreamableHTTPServerTransport; lastSeen: number; opened: OpenedSession }
  >();
  // Clients that vanish without DELETE would otherwise keep their upstream
  // server processes alive for as long as the proxy runs.
  const idleMs = options.idleSessionMs ?? 30 * 60_000;
  const sweeper = setInterval(
    () => {
      const now = Date.now();
      for (const [id, s] of sessions) {
        // An approval may wait longer than the idle limit (per-tool timeouts):
        // the client is then waiting on us, not gone.
        if (now - s.lastSeen < idleMs || s.opened.busy?.()) continue;
        sessions.delete(id);
        options.log.info(`closing MCP session ${id}: idle for ${Math.round(idleMs / 60_000)} min`);
        void s.opened.close();
      }
    },
    Math.min(60_000, idleMs),
  );
  sweeper.unref();
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
    if (options.token && !bearerTokenMatches(req.headers.authorization, options.token)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="hitloop"');
      return sendJson(res, 401, rpcError(-32600, 'missing or invalid bearer token'));
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
      if (existing) return existing.transport.handleRequest(req, res, parsed);
      if (typeof sessionId === 'string') {
        return sendJson(res, 404, rpcError(-32001, 'unknown or expired session; initialize again'));
      }
      if (!isInitialize(parsed)) {
        return sendJson(
          res,
          400,
          rpcError(-32600, 'no Mcp-Session-Id header; the first request must be initialize'),
        );
      }
      const transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => {
          sessions.set(id, { transport, lastSeen: Date.now(), opened });
        },
      });
      transport.onclose = () => {
        if (transport.sessionId) sessions.delete(transport.sessionId);
      };
      const adapter = new SdkTransportAdapter(transport);
      const opened = await options.openSession(adapter);
      return transport.handleRequest(req, res, parsed);
    }
    if (req.method === 'GET' || req.method === 'DELETE') {
      if (!existing)
        return sendJson(
          res,
          typeof sessionId === 'string' ? 404 : 400,
          rpcError(-32001, 'unknown or missing session'),
        );
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
      await Promise.allSettled([...sessions.values()].map((s) => s.opened.close()));
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
    return (u.protocol === 'http:' || u.protocol === 'https:') && isLoopbackHost(u.hostname);
  } catch {
    return false;
  }
}

function isInitialize(body: unknown): boolean {
  const first = Array.isArray(body) ? body[0] : body;
  return (
    !!first && typeof first === 'object' && (first as { method?: unknown }).method === 'initialize'
  );
}

function rpcError(code: number, message: string): Record<string, unknown> {
  return { jsonrpc: '2.0', id: null, error: { code, message } };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
