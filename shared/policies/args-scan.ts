/**
 * Returns the first string key or string value inside a JSON-like value that
 * `test` accepts. Walking the structure avoids serialising arguments on the
 * hot path of every policy decision.
 */
export function findString(
  value: unknown,
  test: (text: string) => boolean,
  depth = 0,
): string | undefined {
  if (typeof value === 'string') return test(value) ? value : undefined;
  if (value === null || typeof value !== 'object' || depth > 32) return undefined;
  if (Array.isArray(value)) {
    for (const item of value) {
      const hit = findString(item, test, depth + 1);
      if (hit !== undefined) return hit;
    }
    return undefined;
  }
  for (const key in value) {
    if (test(key)) return key;
    const hit = findString((value as Record<string, unknown>)[key], test, depth + 1);
    if (hit !== undefined) return hit;
  }
  return undefined;
}

/** Reads a number from an argument that may be a number or a numeric string. */
export function asNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string' && value.trim() !== '') {
    const n = Number(value.replace(/[,_\s]/g, ''));
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}
