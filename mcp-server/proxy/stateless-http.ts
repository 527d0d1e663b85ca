import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  isRequest,
  isResponse,
  type JsonRpcId,
  type JsonRpcMessage,
  type JsonRpcRequest,
} from './jsonrpc/messages.js';
import type { Logger } from './log.js';
import {
  checkModernEnvelope,
  httpStatusOfModernError,
  removedMethodError,
} from './session/protocol-2026.js';
import type { JsonRpcTransport, SendOptions } from './transport/transport.js';

/** What the stateless endpoint needs of the proxy: a session for all 2026-07-28 requests. */
export interface StatelessHttpOptions {
  log: Logger;
  openSession: (transport: JsonRpcTransport) => Promise<{ close(): Promise<void> }>;
}

/** Serves 2026-07-28 requests (no Mcp-Session-Id) on the Streamable HTTP endpoint. */
export interface StatelessHttp {
  handle(req: IncomingMessage, res: ServerResponse, message: JsonRpcMessage): Promise<void>;
  close(): Promise<void>;
}

/**
 * The 2026-07-28 side of `hitloop proxy --http`: each POST is one request,
 * answered on its own response (JSON, or an event stream once a progress
 * notification comes first), with no session. All such requests share one
 * proxy session, so the upstream servers start once, and a multi-round call
 * finds its waiting round whichever connection the retry comes on. Request
 * ids are made unique here, since two clients may use the same ones.
 *
 * @example
 * const stateless = createStatelessHttp({ log, openSession });
 * if (!req.headers['mcp-session-id']) return stateless.handle(req, res, message);
 */
export function createStatelessHttp(options: StatelessHttpOptions): StatelessHttp {
  const transport = new StatelessTransport();
  let opened: Promise<{ close(): Promise<void> }> | undefined;
  return {
    async handle(req, res, message) {
      if (!isRequest(message)) {
        // Notifications and answers have nothing to go to without a session.
        res.writeHead(202).end();
        return;
      }
      const header = req.headers['mcp-protocol-version'];
      const refused = refusal(message, typeof header === 'string' ? header : undefined);
      if (refused) return sendJson(res, httpStatusOfModernError(refused.error.code), refused);
      opened ??= options.openSession(transport);
      await opened;
      const sse = String(req.headers.accept ?? '').includes('text/event-stream');
      transport.deliver(message, new ResponseSink(res, message.id, sse));
    },
    async close() {
      await (await opened)?.close();
    },
  };
}

function refusal(message: JsonRpcRequest, headerVersion?: string) {
  const checked = checkModernEnvelope(message, headerVersion);
  if ('error' in checked) {
    if (checked.error.error.code === -32602 && message.method === 'initialize') return undefined; // a 2025-era initialize: not ours (the caller checked)
    return checked.error;
  }
  return removedMethodError(message);
}

/** One POST's response: a JSON answer, or an event stream when notifications come first. */
class ResponseSink {
  private streaming = false;

  constructor(
    readonly res: ServerResponse,
    readonly clientId: JsonRpcId,
    private readonly sse: boolean,
  ) {}

  get closed(): boolean {
    return this.res.writableEnded || this.res.destroyed;
  }

  notify(message: JsonRpcMessage): void {
    if (!this.sse || this.closed) return;
    if (!this.streaming) {
      this.streaming = true;
      this.res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    }
    this.res.write(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
  }

  final(message: JsonRpcMessage): void {
    if (this.closed) return;
    if (this.streaming) {
      this.res.end(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
      return;
    }
    const code = 'error' in message ? message.error.code : undefined;
    sendJson(this.res, code === undefined ? 200 : httpStatusOfModernError(code), message);
  }
}

/**
 * The session's transport for stateless HTTP: gives each request a unique
 * id on the way in and its own id back on the way out, and puts what
 * belongs to a request on that request's response.
 */
class StatelessTransport implements JsonRpcTransport {
  onmessage?: (message: JsonRpcMessage) => void;
  onclose?: () => void;
  private next = 1;
  private readonly open = new Map<string, ResponseSink>();

  async start(): Promise<void> {}

  async close(): Promise<void> {
    this.onclose?.();
  }

  deliver(message: JsonRpcRequest, sink: ResponseSink): void {
    const id = `http-${this.next++}`;
    this.open.set(id, sink);
    // A client gives up on a request by closing its connection.
    sink.res.once('close', () => {
      if (!this.open.delete(id)) return;
      this.onmessage?.({
        jsonrpc: '2.0',
        method: 'notifications/cancelled',
        params: { requestId: id, reason: 'the client closed the connection' },
      });
    });
    this.onmessage?.({ ...message, id });
  }

  send(message: JsonRpcMessage, options?: SendOptions): void {
    if (isResponse(message)) {
      const id = message.id === null ? undefined : String(message.id);
      const sink = id === undefined ? undefined : this.open.get(id);
      if (!sink) return;
      this.open.delete(id!);
      sink.final({ ...message, id: sink.clientId });
      return;
    }
    const related = options?.relatedRequestId;
    const sink = related === undefined ? undefined : this.open.get(String(related));
    if (sink && !isRequest(message)) sink.notify(message);
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
