import type { JsonRpcMessage } from '../jsonrpc/messages.js';

/**
 * Gathers the messages produced during one turn of the event loop and writes
 * them with a single call: under concurrent load one `write` (one syscall)
 * then carries many messages instead of one each.
 */
export class WriteCoalescer {
  private queue: string[] = [];
  private scheduled = false;

  constructor(private readonly write: (data: string) => void) {}

  push(message: JsonRpcMessage): void {
    this.pushRaw(JSON.stringify(message));
  }

  /** Queues a message that is already one line of JSON. */
  pushRaw(line: string): void {
    this.queue.push(line);
    if (this.scheduled) return;
    this.scheduled = true;
    // setImmediate runs right after this turn's I/O callbacks, so a burst of
    // answers to one chunk of requests leaves together, without added delay.
    setImmediate(() => this.flush());
  }

  flush(): void {
    this.scheduled = false;
    if (this.queue.length === 0) return;
    const data = `${this.queue.join('\n')}\n`;
    this.queue = [];
    this.write(data);
  }
}
