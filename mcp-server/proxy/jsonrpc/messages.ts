// JSON-RPC 2.0 as MCP uses it. The proxy routes messages without the SDK's
// per-message zod validation: it only needs `id`, `method` and a few params,
// and results it merely forwards are never re-validated.

export type JsonRpcId = string | number;

export interface JsonRpcRequest {
  jsonrpc: '2.0';
  id: JsonRpcId;
  method: string;
  params?: Record<string, unknown>;
}
export interface JsonRpcNotification {
  jsonrpc: '2.0';
  method: string;
  params?: Record<string, unknown>;
}
export interface JsonRpcResult {
  jsonrpc: '2.0';
  id: JsonRpcId;
  result: Record<string, unknown>;
}
export interface JsonRpcErrorObject {
  code: number;
  message: string;
  data?: unknown;
}
export interface JsonRpcError {
  jsonrpc: '2.0';
  id: JsonRpcId | null;
  error: JsonRpcErrorObject;
}
export type JsonRpcResponse = JsonRpcResult | JsonRpcError;
export type JsonRpcMessage = JsonRpcRequest | JsonRpcNotification | JsonRpcResponse;

/** Standard and MCP error codes. */
export const ErrorCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  RequestTimeout: -32001,
  ConnectionClosed: -32000,
} as const;

export function isRequest(m: JsonRpcMessage): m is JsonRpcRequest {
  return 'method' in m && 'id' in m && m.id !== undefined && m.id !== null;
}
export function isNotification(m: JsonRpcMessage): m is JsonRpcNotification {
  return 'method' in m && !('id' in m && m.id !== undefined && m.id !== null);
}
export function isResponse(m: JsonRpcMessage): m is JsonRpcResponse {
  return !('method' in m) && ('result' in m || 'error' in m);
}

export function errorResponse(
  id: JsonRpcId | null,
  code: number,
  message: string,
  data?: unknown,
): JsonRpcError {
  return {
    jsonrpc: '2.0',
    id,
    error: data === undefined ? { code, message } : { code, message, data },
  };
}

export function resultResponse(id: JsonRpcId, result: Record<string, unknown>): JsonRpcResult {
  return { jsonrpc: '2.0', id, result };
}

/**
 * Checks the envelope of something that parsed as JSON. Returns the message,
 * or a reason it is not a JSON-RPC 2.0 message (answered with -32600).
 */
export function checkEnvelope(
  value: unknown,
): { message: JsonRpcMessage } | { problem: string; id: JsonRpcId | null } {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return {
      problem: Array.isArray(value)
        ? 'JSON-RPC batches are not supported by MCP; send one message per line'
        : 'a JSON-RPC message must be a JSON object',
      id: null,
    };
  }
  const m = value as Record<string, unknown>;
  const id = typeof m.id === 'string' || typeof m.id === 'number' ? m.id : null;
  if (m.jsonrpc !== '2.0') return { problem: 'missing "jsonrpc": "2.0"', id };
  if ('method' in m) {
    if (typeof m.method !== 'string' || m.method === '')
      return { problem: '"method" must be a non-empty string', id };
    if (
      'params' in m &&
      m.params !== undefined &&
      (m.params === null || typeof m.params !== 'object' || Array.isArray(m.params))
    ) {
      return { problem: '"params" must be an object', id };
    }
    if ('id' in m && m.id !== undefined && id === null)
      return { problem: '"id" must be a string or a number', id: null };
    return { message: value as JsonRpcMessage };
  }
  if ('result' in m || 'error' in m) {
    // The router reads `result.isError` and `error.code` of what it relays: a
    // null there would throw in a stream handler and take the proxy down.
    if ('error' in m) {
      const e = m.error as Record<string, unknown> | null;
      if (
        e === null ||
        typeof e !== 'object' ||
        typeof e.code !== 'number' ||
        typeof e.message !== 'string'
      )
        return { problem: 'malformed "error" (it needs a numeric code and a message)', id };
    } else if (m.result === null || typeof m.result !== 'object' || Array.isArray(m.result)) {
      return { problem: 'malformed "result" (MCP results are objects)', id };
    }
    return { message: value as JsonRpcMessage };
  }
  return { problem: 'neither a request, a notification nor a response', id };
}
