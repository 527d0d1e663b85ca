import { argsHash } from './canonical-json.js';

/**
 * Redaction of secrets in tool arguments that hitloop stores at rest
 * (telemetry, settled records in approvals.db). A value whose key looks like
 * a secret is replaced by `sha256:` and the SHA-256 hex of its canonical
 * JSON, so analysts can still group and compare calls without reading the
 * secret. A hash of a short, guessable password can still be guessed by
 * trying candidates; it keeps the value from casual readers of the file.
 *
 * What a reviewer sees in a live approval card is never redacted: they must
 * see what they approve.
 */

/**
 * Key words treated as secrets by default, matched as whole words of a key:
 * `apiKey`, `X-Api-Key`, `github_token` and `DB_PASSWORD` match; `max_tokens`,
 * `author` and `keyboard` do not.
 */
export const DEFAULT_SECRET_KEY_WORDS = [
  'password',
  'passwd',
  'passphrase',
  'pwd',
  'secret',
  'token',
  'api_key',
  'apikey',
  'access_key',
  'private_key',
  'credential',
  'credentials',
  'authorization',
  'cookie',
  'session_id',
] as const;

// Tested on a key normalised to lower snake case with a `_` at each end.
const DEFAULT_WORDS = new RegExp(`_(?:${DEFAULT_SECRET_KEY_WORDS.join('|')})(?=_)`);
const REDACTED = /^sha256:[0-9a-f]{64}$/;

/** Decides whether an argument key names a secret. */
export type SecretKeyTest = (key: string) => boolean;

/**
 * The default test: a key is a secret when one of its words (split at `_`,
 * `-`, `.`, spaces and camelCase humps) is in {@link DEFAULT_SECRET_KEY_WORDS}.
 *
 * @example
 * isDefaultSecretKey('apiKey') // true
 * isDefaultSecretKey('max_tokens') // false
 */
export function isDefaultSecretKey(key: string): boolean {
  const words = key
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[-.\s]+/g, '_')
    .toLowerCase();
  return DEFAULT_WORDS.test(`_${words}_`);
}

/**
 * The test for a `redactKeys` setting: undefined or `true` for the default
 * words, `false` for no redaction, or a regular expression (a string is
 * compiled case-insensitively) tested against each key. Throws a TypeError
 * naming the problem for a string that is not a valid regular expression.
 *
 * @example
 * secretKeyTest('^(pin|otp)$')?.('PIN') // true
 * secretKeyTest(false) // undefined: store everything as is
 */
export function secretKeyTest(setting?: string | RegExp | boolean): SecretKeyTest | undefined {
  if (setting === false) return undefined;
  if (setting === undefined || setting === true) return isDefaultSecretKey;
  let pattern: RegExp;
  try {
    pattern = typeof setting === 'string' ? new RegExp(setting, 'i') : setting;
  } catch (err) {
    throw new TypeError(
      `redactKeys: ${JSON.stringify(setting)} is not a regular expression (${err instanceof Error ? err.message : String(err)}); write one such as "token|secret|password", or false for no redaction`,
    );
  }
  // A global or sticky regex would carry lastIndex from one key to the next.
  const stable = new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ''));
  return (key) => stable.test(key);
}

/**
 * `value` with every member whose key passes `isSecret` (at any depth)
 * replaced by `sha256:<hex of its canonical JSON>`. Returns the same object
 * when nothing matched, so the common case costs no copy.
 *
 * @example
 * redactSecrets({ url: 'https://x', headers: { Authorization: 'Bearer abc' } }, isDefaultSecretKey)
 * // { url: 'https://x', headers: { Authorization: 'sha256:…' } }
 */
export function redactSecrets<T>(value: T, isSecret: SecretKeyTest): T {
  return redactNode(value, isSecret, 0) as T;
}

/**
 * The stored form of a secret value: stable across processes and key order.
 * A value already in that form is kept, so redacting twice changes nothing.
 *
 * @example
 * redactedValue('hunter2') // 'sha256:…' (64 hex digits)
 */
export function redactedValue(value: unknown): string {
  if (typeof value === 'string' && REDACTED.test(value)) return value;
  return `sha256:${argsHash(value)}`;
}

function redactNode(node: unknown, isSecret: SecretKeyTest, depth: number): unknown {
  // Arguments come from JSON; the depth guard keeps a hostile value from
  // overflowing the stack in a logging path.
  if (node === null || typeof node !== 'object' || depth > 64) return node;
  if (Array.isArray(node)) {
    let out: unknown[] | undefined;
    node.forEach((item, i) => {
      const next = redactNode(item, isSecret, depth + 1);
      if (next !== item) {
        out ??= node.slice();
        out[i] = next;
      }
    });
    return out ?? node;
  }
  let out: Record<string, unknown> | undefined;
  const record = node as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    const child = record[key];
    const next = isSecret(key) ? redactedValue(child) : redactNode(child, isSecret, depth + 1);
    if (next !== child) {
      // Object.defineProperty keeps any key as an own data property.
      out ??= { ...record };
      Object.defineProperty(out, key, {
        value: next,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
  }
  return out ?? node;
}
