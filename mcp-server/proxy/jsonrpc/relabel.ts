import type { JsonRpcId } from './messages.js';

/**
 * Gives a serialised JSON-RPC message a new top-level id without parsing and
 * re-serialising it, so a large tool result is relayed as the bytes the server
 * sent. It applies only when the text ends with `"id":<old>}` (how the MCP
 * SDKs serialise: id last, no spaces); those characters are then the last
 * member of the top-level object, since inside a JSON string the quotes would
 * be escaped. Anything else returns undefined and the caller serialises.
 *
 * @example
 * relabelId('{"result":{},"jsonrpc":"2.0","id":57}', 57, 'a1') // '{"result":{},"jsonrpc":"2.0","id":"a1"}'
 */
export function relabelId(raw: string, oldId: JsonRpcId, newId: JsonRpcId): string | undefined {
  const tail = `"id":${JSON.stringify(oldId)}}`;
  if (!raw.endsWith(tail)) return undefined;
  return `${raw.slice(0, raw.length - tail.length)}"id":${JSON.stringify(newId)}}`;
}
