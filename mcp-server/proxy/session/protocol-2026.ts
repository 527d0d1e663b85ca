// The 2026-07-28 revision of MCP ("modern" era) as the proxy serves it: no
// initialize handshake, a `_meta` envelope on every request (protocol
// version, client capabilities, client info), `server/discover`, a
// `resultType` on every result, cache hints on list results, and multi
// round-trip requests (`input_required`) instead of server-to-client
// requests. One file for this wire's vocabulary, used by the stdio and HTTP
// downstreams alike; the upstream servers behind the proxy stay whatever era
// they are (2025-era ones are initialized as before).

import type {
  JsonRpcError,
  JsonRpcId,
  JsonRpcMessage,
  JsonRpcRequest,
} from '../jsonrpc/messages.js';
import { errorResponse } from '../jsonrpc/messages.js';

/** The modern revision the proxy serves natively. */
export const MODERN_PROTOCOL_VERSION = '2026-07-28';
/** What `server/discover` lists: the modern revision, then the 2025-era ones (served through initialize). */
export const DISCOVER_SUPPORTED_VERSIONS = [
  MODERN_PROTOCOL_VERSION,
  '2025-11-25',
  '2025-06-18',
  '2025-03-26',
  '2024-11-05',
];

export const META_PROTOCOL_VERSION = 'io.modelcontextprotocol/protocolVersion';
export const META_CLIENT_CAPABILITIES = 'io.modelcontextprotocol/clientCapabilities';
export const META_CLIENT_INFO = 'io.modelcontextprotocol/clientInfo';
export const META_SERVER_INFO = 'io.modelcontextprotocol/serverInfo';
export const META_LOG_LEVEL = 'io.modelcontextprotocol/logLevel';

/** Error codes this revision adds. */
export const ModernErrorCode = {
  HeaderMismatch: -32020,
  MissingRequiredClientCapability: -32021,
  UnsupportedProtocolVersion: -32022,
} as const;

/**
 * Methods of the 2025 era that the 2026-07-28 revision removed: a modern
 * request for one is answered "Method not found" (HTTP 404), as the spec asks.
 * (`subscriptions/listen` replaces the GET stream and `resources/subscribe`.)
 */
const REMOVED_METHODS = new Set([
  'initialize',
  'ping',
  'logging/setLevel',
  'resources/subscribe',
  'resources/unsubscribe',
]);

export const META_SUBSCRIPTION_ID = 'io.modelcontextprotocol/subscriptionId';

/**
 * Which `subscriptions/listen` filter flag each list-changed notification
 * needs. Resource subscriptions (`resourceSubscriptions`) are not offered:
 * the servers behind would need a `resources/subscribe` of their own.
 */
export const LISTEN_FILTER_OF: Readonly<Record<string, string>> = {
  'notifications/tools/list_changed': 'toolsListChanged',
  'notifications/prompts/list_changed': 'promptsListChanged',
  'notifications/resources/list_changed': 'resourcesListChanged',
};

/** Results that carry cache hints (`ttlMs`, `cacheScope`) on this revision. */
const CACHEABLE = new Set([
  'tools/list',
  'prompts/list',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'server/discover',
]);

/** Results that may be `input_required` (multi round-trip requests). */
const MULTI_ROUND_METHODS = new Set(['tools/call', 'prompts/get', 'resources/read']);

/** The per-request envelope of a modern request. */
export interface ModernEnvelope {
  protocolVersion: string;
  clientCapabilities: Record<string, unknown>;
  clientInfo?: Record<string, unknown>;
  logLevel?: string;
}

/**
 * True when a request speaks the 2026-07-28 wire: it carries the envelope's
 * protocol version, or it is `server/discover` (which only that era has).
 *
 * @example
 * isModernRequest({ jsonrpc: '2.0', id: 1, method: 'server/discover' }) // true
 */
export function isModernRequest(msg: JsonRpcRequest): boolean {
  if (msg.method === 'server/discover') return true;
  const meta = msg.params?._meta;
  return !!meta && typeof meta === 'object' && META_PROTOCOL_VERSION in meta;
}

/**
 * Checks a modern request's envelope. Returns it, or the JSON-RPC error to
 * answer with (missing fields: -32602; a version the proxy does not serve
 * natively: -32022 with the versions it does; an `MCP-Protocol-Version`
 * header that disagrees: -32020).
 *
 * @example
 * const checked = checkEnvelope2026(msg, req.headers['mcp-protocol-version']);
 * if ('error' in checked) return send(checked.error);
 */
