import type { ChildProcess } from 'node:child_process';
import type { JsonRpcMessage } from '../jsonrpc/messages.js';
import { messageFramer } from './parse-line.js';
import { adoptPrespawned, keepStderrTail, spawnServer } from './prespawn.js';
import type { JsonRpcTransport } from './transport.js';
import { WriteCoalescer } from './write-coalescer.js';

/** How an upstream process ended, for error messages that name the cause. */
export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all (e.g. ENOENT). */
  spawnError?: string;
  stderrTail: string;
}

/**
 * Spawns an MCP server and speaks newline-delimited JSON over its stdio.
 * Keeps the tail of its stderr so a crash can be explained to the agent.
 */
export class StdioClientTransport implements JsonRpcTransport {
  onmessage?: (message: JsonRpcMessage, raw?: string) => void;
  onproblem?: JsonRpcTransport['onproblem'];
  onclose?: () => void;
  onerror?: (error: Error) => void;
  /** Each complete stderr line, for logging. */
  onstderr?: (line: string) => void;
  exitInfo: ExitInfo | undefined;
  private child: ChildProcess | undefined;
  private stderrTail = '';
  private closing = false;
  private readonly writer = new WriteCoalescer((data) => {
    const stdin = this.child?.stdin;
    if (stdin && !stdin.destroyed) stdin.write(data);
  });

  constructor(
    private readonly spec: {
      command: string;
      args: string[];
      env: Record<string, string>;
      cwd?: string;
    },
    private readonly maxBytes = 16 * 1024 * 1024,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    // A process the CLI started while the proxy was loading, or a new one.
    const early = adoptPrespawned(this.spec);
    const child = early?.child ?? spawnServer(this.spec);
    this.child = child;
    if (early) {
      early.release();
      this.stderrTail = early.stderr;
    }
    const framer = messageFramer(this.maxBytes, this);
    child.stdout!.on('data', (chunk: Buffer) => framer.push(chunk));
    let pendingErr = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      this.stderrTail = keepStderrTail(this.stderrTail, text);
      pendingErr += text;
      const lines = pendingErr.split('\n');
      pendingErr = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) this.onstderr?.(line);
    });
    // A write to a dead child raises EPIPE on stdin; the exit handler reports it.
    child.stdin!.on('error', () => {});
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      this.exitInfo ??= { code, signal, stderrTail: '' };
      // stdout may still hold buffered messages, and stderr the reason it
      // died: wait for both to end, but not forever: a grandchild
      // (npx -> node) can keep a pipe open.
      const open = [child.stdout!, child.stderr!].filter((s) => !s.readableEnded);
      let left = open.length;
      if (left === 0) return this.finish();
      for (const stream of open)
        stream.once('end', () => {
          if (--left === 0) this.finish();
        });
      setTimeout(() => this.finish(), 1000).unref();
    };
    // A process started early may have ended before it was adopted.
    if (child.exitCode !== null || child.signalCode !== null)
      queueMicrotask(() => onExit(child.exitCode, child.signalCode));
    else child.once('exit', onExit);
    await new Promise<void>((resolve, reject) => {
      const fail = (err: Error) => {
        this.exitInfo = {
          code: null,
          signal: null,
          spawnError: err.message,
          stderrTail: this.stderrTail,
        };
        reject(err);
        this.finish();
      };
      if (early?.error) return fail(early.error);
      child.once('error', fail);
      if (early?.spawned) resolve();
      else child.once('spawn', () => resolve());
    });
  }

  send(message: JsonRpcMessage): void {
    if (!this.child?.stdin || this.child.stdin.destroyed) return;
    this.writer.push(message);
  }

  async close(): Promise<void> {
    const child = this.child;
    if (!child || this.closing) return;
    this.closing = true;
    if (child.exitCode !== null || child.signalCode !== null) return;
    this.writer.flush();
    child.stdin?.end();
    // Give the server a moment to exit on EOF (the MCP stdio shutdown), then insist.
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const timer = setTimeout(() => child.kill('SIGTERM'), 2000);
    const hard = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
    clearTimeout(hard);
  }

  private finished = false;
  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.exitInfo) this.exitInfo.stderrTail = this.stderrTail;
    this.onclose?.();
  }
}
