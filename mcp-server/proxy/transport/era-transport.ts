import {
  isNotification,
  isRequest,
  isResponse,
  type JsonRpcId,
  type JsonRpcMessage,
  type JsonRpcNotification,
  type JsonRpcRequest,
} from '../jsonrpc/messages.js';
import {
  checkModernEnvelope,
  encodeModernResult,
  idKey,
  isModernRequest,
  LISTEN_FILTER_OF,
  META_SUBSCRIPTION_ID,
  removedMethodError,
} from '../session/protocol-2026.js';
import type { FramingProblem, JsonRpcTransport, SendOptions } from './transport.js';

/** What the transport remembers of a modern request until it is answered. */
interface ModernRequest {
  method: string;
  logLevel?: string;
}

/**
 * Sits between a client transport and the proxy session and speaks the
 * 2026-07-28 wire to clients that use it, so the session routes one message
 * shape for both eras: modern requests are checked (envelope, version,
 * removed methods) and answered here when they fail; their answers get
 * `resultType`, cache hints and the proxy's identity; log messages reach a
 * modern request only when it asked for them (`logLevel`); notifications
 * unrelated to a request go only to the `subscriptions/listen` streams that
 * asked for them, which this transport serves. 2025-era traffic passes
 * through untouched.
 *
 * @example
 * const session = new ProxySession(config, new EraTransport(stdio, () => serverInfo), deps);
 */
export class EraTransport implements JsonRpcTransport {
  onmessage?: (message: JsonRpcMessage, raw?: string) => void;
  onproblem?: (problem: FramingProblem) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  /** Set when the inner transport can send raw lines (stdio). */
  sendRaw?: (line: string, options?: SendOptions) => void;
  private readonly modern = new Map<string, ModernRequest>();
  /** Open `subscriptions/listen` requests: the flags each honours, by request id. */
  private readonly subscriptions = new Map<
    string,
    { id: JsonRpcId; flags: Record<string, true> }
  >();
  /** Which era the client speaks, once it has said so (initialize or a modern request). */
  private era: 'legacy' | 'modern' | undefined;

  constructor(
    private readonly inner: JsonRpcTransport,
    private readonly serverInfo: () => Record<string, unknown>,
  ) {
    inner.onmessage = (message, raw) => this.receive(message, raw);
    inner.onproblem = (problem) => this.onproblem?.(problem);
    inner.onclose = () => this.onclose?.();
    inner.onerror = (error) => this.onerror?.(error);
    if (inner.sendRaw) {
      const raw = inner.sendRaw.bind(inner);
      this.sendRaw = (line, options) => {
        const id = options?.relatedRequestId;
        // A modern answer is reshaped, so it is parsed and sent as an object.
        if (id !== undefined && this.modern.has(idKey(id)))
          return void this.send(JSON.parse(line) as JsonRpcMessage, options);
        raw(line, options);
      };
    }
  }

  start(): Promise<void> {
    return this.inner.start();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /** True while the modern request with this id is unanswered. */
  isModern(id: JsonRpcId): boolean {
    return this.modern.has(idKey(id));
  }

  private receive(message: JsonRpcMessage, raw?: string): void {
    if (isRequest(message) && isModernRequest(message)) {
      const checked = checkModernEnvelope(message);
      if ('error' in checked) return void this.inner.send(checked.error);
      const removed = removedMethodError(message);
      if (removed) return void this.inner.send(removed);
      this.era = 'modern';
      if (message.method === 'subscriptions/listen') return this.listen(message);
      const { logLevel } = checked.envelope;
      this.modern.set(idKey(message.id), {
        method: message.method,
        ...(logLevel !== undefined ? { logLevel } : {}),
      });
      return this.onmessage?.(message);
    }
    if (isRequest(message) && message.method === 'initialize') this.era = 'legacy';
    // Ending a subscription is this transport's business; the session never saw it.
    if (isNotification(message) && message.method === 'notifications/cancelled') {
      const id = message.params?.requestId;
      if (
        (typeof id === 'string' || typeof id === 'number') &&
        this.subscriptions.delete(idKey(id))
      )
        return;
    }
    this.onmessage?.(message, raw);
  }

  /**
   * Opens a `subscriptions/listen` stream: acknowledged first with the flags
   * honoured, then the list-changed notifications it asked for, each tagged
   * with its id. It stays open until the client cancels it (or the
   * connection closes).
   */
  private listen(message: JsonRpcRequest): void {
    const asked = (message.params?.notifications ?? {}) as Record<string, unknown>;
    const flags: Record<string, true> = {};
    for (const flag of Object.values(LISTEN_FILTER_OF))
      if (asked[flag] === true) flags[flag] = true;
    this.subscriptions.set(idKey(message.id), { id: message.id, flags });
    void this.inner.send(
      {
        jsonrpc: '2.0',
        method: 'notifications/subscriptions/acknowledged',
        params: { notifications: flags, _meta: { [META_SUBSCRIPTION_ID]: message.id } },
      },
      { relatedRequestId: message.id },
    );
  }

  /** Delivers a change notification to the subscriptions that asked for it. */
  private publish(message: JsonRpcNotification): void {
    const flag = LISTEN_FILTER_OF[message.method];
    if (!flag) return;
    for (const sub of this.subscriptions.values()) {
      if (!sub.flags[flag]) continue;
      const params = message.params ?? {};
      void this.inner.send(
        {
          ...message,
          params: {
            ...params,
            _meta: { ...(params._meta as object | undefined), [META_SUBSCRIPTION_ID]: sub.id },
          },
        },
        { relatedRequestId: sub.id },
      );
    }
  }

  send(message: JsonRpcMessage, options?: SendOptions): void | Promise<void> {
    if (isResponse(message) && message.id !== null) {
      const k = idKey(message.id);
      const request = this.modern.get(k);
      if (request) {
        this.modern.delete(k);
        if ('result' in message)
          message = {
            ...message,
            result: encodeModernResult(request.method, message.result, this.serverInfo()),
          };
      }
      return this.inner.send(message, options);
    }
    if (this.era === 'modern' && (isNotification(message) || isRequest(message))) {
      const related = options?.relatedRequestId;
      const request = related === undefined ? undefined : this.modern.get(idKey(related));
      // Outside a request: only to the subscriptions/listen streams that asked for it.
      if (!request) return isNotification(message) ? this.publish(message) : undefined;
      if (message.method === 'notifications/message' && request.logLevel === undefined) return;
      // A modern client takes no requests from servers (input comes through input_required).
      if (isRequest(message)) return;
    }
    return this.inner.send(message, options);
  }
}
