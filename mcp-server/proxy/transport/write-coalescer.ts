import type { JsonRpcMessage } from '../jsonrpc/messages.js';

/**
 * Writes the first message of an event-loop turn at once and gathers the
 * rest of that turn into a single write right after it: a lone call (the
 * sequential case) leaves without waiting for the turn to end, and under
 * concurrent load one `write` (one syscall) still carries many messages.
 */
export class WriteCoalescer {
  private queue: string[] = [];
  /** True from a write until the end of its turn: later messages wait for the batch. */
  private busy = false;

  constructor(private readonly write: (data: string) => void) {}

  push(message: JsonRpcMessage): void {
    this.pushRaw(JSON.stringify(message));
  }

  /** Queues a message that is already one line of JSON. */
  pushRaw(line: string): void {
    if (this.busy) {
      this.queue.push(line);
      return;
    }
    this.busy = true;
    // setImmediate runs right after this turn's I/O callbacks, so a burst of
    // answers to one chunk of requests leaves together, without added delay.
    setImmediate(() => this.flush());
    this.write(`${line}\n`);
  }

  flush(): void {
    this.busy = false;
    if (this.queue.length === 0) return;
    const data = `${this.queue.join('\n')}\n`;
    this.queue = [];
    this.write(data);
  }
}
