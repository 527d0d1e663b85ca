/**
 * True for the file names SQLite opens as a private in-memory database
 * (`:memory:`, and the empty name, a temporary one): no file, so no -wal
 * beside it, no modes to set and nothing another connection could open.
 *
 * @example
 * isMemoryDatabase(':memory:') // true
 * isMemoryDatabase('telemetry.db') // false
 */
export function isMemoryDatabase(file: string): boolean {
  return file === ':memory:' || file === '';
}
