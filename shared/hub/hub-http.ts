import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { unshowableReason } from '../util/faithful-args.js';
import { bearerTokenMatches, readRequestBody } from '../util/http-server.js';
import { isLoopbackHost } from '../util/loopback.js';
import type { ApprovalHub } from './approval-hub.js';
import { ApprovalStatus, DecideRequest, type HubErrorCode, type HubEvent } from './protocol.js';

export interface HubServer {
  url: string;
  /** Event-stream clients connected now, and the bytes written to them that they have not taken yet. */
  streamStats(): { clients: number; bufferedBytes: number };
  close(): Promise<void>;
}

/** Default for `HubServerOptions.maxStreamBufferBytes`: 1 MiB per client. */
export const DEFAULT_MAX_STREAM_BUFFER_BYTES = 1024 * 1024;

const LOOPBACK_HOSTS = ['127.0.0.1', 'localhost', '[::1]'];

export interface HubServerOptions {
  maxBodyBytes: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (a random free port). */
  port?: number;
  /** Serve the mobile approval page (no data in it; the API still needs the token). */
  page?: boolean;
  /**
   * Browser origins the page may be served from besides the hub's own Host,
   * e.g. `https://approvals.example.com` behind a TLS reverse proxy.
   */
  pageOrigins?: readonly string[];
  /**
   * Tried before the token check, for routes with their own authentication
   * (webhook callbacks carry an HMAC capability). Returns true when handled.
   */
  extraRoutes?: (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;
  /**
   * An event-stream client that leaves more than this many bytes unread is
   * disconnected (it re-lists when it reconnects), so clients that stop
   * reading cannot grow the hub's memory without bound. Checked before each
   * write, so one event larger than the limit still reaches a client that
   * reads. Default {@link DEFAULT_MAX_STREAM_BUFFER_BYTES}.
   */
  maxStreamBufferBytes?: number;
  /** Where to say that a slow stream client was dropped. */
  log?: (message: string) => void;
}

// The page's files, found beside the built library or, when running from
// the sources (tests), in dist/.
const PAGE_DIRS = [
  fileURLToPath(new URL('../../hub-page/', import.meta.url)),
  fileURLToPath(new URL('../../dist/hub-page/', import.meta.url)),
];
const PAGE_FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/hub-page.js': { file: 'hub-page.js', type: 'text/javascript; charset=utf-8' },
  '/hub-page.css': { file: 'hub-page.css', type: 'text/css; charset=utf-8' },
};
const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * Serves a hub's API, by default on 127.0.0.1 at a random port. Every API
 * request needs the hub's bearer token. On loopback the Host must be
 * loopback (DNS rebinding); browser origins are refused except the hub's
 * own (its approval page).
 */
