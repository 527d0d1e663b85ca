const EDGE_BYTES = 512;

/** The start and end of a line too long to keep, so its JSON-RPC id can still be found. */
export interface OversizedLine {
  bytes: number;
  head: string;
  tail: string;
}

/**
 * Splits a byte stream into newline-delimited messages (MCP's stdio framing),
 * refusing any line longer than `maxBytes` without buffering it: the oversized
 * line is skipped up to its newline and reported once, with its first and
 * last bytes so the sender can still be answered.
 */
export class LineFramer {
  private chunks: Buffer[] = [];
  private size = 0;
  private skipping = false;
  private head = '';
  private tail: Buffer = Buffer.alloc(0);

  constructor(
    private readonly maxBytes: number,
    private readonly onLine: (line: string) => void,
    private readonly onOversized: (line: OversizedLine) => void,
  ) {}

  push(data: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = data.indexOf(10, start);
      if (nl === -1) {
        this.append(data.subarray(start));
        return;
      }
      this.append(data.subarray(start, nl));
      this.finishLine();
      start = nl + 1;
    }
  }

  private append(part: Buffer): void {
    if (part.length === 0) return;
    if (this.skipping) {
      this.size += part.length;
      this.keepTail(part);
      return;
    }
    this.size += part.length;
    if (this.size > this.maxBytes) {
      this.skipping = true;
      const sofar = Buffer.concat([...this.chunks, part]);
      this.head = sofar.subarray(0, EDGE_BYTES).toString('utf8');
      this.tail = Buffer.alloc(0);
      this.keepTail(sofar);
      this.chunks = [];
      return;
    }
    this.chunks.push(part);
  }

  private finishLine(): void {
    if (this.skipping) {
      const line = { bytes: this.size, head: this.head, tail: this.tail.toString('utf8') };
      this.skipping = false;
      this.size = 0;
      this.head = '';
      this.tail = Buffer.alloc(0);
      this.onOversized(line);
      return;
    }
    const line =
      this.chunks.length === 1
        ? this.chunks[0]!.toString('utf8')
        : Buffer.concat(this.chunks, this.size).toString('utf8');
    this.chunks = [];
    this.size = 0;
    // Tolerate CRLF and blank lines from sloppy peers.
    const trimmed = line.endsWith('\r') ? line.slice(0, -1) : line;
    if (trimmed.trim() !== '') this.onLine(trimmed);
  }

  private keepTail(part: Buffer): void {
    const joined = part.length >= EDGE_BYTES ? part : Buffer.concat([this.tail, part]);
    this.tail = joined.subarray(Math.max(0, joined.length - EDGE_BYTES));
  }
}

/**
 * Finds the JSON-RPC id of a message from its first and last bytes. The SDK
 * serialises `id` after `params` / `result`, so the tail is tried first (its
 * last `"id"` is the top-level one); then the head.
 *
 * @example
 * guessMessageId({ bytes: 9e6, head: '{"method":"tools/call",', tail: '...},"jsonrpc":"2.0","id":7}' }) // 7
 */
export function guessMessageId(line: OversizedLine): string | number | null {
  const pattern = /"id"\s*:\s*(-?\d+|"(?:[^"\\]|\\.)*")\s*[,}]/g;
  const tailMatches = [...line.tail.matchAll(pattern)];
  const match = tailMatches[tailMatches.length - 1] ?? pattern.exec(line.head);
  if (!match) return null;
  try {
    return JSON.parse(match[1]!) as string | number;
  } catch {
    return null;
  }
}
