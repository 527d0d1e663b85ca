/**
 * The result of reading a JSON column back from SQLite. The file may have
 * been written by the seed, by another tool, or damaged, so a bad value is
 * reported next to its raw text instead of failing the whole read.
 *
 * @example
 * const parsed: StoredJson = parseStoredJson(row.payload);
 * if (!parsed.ok) console.warn(parsed.error, parsed.raw);
 */
export type StoredJson = { ok: true; value: unknown } | { ok: false; raw: string; error: string };

/**
 * Parses one JSON column value defensively. SQL NULL (and an empty string)
 * read as `null`; a non-text value or malformed JSON comes back with `ok:
 * false`, the raw text and the reason.
 *
 * @example
 * parseStoredJson('{"a":1}') // { ok: true, value: { a: 1 } }
 * parseStoredJson('{oops')   // { ok: false, raw: '{oops', error: 'invalid JSON: ...' }
 */
export function parseStoredJson(text: unknown): StoredJson {
  if (text === null || text === undefined || text === '') return { ok: true, value: null };
  if (typeof text !== 'string') {
    return { ok: false, raw: String(text), error: `expected JSON text, found a ${typeof text}` };
  }
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    return { ok: false, raw: text, error: `invalid JSON: ${detail}` };
  }
}

/**
 * Like {@link parseStoredJson} but for columns that must hold a JSON object
 * (payload, metadata): NULL reads as `{}`; valid JSON that is not an object
 * is reported as a problem.
 *
 * @example
 * parseStoredObject(null) // { ok: true, value: {} }
 * parseStoredObject('[1]') // { ok: false, raw: '[1]', error: 'expected a JSON object, found an array' }
 */
export function parseStoredObject(
  text: unknown,
): { ok: true; value: Record<string, unknown> } | { ok: false; raw: string; error: string } {
  const parsed = parseStoredJson(text);
  if (!parsed.ok) return parsed;
  const value = parsed.value;
  if (value === null) return { ok: true, value: {} };
  if (typeof value === 'object' && !Array.isArray(value)) {
    return { ok: true, value: value as Record<string, unknown> };
  }
  const kind = Array.isArray(value) ? 'an array' : `a ${typeof value}`;
  return { ok: false, raw: String(text), error: `expected a JSON object, found ${kind}` };
}

/**
 * A TEXT column as read back: SQLite's dynamic typing means it may hold anything.
 *
 * @example
 * textOrNull(42) // '42'
 */
export function textOrNull(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  return typeof value === 'string' ? value : String(value);
}

/**
 * The seed stored `runs.success` as 0/1; anything else reads as unknown.
 *
 * @example
 * successFlag(1) // true
 */
export function successFlag(value: unknown): boolean | null {
  if (value === 1 || value === 1n || value === '1' || value === true) return true;
  if (value === 0 || value === 0n || value === '0' || value === false) return false;
  return null;
}