export async function startHubServer(
  hub: ApprovalHub,
  options: HubServerOptions,
): Promise<HubServer> {
  const bindHost = options.host ?? '127.0.0.1';
  const loopback = isLoopbackHost(bindHost);
  const streams = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    route(req, res).catch((err: unknown) => {
      if (!res.headersSent)
        fail(
          res,
          500,
          'invalid_body',
          `internal error: ${err instanceof Error ? err.message : String(err)}`,
        );
      else res.end();
    });
  });
  let port = 0;

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const host = req.headers.host ?? '';
    if (loopback && !LOOPBACK_HOSTS.some((h) => host === `${h}:${port}`)) {
      return fail(res, 403, 'forbidden', `Host '${host}' is not this hub's loopback address`);
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (options.page && req.method === 'GET' && PAGE_FILES[url.pathname])
      return servePage(res, PAGE_FILES[url.pathname]!);
    if (options.extraRoutes && (await options.extraRoutes(req, res, url))) return;
    // The approval page's own requests carry its (this hub's) origin.
    const origin = req.headers.origin;
    const sameOrigin =
      options.page === true &&
      origin !== undefined &&
      (origin === `http://${host}` ||
        origin === `https://${host}` ||
        (options.pageOrigins ?? []).includes(origin));
    if (req.headers.origin !== undefined && !sameOrigin) {
      return fail(
        res,
        403,
        'forbidden',
        `requests from browser origins (${req.headers.origin}) are not accepted`,
      );
    }
    if (!bearerTokenMatches(req.headers.authorization, hub.token)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="hitloop-hub"');
      return fail(
        res,
        401,
        'unauthorized',
        'missing or invalid bearer token (see the discovery file in $HITLOOP_HOME/hubs)',
      );
    }
    let parts: string[];
    try {
      // Ids may hold any character; clients percent-encode them in the path.
      parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    } catch {
      return fail(res, 400, 'invalid_body', `malformed path ${url.pathname}`);
    }
    if (parts[0] !== 'v1') return fail(res, 404, 'not_found', `unknown path ${url.pathname}`);
    const [, resource, id, sub] = parts;

    if (req.method === 'GET' && resource === 'info' && !id) return send(res, 200, hub.info());
    if (req.method === 'GET' && resource === 'events' && !id) return openStream(res);
    if (resource === 'approvals') {
      if (req.method === 'GET' && !id) {
        const statusParam = url.searchParams.get('status') ?? 'pending';
        const statuses = statusParam === 'all' ? undefined : statusParam.split(',');
        const parsed = statuses ? ApprovalStatus.array().safeParse(statuses) : undefined;
        if (parsed && !parsed.success) {
          return fail(
            res,
            400,
            'invalid_body',
            `status must be one of ${ApprovalStatus.options.join(', ')} or all`,
          );
        }
        const limit = Number(url.searchParams.get('limit') ?? 1000);
        const approvals = await hub.store.list({
          status: parsed?.data,
          server: url.searchParams.get('server') ?? undefined,
          tool: url.searchParams.get('tool') ?? undefined,
          limit: Number.isInteger(limit) && limit > 0 ? Math.min(limit, 10_000) : 1000,
        });
        return send(res, 200, { approvals });
      }
      if (req.method === 'GET' && id && !sub) {
        const record = await hub.store.get(id);
        return record
          ? send(res, 200, record)
          : fail(res, 404, 'not_found', `no approval with id ${id}`);
      }
      if (req.method === 'POST' && id && sub === 'decision') {
        const text = await readRequestBody(req, options.maxBodyBytes);
        if (text === 'too-large')
          return fail(res, 413, 'too_large', `body exceeds ${options.maxBodyBytes} bytes`);
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          return fail(res, 400, 'invalid_body', 'body is not valid JSON');
        }
        // Checked before zod, which silently drops a top-level "__proto__"
        // key: edited arguments run as sent, so they must be shown as sent.
        const unshowable = unshowableReason(
          (body as { editedArgs?: unknown } | null)?.editedArgs,
          text,
          'the decision body',
        );
        if (unshowable) return fail(res, 400, 'invalid_body', `decision refused: ${unshowable}`);
        const parsed = DecideRequest.safeParse(body);
        if (!parsed.success) {
          const details = parsed.error.issues.map(
            (i) => `${i.path.join('.') || '(body)'}: ${i.message}`,
          );
          return fail(res, 400, 'invalid_body', 'invalid decision', details);
        }
        // The token is what authenticated this caller; decidedBy is only asserted.
        const result = await hub.decide(id, parsed.data, 'hub-token');
        if (result.ok) return send(res, 200, result.record);
        return fail(res, result.status, result.code, result.message, result.details);
      }
    }
    if (resource === 'rules') {
      if (req.method === 'GET' && !id)
        return send(res, 200, { rules: await hub.store.listRules() });
      if (req.method === 'DELETE' && id) {
        return (await hub.revokeRule(id))
          ? send(res, 200, { revoked: id })
          : fail(res, 404, 'not_found', `no rule with id ${id}`);
      }
    }
    return fail(res, 404, 'not_found', `no route for ${req.method} ${url.pathname}`);
  }

  function openStream(res: ServerResponse): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    });
    // Clients re-list on (re)connect, so the stream carries only what happens next.
    res.write('retry: 1000\n\n');
    streams.add(res);
    const limit = options.maxStreamBufferBytes ?? DEFAULT_MAX_STREAM_BUFFER_BYTES;
    // Node buffers whatever the socket cannot take yet; a client that does
    // not read would make that buffer grow with every event.
    const write = (text: string) => {
      if (res.destroyed) return;
      if (res.writableLength > limit) {
        options.log?.(
          `hub: dropped an event-stream client that left ${res.writableLength} bytes unread (limit ${limit})`,
        );
        res.destroy();
        return;
      }
      res.write(text);
    };
    const keepAlive = setInterval(() => write(': keep-alive\n\n'), 15_000);
    const unsubscribe = hub.subscribe((event: HubEvent) => {
      write(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
    });
    res.on('close', () => {
      clearInterval(keepAlive);
      unsubscribe();
      streams.delete(res);
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, bindHost, () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  const urlHost =
    bindHost === '0.0.0.0' || bindHost === '::'
      ? '127.0.0.1'
      : bindHost.includes(':')
        ? `[${bindHost}]`
        : bindHost;
  return {
    url: `http://${urlHost}:${port}`,
    streamStats() {
      let bufferedBytes = 0;
      for (const s of streams) bufferedBytes += s.writableLength;
      return { clients: streams.size, bufferedBytes };
    },
    async close() {
      for (const s of streams) s.end();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function servePage(res: ServerResponse, page: { file: string; type: string }): Promise<void> {
  for (const dir of PAGE_DIRS) {
    let body: Buffer;
    try {
      body = await readFile(dir + page.file);
    } catch {
      continue;
    }
    res.writeHead(200, {
      'content-type': page.type,
      'content-security-policy': PAGE_CSP,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-cache',
    });
    res.end(body);
    return;
  }
  fail(res, 404, 'not_found', 'the approval page is not built here; run `npm run build`');
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function fail(
  res: ServerResponse,
  status: number,
  code: HubErrorCode,
  message: string,
  details?: string[],
): void {
  send(res, status, { error: { code, message, ...(details ? { details } : {}) } });
}
