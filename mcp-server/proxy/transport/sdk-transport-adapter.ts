import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { JsonRpcMessage } from '../jsonrpc/messages.js';
import type { JsonRpcTransport, SendOptions } from './transport.js';

/**
 * Wraps one of the SDK's transports (Streamable HTTP client or server, legacy
 * SSE client) so the proxy's router can use it like its own stdio transports.
 * HTTP is where the SDK's session and stream handling earns its keep.
 */
export class SdkTransportAdapter implements JsonRpcTransport {
  onmessage?: (message: JsonRpcMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;

  constructor(readonly inner: Transport) {
    inner.onmessage = (message) => this.onmessage?.(message as JsonRpcMessage);
    inner.onclose = () => this.onclose?.();
    inner.onerror = (error) => this.onerror?.(error);
  }

  start(): Promise<void> {
    return this.inner.start();
  }

  send(message: JsonRpcMessage, options?: SendOptions): Promise<void> {
    return this.inner.send(
      message as JSONRPCMessage,
      options?.relatedRequestId === undefined
        ? undefined
        : { relatedRequestId: options.relatedRequestId },
    );
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
