import * as crypto from 'node:crypto';

/**
 * Serialises a JSON value with object keys sorted (RFC 8785 style), so two
 * objects that differ only in key order produce the same text. Follows
 * `JSON.stringify` for everything else: `undefined` members are dropped,
 * non-finite numbers become `null`, `toJSON` is honoured.
 *
 * @example
 * canonicalJson({ b: 1, a: [true, null] }) // '{"a":[true,null],"b":1}'
 */
export function canonicalJson(value: unknown): string {
  const out = serialise(value);
  // A bare `undefined` (or function) has no JSON form; treat it as null so the
  // hash of "no arguments" is still well defined.
  return out ?? 'null';
}

function serialise(value: unknown): string | undefined {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      throw new TypeError('canonicalJson: BigInt has no JSON representation');
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
  }
  const withToJson = value as { toJSON?: () => unknown };
  if (typeof withToJson.toJSON === 'function') return serialise(withToJson.toJSON());
  if (Array.isArray(value)) {
    return `[${value.map((item) => serialise(item) ?? 'null').join(',')}]`;
  }
  const record = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const key of Object.keys(record).sort()) {
    const member = serialise(record[key]);
    if (member !== undefined) parts.push(`${JSON.stringify(key)}:${member}`);
  }
  return `{${parts.join(',')}}`;
}

/**
 * SHA-256 (hex) of the canonical JSON of a tool call's arguments. A decision is
 * bound to this hash, so an approval cannot be replayed against other
 * arguments. Stable across processes and independent of key order.
 *
 * @example
 * argsHash({ path: 'a.txt', content: 'hi' }) === argsHash({ content: 'hi', path: 'a.txt' }) // true
 */
export function argsHash(args: unknown): string {
  return sha256Hex(canonicalJson(args));
}

// crypto.hash (Node 20.12+, 21.7+) hashes a short string in one call, about
// 2.5x faster than createHash().update().digest(); this runs for every call.
const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: 'hex') => string })
  .hash;
const sha256Hex: (text: string) => string = oneShot
  ? (text) => oneShot('sha256', text, 'hex')
  : (text) => crypto.createHash('sha256').update(text, 'utf8').digest('hex');
