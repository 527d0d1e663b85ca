import { backoffDelay } from '../../../shared/util/backoff.js';
import type { UpstreamSpec } from '../config/types.js';
import {
  ErrorCode,
  isNotification,
  isRequest,
  isResponse,
  type JsonRpcErrorObject,
  type JsonRpcId,
  type JsonRpcMessage,
  type JsonRpcNotification,
  type JsonRpcRequest,
  type JsonRpcResponse,
} from '../jsonrpc/messages.js';
import type { Logger } from '../log.js';
import { discardPrespawned } from '../transport/prespawn.js';
import { SdkTransportAdapter } from '../transport/sdk-transport-adapter.js';
import { type ExitInfo, StdioClientTransport } from '../transport/stdio-client-transport.js';
import type { JsonRpcTransport } from '../transport/transport.js';

/** A tool as an upstream server lists it; kept verbatim so nothing is lost in transit. */
export type ToolDefinition = Record<string, unknown> & {
  name: string;
  inputSchema?: Record<string, unknown>;
};

export type UpstreamState = 'idle' | 'starting' | 'ready' | 'down' | 'closed';

/** What the session hears from an upstream server. */
export interface UpstreamListener {
  onNotification(server: UpstreamServer, message: JsonRpcNotification): void;
  /** A server-to-client request (elicitation, sampling, roots, ping). */
  onRequest(server: UpstreamServer, message: JsonRpcRequest): void;
  /** Tools were (re)loaded or the server went up or down. */
  onChanged(server: UpstreamServer): void;
}

/** Raised for requests the proxy itself sends when the server cannot answer. */
export class UpstreamError extends Error {
  constructor(
    message: string,
    readonly rpc: JsonRpcErrorObject,
  ) {
    super(message);
    this.name = 'UpstreamError';
  }
}

/** Receives the answer; `raw` is its exact text when the transport kept it. */
type PendingHandler = (response: JsonRpcResponse, raw?: string) => void;

const MAX_BACKOFF_MS = 30_000;
const STABLE_AFTER_MS = 30_000;

/**
 * One upstream MCP server: connects, initializes with the client's own
 * capabilities, keeps its tool list, maps request ids, and when the server
 * crashes fails what was in flight with an explanation and restarts it with
 * exponential backoff. It never throws from `start`, so one broken server
 * cannot block the others.
 */
export class UpstreamServer {
  state: UpstreamState = 'idle';
  tools: ToolDefinition[] = [];
  capabilities: Record<string, unknown> = {};
  serverInfo: Record<string, unknown> | undefined;
  instructions: string | undefined;
  /** Why the server is down, in words an agent and a person can act on. */
  failure: string | undefined;

  private transport: JsonRpcTransport | undefined;
  private nextId = 1;
  private readonly pending = new Map<JsonRpcId, PendingHandler>();
  private initParams: Record<string, unknown> | undefined;
  private attempts = 0;
  private readyAt = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private starting: Promise<void> | undefined;

  constructor(
    readonly spec: UpstreamSpec,
    private readonly listener: UpstreamListener,
    private readonly log: Logger,
    private readonly options: { startupTimeoutMs: number; maxMessageBytes: number },
  ) {}

  get name(): string {
    return this.spec.name;
  }

