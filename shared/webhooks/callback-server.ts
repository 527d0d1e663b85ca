import type { IncomingMessage, ServerResponse } from 'node:http';
import { readRequestBody } from '../util/http-server.js';
import type { CallbackResult } from './webhook-protocol.js';

/** Callback bodies are a decision and perhaps edited arguments; a megabyte is plenty. */
const MAX_CALLBACK_BODY = 1024 * 1024;

/** What a callback endpoint calls: a backend's `handleCallback`, or `handleWebhookCallback` bound to a store. */
export type CallbackHandler = (
  callbackId: string,
  sig: string | null,
  body: string,
) => Promise<CallbackResult>;

/**
 * A `node:http` request listener serving `POST <pathPrefix>/<callbackId>?sig=...`
 * with a callback handler. Answers 200 `{ decision }` or the handler's status
 * with `{ error: { code, message, details? } }`; other paths are 404, other
 * methods 405, bodies over 1 MiB 413.
 *
 * @example
 * const server = http.createServer(createCallbackListener((id, sig, body) => backend.handleCallback(id, sig, body), { pathPrefix: '/hitloop/callbacks' }));
 * server.listen(8788, '127.0.0.1');
 */
export function createCallbackListener(
  handle: CallbackHandler,
  options: { pathPrefix?: string } = {},
): (req: IncomingMessage, res: ServerResponse) => void {
  const prefix = `${(options.pathPrefix ?? '').replace(/\/+$/, '')}/`;
  return (req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://callback.invalid');
      const rest = url.pathname.startsWith(prefix) ? url.pathname.slice(prefix.length) : undefined;
      if (!rest || rest.includes('/'))
        return send(res, 404, {
          error: { code: 'not_found', message: `no such path: ${url.pathname}` },
        });
      if (req.method !== 'POST') {
        res.setHeader('allow', 'POST');
        return send(res, 405, {
          error: { code: 'method_not_allowed', message: 'callbacks are POSTed' },
        });
      }
      let id: string;
      try {
        id = decodeURIComponent(rest);
      } catch {
        return send(res, 400, {
          error: { code: 'invalid_body', message: 'the callback id is not valid percent-encoding' },
        });
      }
      const body = await readRequestBody(req, MAX_CALLBACK_BODY);
      if (body === 'too-large')
        return send(res, 413, {
          error: { code: 'too_large', message: 'the callback body is over 1 MiB' },
        });
      const result = await handle(id, url.searchParams.get('sig'), body);
      if (result.ok) return send(res, 200, { decision: result.decision });
      const { ok: _ok, status, ...error } = result;
      return send(res, status, { error });
    })().catch((err: unknown) => {
      if (!res.headersSent)
        send(res, 500, {
          error: { code: 'internal', message: err instanceof Error ? err.message : String(err) },
        });
      else res.destroy();
    });
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}
