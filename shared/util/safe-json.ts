/**
 * `JSON.parse` that answers `undefined` for text that is not JSON, for data
 * read back from a store or the wire, which a zod schema then checks.
 *
 * @example
 * const parsed = ApprovalRecord.safeParse(safeJson(row.data));
 */
export function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