  /** Connects and initializes. Resolves when ready or failed; never rejects. */
  start(initParams: Record<string, unknown>): Promise<void> {
    this.initParams = initParams;
    this.starting ??= this.connect().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  /**
   * Sends a client request on to this server under a fresh id, calling
   * `onResponse` with the server's answer (or an error if the server dies
   * first). Returns the upstream id, for cancellation.
   */
  forward(
    method: string,
    params: Record<string, unknown> | undefined,
    onResponse: PendingHandler,
  ): JsonRpcId {
    const id = this.nextId++;
    if (this.state !== 'ready' || !this.transport) {
      queueMicrotask(() => onResponse(this.unavailable(id)));
      return id;
    }
    this.pending.set(id, onResponse);
    const sent = this.transport.send(
      params === undefined
        ? { jsonrpc: '2.0', id, method }
        : { jsonrpc: '2.0', id, method, params },
    );
    if (sent) {
      sent.catch((err: unknown) => {
        const handler = this.pending.get(id);
        if (!handler) return;
        this.pending.delete(id);
        handler({
          jsonrpc: '2.0',
          id,
          error: {
            code: ErrorCode.ConnectionClosed,
            message: `upstream server '${this.name}' could not be reached: ${errorText(err)}`,
          },
        });
      });
    }
    return id;
  }

  /** A request of the proxy's own, as a promise. */
  request(
    method: string,
    params?: Record<string, unknown>,
    timeoutMs = this.options.startupTimeoutMs,
  ): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      let id: JsonRpcId = 0;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(
          new UpstreamError(
            `upstream server '${this.name}' did not answer ${method} within ${timeoutMs / 1000} s`,
            {
              code: ErrorCode.RequestTimeout,
              message: 'request timed out',
            },
          ),
        );
      }, timeoutMs);
      id = this.forward(method, params, (response) => {
        clearTimeout(timer);
        if ('error' in response) reject(new UpstreamError(response.error.message, response.error));
        else resolve(response.result);
      });
    });
  }

  notify(method: string, params?: Record<string, unknown>): void {
    if (this.state !== 'ready') return;
    void this.transport?.send(
      params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params },
    );
  }

  /** Answers a server-to-client request (after the client answered it). */
  respond(message: JsonRpcResponse): void {
    void this.transport?.send(message);
  }

  /** Cancels a forwarded request and forgets it. */
  cancel(upstreamId: JsonRpcId, reason: string): void {
    if (!this.pending.delete(upstreamId)) return;
    this.notify('notifications/cancelled', { requestId: upstreamId, reason });
  }

  async close(): Promise<void> {
    this.state = 'closed';
    clearTimeout(this.restartTimer);
    this.failPending(`the proxy is shutting down`);
    // Never started (the client left before initialize): a process the CLI
    // started early for it must not be left behind.
    if (this.spec.type === 'stdio') discardPrespawned(this.spec);
    await this.transport?.close();
  }

  private async connect(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'starting';
    this.readyAt = 0;
    const transport =
      this.spec.type === 'stdio' ? this.stdioTransport() : await this.httpTransport();
    // close() may have run while an HTTP transport was loading.
    if ((this.state as UpstreamState) === 'closed') return;
    this.transport = transport;
    transport.onmessage = (message, raw) => this.receive(message, raw);
    transport.onproblem = (problem) => {
      this.log.warn(
        `server '${this.name}' sent an unusable message (${problem.kind}): ${problem.detail}`,
      );
      // An answer we cannot use must still end the call it answers.
      const handler = problem.id === null ? undefined : this.pending.get(problem.id);
      if (handler && problem.id !== null) {
        this.pending.delete(problem.id);
        handler({
          jsonrpc: '2.0',
          id: problem.id,
          error: {
            code: ErrorCode.InternalError,
            message: `upstream server '${this.name}' answered with a ${problem.detail}`,
          },
        });
      }
    };
    transport.onerror = (error) =>
      this.log.debug(`server '${this.name}' transport error: ${error.message}`);
    transport.onclose = () => this.handleClose(transport);
    try {
      await this.within(
        transport.start(),
        `did not open its connection within ${this.options.startupTimeoutMs / 1000} s`,
      );
      // A process started early may have died before it was adopted: its
      // close was handled meanwhile (reported, restart scheduled).
      if (this.transport !== transport || (this.state as UpstreamState) !== 'starting') return;
      this.state = 'ready'; // lets the handshake requests through
      const init = await this.request('initialize', this.initParams);
      this.capabilities = (init.capabilities as Record<string, unknown>) ?? {};
      this.serverInfo = init.serverInfo as Record<string, unknown> | undefined;
      this.instructions = typeof init.instructions === 'string' ? init.instructions : undefined;
      this.notify('notifications/initialized');
      this.tools = this.capabilities.tools ? await this.listAll('tools/list', 'tools') : [];
      this.failure = undefined;
      this.readyAt = Date.now();
      this.log.info(`server '${this.name}' ready (${this.tools.length} tools)`);
      this.listener.onChanged(this);
    } catch (err) {
      // A crash during the handshake was already handled by handleClose.
      const state = this.state as UpstreamState; // handleClose may have run meanwhile
      if (this.transport !== transport || state === 'closed' || state === 'down') return;
      this.failure = this.describeFailure(transport, errorText(err));
      this.log.error(this.failure);
      this.state = 'down';
      this.failPending(this.failure);
      void transport.close();
      this.scheduleRestart();
      this.listener.onChanged(this);
    }
  }

  /**
   * `work`, or an error naming the server once the start-up timeout passes:
   * a legacy SSE server that accepts the stream but never sends its endpoint
   * would otherwise leave this server 'starting' for good, never restarted.
   */
  private within<T>(work: Promise<T>, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`upstream server '${this.name}' ${what}`)),
        this.options.startupTimeoutMs,
      );
    });
    return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
  }

  /** Reloads the tool list (after `notifications/tools/list_changed`). */
  async refreshTools(): Promise<void> {
    try {
      this.tools = await this.listAll('tools/list', 'tools');
      this.listener.onChanged(this);
    } catch (err) {
      this.log.warn(`server '${this.name}': could not reload tools: ${errorText(err)}`);
    }
  }

  /** Fetches every page of a list method. */
  async listAll(method: string, key: string): Promise<ToolDefinition[]> {
    const items: ToolDefinition[] = [];
    let cursor: unknown;
    for (let page = 0; page < 1000; page++) {
      const result = await this.request(method, cursor === undefined ? {} : { cursor });
      const list = result[key];
      if (Array.isArray(list)) items.push(...(list as ToolDefinition[]));
      cursor = result.nextCursor;
      if (typeof cursor !== 'string' || cursor === '') break;
    }
    return items;
  }

  private stdioTransport(): JsonRpcTransport {
    const t = new StdioClientTransport(
      this.spec as Extract<UpstreamSpec, { type: 'stdio' }>,
      this.options.maxMessageBytes,
    );
    t.onstderr = (line) => this.log.debug(`[${this.name}] ${line}`);
    return t;
  }

  // The SDK's HTTP client transports take about 60 ms to load: only a config
  // with a remote server pays for them.
  private async httpTransport(): Promise<JsonRpcTransport> {
    const spec = this.spec as Extract<UpstreamSpec, { type: 'http' | 'sse' }>;
    const url = new URL(spec.url);
    const requestInit = { headers: spec.headers };
    if (spec.type === 'sse') {
      const { SSEClientTransport } = await import('@modelcontextprotocol/sdk/client/sse.js');
      return new SdkTransportAdapter(new SSEClientTransport(url, { requestInit }));
    }
    const { StreamableHTTPClientTransport } = await import(
      '@modelcontextprotocol/sdk/client/streamableHttp.js'
    );
    return new SdkTransportAdapter(new StreamableHTTPClientTransport(url, { requestInit }));
  }

  private receive(message: JsonRpcMessage, raw?: string): void {
    if (isResponse(message)) {
      const id = message.id;
      if (id === null) {
        this.log.warn(
          `server '${this.name}' reported an error: ${'error' in message ? message.error.message : ''}`,
        );
        return;
      }
      const handler = this.pending.get(id);
      if (!handler) return; // late answer to a cancelled or timed-out request
      this.pending.delete(id);
      handler(message, raw);
    } else if (isRequest(message)) {
      this.listener.onRequest(this, message);
    } else if (isNotification(message)) {
      if (message.method === 'notifications/tools/list_changed') void this.refreshTools();
      this.listener.onNotification(this, message);
    }
  }

  private handleClose(transport: JsonRpcTransport): void {
    // 'down': the proxy gave up on this connection (a handshake that timed
    // out) and is closing it; the reason already given is the one to keep,
    // not the SIGTERM that closing it ends in.
    if (this.transport !== transport || this.state === 'closed' || this.state === 'down') return;
    this.failure = this.describeFailure(transport, 'the connection closed');
    this.state = 'down';
    this.log.error(this.failure);
    this.failPending(this.failure);
    if (this.readyAt && Date.now() - this.readyAt > STABLE_AFTER_MS) this.attempts = 0;
    this.scheduleRestart();
    this.listener.onChanged(this);
  }

  private scheduleRestart(): void {
    if (this.state === 'closed' || this.restartTimer) return;
    const delay = backoffDelay(this.attempts, { initialMs: 500, maxMs: MAX_BACKOFF_MS });
    this.attempts++;
    this.log.info(
      `restarting server '${this.name}' in ${(delay / 1000).toFixed(1)} s (attempt ${this.attempts})`,
    );
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.initParams) void this.start(this.initParams);
    }, delay);
    this.restartTimer.unref();
  }

  private failPending(reason: string): void {
    const handlers = [...this.pending.entries()];
    this.pending.clear();
    for (const [id, handler] of handlers) {
      handler({ jsonrpc: '2.0', id, error: { code: ErrorCode.ConnectionClosed, message: reason } });
    }
  }

  private unavailable(id: JsonRpcId): JsonRpcResponse {
    const why =
      this.failure ??
      (this.state === 'starting'
        ? `upstream server '${this.name}' is still starting`
        : `upstream server '${this.name}' is not running`);
    return { jsonrpc: '2.0', id, error: { code: ErrorCode.ConnectionClosed, message: why } };
  }

  private describeFailure(transport: JsonRpcTransport, fallback: string): string {
    const exit: ExitInfo | undefined =
      transport instanceof StdioClientTransport ? transport.exitInfo : undefined;
    let what: string;
    if (exit?.spawnError) what = `could not be started (${exit.spawnError})`;
    else if (exit?.signal) what = `was killed by ${exit.signal}`;
    else if (exit && exit.code !== null) what = `exited with status ${exit.code}`;
    else {
      // Errors of this class already start with the server's name; say it once.
      const own = `upstream server '${this.name}' `;
      what = fallback.startsWith(own) ? fallback.slice(own.length) : `failed: ${fallback}`;
    }
    const tail = exit?.stderrTail.trim();
    const lines = tail ? tail.split('\n').slice(-8).join('\n') : '';
    return `upstream server '${this.name}' ${what}${lines ? `. Last stderr output:\n${lines}` : ''}`;
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
