import type { Readable, Writable } from 'node:stream';
import type { JsonRpcMessage } from '../jsonrpc/messages.js';
import { messageFramer } from './parse-line.js';
import type { JsonRpcTransport } from './transport.js';
import { WriteCoalescer } from './write-coalescer.js';

/**
 * The client side over stdio: newline-delimited JSON on stdin/stdout. Only
 * protocol goes to stdout; everything else the proxy says goes to stderr.
 */
export class StdioServerTransport implements JsonRpcTransport {
  onmessage?: (message: JsonRpcMessage, raw?: string) => void;
  onproblem?: JsonRpcTransport['onproblem'];
  onclose?: () => void;
  onerror?: (error: Error) => void;
  private closed = false;
  private readonly writer = new WriteCoalescer((data) => this.output.write(data));

  constructor(
    private readonly input: Readable = process.stdin,
    private readonly output: Writable = process.stdout,
    private readonly maxBytes = 16 * 1024 * 1024,
  ) {}

  async start(): Promise<void> {
    const framer = messageFramer(this.maxBytes, this);
    this.input.on('data', (chunk: Buffer) => framer.push(chunk));
    this.input.on('end', () => void this.close());
    this.input.on('error', (err) => this.onerror?.(err));
    this.output.on('error', (err) => {
      // EPIPE: the client went away. Nothing more can be sent; shut down.
      this.onerror?.(err);
      void this.close();
    });
  }

  send(message: JsonRpcMessage): void {
    if (this.closed) return;
    this.writer.push(message);
  }

  sendRaw(line: string): void {
    if (this.closed) return;
    this.writer.pushRaw(line);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.writer.flush();
    this.closed = true;
    this.onclose?.();
  }
}
