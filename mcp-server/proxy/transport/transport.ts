import type { JsonRpcId, JsonRpcMessage } from '../jsonrpc/messages.js';

/** Options for sending one message. */
export interface SendOptions {
  /** Ties a server-to-client message to the client request it belongs to (Streamable HTTP streams). */
  relatedRequestId?: JsonRpcId;
}

/** Why a transport delivered something that is not a usable message. */
export interface FramingProblem {
  kind: 'parse' | 'envelope' | 'oversized';
  detail: string;
  id: JsonRpcId | null;
}

/**
 * A bidirectional JSON-RPC channel: the client side (stdio or Streamable HTTP)
 * or one upstream server (stdio, Streamable HTTP, SSE). Deliberately close to
 * the SDK's Transport so SDK transports adapt in a few lines.
 */
export interface JsonRpcTransport {
  start(): Promise<void>;
  /** May return a promise that rejects when the message could not be delivered (HTTP). */
  send(message: JsonRpcMessage, options?: SendOptions): void | Promise<void>;
  close(): Promise<void>;
  /** Sends one already-serialised message (a single line of JSON), when the transport can. */
  sendRaw?(line: string, options?: SendOptions): void;
  /** `raw` is the message's exact text when the transport has it (stdio), so it can be relayed without re-serialising. */
  onmessage?: (message: JsonRpcMessage, raw?: string) => void;
  onproblem?: (problem: FramingProblem) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;
}
