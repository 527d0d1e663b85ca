import {
  isNotification,
  isRequest,
  isResponse,
  type JsonRpcId,
  type JsonRpcMessage,
} from '../jsonrpc/messages.js';
import {
  checkModernEnvelope,
  encodeModernResult,
  idKey,
  isModernRequest,
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
 * modern request only when it asked for them (`logLevel`); and notifications
 * unrelated to a request are not sent to a modern client, which has no
 * `subscriptions/listen` stream with this proxy. 2025-era traffic passes
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
      const { logLevel } = checked.envelope;
      this.modern.set(idKey(message.id), {
        method: message.method,
        ...(logLevel !== undefined ? { logLevel } : {}),
      });
      return this.onmessage?.(message);
    }
    if (isRequest(message) && message.method === 'initialize') this.era = 'legacy';
    this.onmessage?.(message, raw);
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
      // No stream to put it on: modern clients hear of changes by listing again.
      if (!request) return;
      if (message.method === 'notifications/message' && request.logLevel === undefined) return;
      // A modern client takes no requests from servers (input comes through input_required).
      if (isRequest(message)) return;
    }
    return this.inner.send(message, options);
  }
}
