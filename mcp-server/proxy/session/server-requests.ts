import {
  ErrorCode,
  errorResponse,
  type JsonRpcId,
  type JsonRpcNotification,
  type JsonRpcRequest,
  type JsonRpcResponse,
  resultResponse,
} from '../jsonrpc/messages.js';
import type { UpstreamServer } from '../upstream/upstream-server.js';
import type { SessionCore } from './session-core.js';

/** A request the proxy sent the client: its own (elicitation) or relayed from an upstream server. */
interface ClientRequest {
  handle: (response: JsonRpcResponse) => void;
  origin?: { server: UpstreamServer; id: JsonRpcId };
}

const key = (id: JsonRpcId) => (typeof id === 'number' ? `n${id}` : `s${id}`);

/** Which client capability each server-to-client request needs. */
const NEEDS: Record<string, string> = {
  'elicitation/create': 'elicitation',
  'sampling/createMessage': 'sampling',
  'roots/list': 'roots',
};

/**
 * Requests that travel to the client: the proxy's own (the approval form,
 * through the elicitation backend) and the servers' (`elicitation/create`,
 * `sampling/createMessage`, `roots/list`) relayed under ids of the proxy's,
 * with the client's answers routed back. Servers' requests wait until the
 * client said it is ready; a 2026-07-28 client, which takes no requests, is
 * asked through an input_required round instead.
 *
 * @example
 * const requests = new ServerRequests(core);
 * const answer = await requests.requestClient('elicitation/create', params);
 */
export class ServerRequests {
  private readonly clientRequests = new Map<string, ClientRequest>();
  private nextClientRequestId = 1;
  // Set by the client's notifications/initialized: until then, requests from
  // servers (roots/list, elicitation) wait, as the protocol wants no request
  // to reach a client before it says it is ready.
  private clientReady = false;
  private readonly heldServerRequests: Array<() => void> = [];

  constructor(private readonly core: SessionCore) {}

  get ready(): boolean {
    return this.clientReady;
  }

  /** The client is ready for requests: the held ones go out. */
  markClientReady(): void {
    if (this.clientReady) return;
    this.clientReady = true;
    for (const release of this.heldServerRequests.splice(0)) release();
  }

  /** Sends a request to the client and resolves with its answer (used by the elicitation backend). */
  requestClient(
    method: string,
    params: Record<string, unknown>,
    options: { signal?: AbortSignal; relatedRequestId?: JsonRpcId } = {},
  ): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const id = `hitloop-${this.nextClientRequestId++}`;
      const onAbort = () => {
        this.clientRequests.delete(key(id));
        this.core.send({
          jsonrpc: '2.0',
          method: 'notifications/cancelled',
          params: { requestId: id, reason: 'withdrawn' },
        });
        reject(
          options.signal?.reason instanceof Error ? options.signal.reason : new Error('withdrawn'),
        );
      };
      this.clientRequests.set(key(id), {
        handle: (response) => {
          options.signal?.removeEventListener('abort', onAbort);
          if ('error' in response)
            reject(new Error(`client answered ${method} with an error: ${response.error.message}`));
          else resolve(response.result);
        },
      });
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.core.send(
        { jsonrpc: '2.0', id, method, params },
        { relatedRequestId: options.relatedRequestId },
      );
    });
  }

  /** Routes the client's answer to the request it answers; false when no request of ours has that id. */
  answer(id: JsonRpcId, response: JsonRpcResponse): boolean {
    const pending = this.clientRequests.get(key(id));
    if (!pending) return false;
    this.clientRequests.delete(key(id));
    pending.handle(response);
    return true;
  }

  /** A server's request for the client. */
  fromServer(server: UpstreamServer, msg: JsonRpcRequest): void {
    if (msg.method === 'ping') return server.respond(resultResponse(msg.id, {}));
    if (!this.clientReady) {
      this.heldServerRequests.push(() => this.fromServer(server, msg));
      return;
    }
    const capability = NEEDS[msg.method];
    const core = this.core;
    // A 2026-07-28 client takes no requests: the server's question becomes an input_required round.
    if (core.era === 'modern')
      return core.rounds.relay(
        server,
        msg,
        capability,
        [...core.inflight.values()].filter(
          (c) => c.server === server && c.upstreamId !== undefined && c.request,
        ),
        core.config.approval.timeoutMs,
      );
    if (!capability || !core.clientCapabilities[capability]) {
      return server.respond(
        errorResponse(
          msg.id,
          ErrorCode.MethodNotFound,
          capability
            ? `the client does not support ${capability}`
            : `Method not found: ${msg.method}`,
        ),
      );
    }
    const id = `hitloop-${this.nextClientRequestId++}`;
    this.clientRequests.set(key(id), {
      handle: (response) => server.respond({ ...response, id: msg.id }),
      origin: { server, id: msg.id },
    });
    // On Streamable HTTP the request must travel on the stream of the call that caused it.
    const calls = [...core.inflight.values()].filter(
      (c) => c.server === server && c.upstreamId !== undefined,
    );
    core.send(
      { ...msg, id },
      { relatedRequestId: calls.length === 1 ? calls[0]!.clientId : undefined },
    );
  }

  /** The server withdrew one of its own requests to the client; the client hears it under the proxy's id. */
  serverCancelled(server: UpstreamServer, msg: JsonRpcNotification): void {
    for (const [k, pending] of this.clientRequests) {
      const origin = pending.origin;
      if (origin && origin.server === server && origin.id === msg.params?.requestId) {
        this.clientRequests.delete(k);
        return this.core.send({ ...msg, params: { ...msg.params, requestId: k.slice(1) } });
      }
    }
  }
}