export function checkModernEnvelope(
  msg: JsonRpcRequest,
  headerVersion?: string,
): { envelope: ModernEnvelope } | { error: JsonRpcError } {
  const meta = msg.params?._meta as Record<string, unknown> | undefined;
  const fail = (code: number, message: string, data?: unknown) => ({
    error: errorResponse(msg.id, code, message, data),
  });
  if (!meta || typeof meta !== 'object')
    return fail(
      -32602,
      `Invalid params: ${msg.method} lacks the _meta envelope that protocol ${MODERN_PROTOCOL_VERSION} requires on every request (${META_PROTOCOL_VERSION}, ${META_CLIENT_CAPABILITIES})`,
    );
  const version = meta[META_PROTOCOL_VERSION];
  const caps = meta[META_CLIENT_CAPABILITIES];
  if (typeof version !== 'string')
    return fail(-32602, `Invalid params: _meta lacks the string ${META_PROTOCOL_VERSION}`);
  if (!caps || typeof caps !== 'object' || Array.isArray(caps))
    return fail(-32602, `Invalid params: _meta lacks the object ${META_CLIENT_CAPABILITIES}`);
  if (headerVersion !== undefined && headerVersion !== version)
    return fail(
      ModernErrorCode.HeaderMismatch,
      `Header mismatch: the MCP-Protocol-Version header says ${headerVersion} but _meta says ${version}`,
    );
  if (version !== MODERN_PROTOCOL_VERSION)
    return fail(
      ModernErrorCode.UnsupportedProtocolVersion,
      `Unsupported protocol version ${version}: hitloop serves ${MODERN_PROTOCOL_VERSION} per request, and the 2025-era versions through initialize`,
      { supported: DISCOVER_SUPPORTED_VERSIONS, requested: version },
    );
  const info = meta[META_CLIENT_INFO];
  const level = meta[META_LOG_LEVEL];
  return {
    envelope: {
      protocolVersion: version,
      clientCapabilities: caps as Record<string, unknown>,
      ...(info && typeof info === 'object' ? { clientInfo: info as Record<string, unknown> } : {}),
      ...(typeof level === 'string' ? { logLevel: level } : {}),
    },
  };
}

/** The client capabilities a modern request declares (empty for any other request). */
export function modernCapabilities(msg: JsonRpcRequest): Record<string, unknown> {
  const meta = msg.params?._meta as Record<string, unknown> | undefined;
  const caps = meta?.[META_CLIENT_CAPABILITIES];
  return caps && typeof caps === 'object' ? (caps as Record<string, unknown>) : {};
}

/** The answer to a modern request for a method this revision removed, if it is one. */
export function removedMethodError(msg: JsonRpcRequest): JsonRpcError | undefined {
  if (!REMOVED_METHODS.has(msg.method)) return undefined;
  return errorResponse(
    msg.id,
    -32601,
    `Method not found: ${msg.method} is not part of protocol ${MODERN_PROTOCOL_VERSION}`,
  );
}

/**
 * The answer to `server/discover`: what the proxy serves, as initialize
 * would have said it. Changes reach `subscriptions/listen` streams
 * (EraTransport); resource subscriptions would need the servers' own, so
 * `subscribe` is not offered.
 *
 * @example
 * discoverResult('') // { supportedVersions: ['2026-07-28', ...], capabilities: { tools: { listChanged: true }, ... } }
 */
export function discoverResult(instructions: string): Record<string, unknown> {
  return {
    supportedVersions: DISCOVER_SUPPORTED_VERSIONS,
    capabilities: {
      tools: { listChanged: true },
      resources: { listChanged: true },
      prompts: { listChanged: true },
      completions: {},
    },
    ...(instructions ? { instructions } : {}),
  };
}

/**
 * Shapes a result for a modern client: `resultType` ("complete" unless the
 * proxy made it `input_required`), cache hints on cacheable results (no
 * caching: the proxy's lists change with its servers and its policy), the
 * proxy's identity in `_meta`, and no 2025-only fields (`execution` on tools,
 * `tasks` in capabilities).
 *
 * @example
 * encodeModernResult('tools/list', { tools }, { name: 'hitloop-proxy', version: '0.1.0' })
 * // { tools, resultType: 'complete', ttlMs: 0, cacheScope: 'private', _meta: { ... } }
 */
export function encodeModernResult(
  method: string,
  result: Record<string, unknown>,
  serverInfo: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...result };
  const type = out.resultType;
  if (type === undefined || (type !== 'complete' && !MULTI_ROUND_METHODS.has(method)))
    out.resultType = 'complete';
  if (out.resultType === 'complete' && CACHEABLE.has(method)) {
    if (!Number.isInteger(out.ttlMs) || (out.ttlMs as number) < 0) out.ttlMs = 0;
    if (out.cacheScope !== 'public' && out.cacheScope !== 'private') out.cacheScope = 'private';
  }
  if (method === 'tools/list' && Array.isArray(out.tools))
    out.tools = (out.tools as Array<Record<string, unknown>>).map((t) => {
      if (!t || typeof t !== 'object' || !('execution' in t)) return t;
      const { execution: _dropped, ...rest } = t;
      return rest;
    });
  const meta = out._meta;
  if (meta === undefined) out._meta = { [META_SERVER_INFO]: serverInfo };
  else if (meta && typeof meta === 'object' && !(META_SERVER_INFO in meta))
    out._meta = { ...(meta as object), [META_SERVER_INFO]: serverInfo };
  return out;
}

/**
 * The HTTP status a modern error answer travels with on Streamable HTTP:
 * 404 for an unknown method, 400 for the envelope, version and capability
 * errors, 200 for the rest (errors of the call itself).
 *
 * @example
 * httpStatusOfModernError(-32601) // 404
 */
export function httpStatusOfModernError(code: number): number {
  if (code === -32601) return 404;
  if (
    code === -32602 ||
    code === ModernErrorCode.HeaderMismatch ||
    code === ModernErrorCode.MissingRequiredClientCapability ||
    code === ModernErrorCode.UnsupportedProtocolVersion
  )
    return 400;
  return 200;
}

/** The envelope's protocol version of a message, if it is a modern request. */
export function requestMethodOf(message: JsonRpcMessage): string | undefined {
  return 'method' in message && 'id' in message ? message.method : undefined;
}

/** Keys of a JSON-RPC id, so 1 and "1" stay apart. */
export const idKey = (id: JsonRpcId) => (typeof id === 'number' ? `n${id}` : `s${id}`);
