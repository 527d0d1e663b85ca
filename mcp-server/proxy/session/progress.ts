import { randomBytes } from 'node:crypto';
import type { JsonRpcNotification } from '../jsonrpc/messages.js';
import type { InFlight, SessionCore } from './session-core.js';

/** Progress tokens the proxy gives servers, unguessable so a client's own token is never taken for one. */
const UPSTREAM_TOKEN_PREFIX = `hitloop-progress-${randomBytes(6).toString('hex')}-`;

/**
 * `notifications/progress` between the servers and the client. A call the
 * proxy kept alive while a human decided (keep-alive progress under the
 * client's token) goes upstream under a token of the proxy's own, whose
 * values are shifted on the way back so the client's progress keeps rising.
 *
 * @example
 * const progress = new ProgressRelay(core);
 * params._meta = { ...params._meta, progressToken: progress.upstreamToken(call) };
 * // later, for each upstream notifications/progress:
 * progress.fromServer(msg);
 */
export class ProgressRelay {
  private readonly byUpstreamToken = new Map<string, InFlight>();
  private nextProgressToken = 1;

  constructor(private readonly core: SessionCore) {}

  /** A new token of the proxy's for `call`, whose progress it relays shifted. */
  upstreamToken(call: InFlight): string {
    const upstreamToken = `${UPSTREAM_TOKEN_PREFIX}${this.nextProgressToken++}`;
    this.byUpstreamToken.set(upstreamToken, call);
    return upstreamToken;
  }

  /**
   * Stops relaying the server's progress for a call that ended or was
   * cancelled: a server that ignores the cancellation may go on reporting,
   * and the client must not hear of a request it gave up.
   */
  forget(call: InFlight): void {
    if (this.byUpstreamToken.size === 0) return;
    for (const [t, c] of this.byUpstreamToken) if (c === call) this.byUpstreamToken.delete(t);
  }

  /** Relays a server's progress notification to the client, on the stream of its call. */
  fromServer(msg: JsonRpcNotification): void {
    const token = msg.params?.progressToken;
    if (typeof token === 'string' && token.startsWith(UPSTREAM_TOKEN_PREFIX)) {
      const call = this.byUpstreamToken.get(token);
      // A token of ours with no call behind it: the call ended or was cancelled.
      if (!call) return;
      const p = msg.params!;
      const shift = call.progressSent;
      this.core.send(
        {
          jsonrpc: '2.0',
          method: msg.method,
          params: {
            ...p,
            progressToken: call.progressToken,
            progress: Number(p.progress) + shift,
            ...(typeof p.total === 'number' ? { total: p.total + shift } : {}),
          },
        },
        { relatedRequestId: call.clientId },
      );
      return;
    }
    return this.core.send(msg, { relatedRequestId: this.callForToken(token)?.clientId });
  }

  /** Relays the client's progress (about a server-to-client request) to every server: tokens are unique. */
  fromClient(msg: JsonRpcNotification): void {
    for (const s of this.core.servers) s.notify(msg.method, msg.params);
  }

  private callForToken(token: unknown): InFlight | undefined {
    if (token === undefined) return undefined;
    for (const call of this.core.inflight.values()) if (call.progressToken === token) return call;
    return undefined;
  }
}
