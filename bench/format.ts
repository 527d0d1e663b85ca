/** One measured figure, optionally beside the baseline it is compared with. */
export interface BenchRow {
  name: string;
  value: number;
  unit: string;
  baseline?: { name: string; value: number };
  /** Human-readable target, e.g. `>= 1,000,000/s` or `>= 0.5x baseline`. */
  target?: string;
  pass?: boolean;
}

/**
 * A wall-time row against an upper bound in seconds.
 *
 * @example
 * rows.push(secondsRow('sweep email_draft', 41.2, 60)); // target '< 60 s', pass true
 */
export function secondsRow(name: string, seconds: number, targetS: number): BenchRow {
  return { name, value: seconds, unit: 's', target: `< ${targetS} s`, pass: seconds < targetS };
}

/** Median of a non-empty list of numbers. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function fmt(n: number): string {
  if (n >= 100) return Math.round(n).toLocaleString('en-US');
  return n.toLocaleString('en-US', { maximumFractionDigits: 3 });
}

/** Prints rows as an aligned table with baseline, ratio and target columns. */
export function printTable(title: string, rows: readonly BenchRow[]): void {
  const header = ['measure', 'value', 'baseline', 'ratio', 'target', 'ok'];
  const body = rows.map((r) => [
    r.name,
    `${fmt(r.value)} ${r.unit}`,
    r.baseline ? `${fmt(r.baseline.value)} ${r.unit} (${r.baseline.name})` : '-',
    // A ratio to a budget that is used up (zero or below) would read as a figure; it is none.
    r.baseline && r.baseline.value > 0 ? `${(r.value / r.baseline.value).toFixed(2)}x` : '-',
    r.target ?? '-',
    r.pass === undefined ? '-' : r.pass ? 'yes' : 'NO',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  console.log(`\n${title}`);
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of body) console.log(line(row));
}
