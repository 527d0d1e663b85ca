import type { ApprovalBackend } from '../../../shared/backends/backend.js';
import type { TelemetryLogger } from '../../../shared/telemetry/logger.js';
import type { ResolvedProxyConfig } from '../config/types.js';
import type {
  JsonRpcId,
  JsonRpcMessage,
  JsonRpcRequest,
  JsonRpcResponse,
} from '../jsonrpc/messages.js';
import { relabelId } from '../jsonrpc/relabel.js';
import type { Logger } from '../log.js';
import type { JsonRpcTransport, SendOptions } from '../transport/transport.js';
import { type UpstreamListener, UpstreamServer } from '../upstream/upstream-server.js';
import { Deadlines } from './deadlines.js';
import { InputRounds } from './input-rounds.js';
import { PERMISSION_TOOL, permissionToolDefinition } from './permission-prompt.js';
import type { ProxySession } from './proxy-session.js';
import { ToolCatalog } from './tool-catalog.js';

/** How the session obtains an approval channel once it knows the client. */
export type BackendResolver = (session: ProxySession) => ApprovalBackend;

export interface SessionDeps {
  log: Logger;
  telemetry?: TelemetryLogger;
  resolveBackend: BackendResolver;
  version: string;
  /** Describes the downstream transport for telemetry ("stdio", "http"). */
  transportName: string;
}

/** A client request the proxy is working on: waiting for a human, or forwarded upstream. */
export interface InFlight {
  clientId: JsonRpcId;
  server?: UpstreamServer;
  upstreamId?: JsonRpcId;
  cancelled: boolean;
  abort?: AbortController;
  progressToken?: string | number;
  /** Progress notifications the proxy itself sent (keep-alives). */
  progressSent: number;
  keepAlive?: NodeJS.Timeout;
  /** Cancels the execution deadline (fires when the server takes longer than the execution timeout). */
  deadline?: () => void;
  /** The client's request (a tools/call), kept for a multi-round call to continue under a retry's id. */
  request?: JsonRpcRequest;
  /** A 2026-07-28 request that declared the elicitation capability: it can be asked through input_required. */
  elicits?: boolean;
}

/**
 * The state one client connection shares between the session's modules: the
 * upstream servers, the tool catalog, the requests in flight, what the client
 * said about itself, and the one way to the client (`send`, `relay`).
 * Internal to the session folder: other code goes through ProxySession.
 *
 * @example
 * const core = new SessionCore(config, transport, deps, listener);
 * core.send(resultResponse(id, {}));
 */
export class SessionCore {
  readonly servers: UpstreamServer[];
  readonly catalog: ToolCatalog;
  clientInfo: Record<string, unknown> = {};
  clientCapabilities: Record<string, unknown> = {};
  runId: string | undefined;
  /** True once the upstream servers were started and the session can serve. */
  initialized = false;
  /** Which wire the client speaks: 2025-era (initialize) or 2026-07-28 (per-request envelope). */
  era: 'legacy' | 'modern' | undefined;
  backend: ApprovalBackend | undefined;
  // Keyed by the client's id as is: a Map tells 1 from '1' without building a string per lookup.
  readonly inflight = new Map<JsonRpcId, InFlight>();
  /** The execution deadlines of forwarded calls, on one timer. */
  readonly deadlines = new Deadlines();
  /** Calls answered `input_required`, waiting for the client's retry (2026-07-28). */
  readonly rounds = new InputRounds<InFlight>({
    take: (id) => {
      const call = this.inflight.get(id);
      this.inflight.delete(id);
      return call;
    },
    put: (id, call) => void this.inflight.set(id, call),
    send: (message, options) => this.send(message, options),
  });
  closed = false;
  // process.cwd() is a system call; the proxy never changes directory.
  readonly cwd = process.cwd();

  constructor(
    readonly config: ResolvedProxyConfig,
    readonly transport: JsonRpcTransport,
    readonly deps: SessionDeps,
    listener: UpstreamListener,
  ) {
    const log = deps.log;
    this.servers = config.servers.map(
      (spec) =>
        new UpstreamServer(spec, listener, log, {
          startupTimeoutMs: config.proxy.startupTimeoutMs,
          maxMessageBytes: config.proxy.maxMessageBytes,
        }),
    );
    const reserved = config.proxy.permissionPrompt
      ? new Map([[PERMISSION_TOOL, permissionToolDefinition()]])
      : new Map();
    this.catalog = new ToolCatalog(config.proxy, reserved);
  }

  /** Why tools are withheld when two servers expose the same name, with the fix. */
  collisionText(): string {
    const list = this.catalog.collisions
      .map((c) => `'${c.name}' (${c.servers.join(', ')})`)
      .join('; ');
    return `tool name collision: ${list}. hitloop never picks one silently; fix: set "proxy": {"prefixNames": true} in the config, or rename a server`;
  }

  /**
   * Relays an upstream answer under the client's id: as the exact text the
   * server sent when the transports allow it (no re-serialising of results
   * the proxy only forwards), else as a re-serialised object.
   */
  relay(
    response: JsonRpcResponse,
    raw: string | undefined,
    upstreamId: JsonRpcId,
    clientId: JsonRpcId,
  ): void {
    const line =
      raw !== undefined && this.transport.sendRaw
        ? relabelId(raw, upstreamId, clientId)
        : undefined;
    if (line !== undefined && !this.closed)
      this.transport.sendRaw!(line, { relatedRequestId: clientId });
    else this.send({ ...response, id: clientId }, { relatedRequestId: clientId });
  }

  send(message: JsonRpcMessage, options?: SendOptions): void {
    if (this.closed) return;
    const sent = this.transport.send(message, options);
    if (sent)
      sent.catch((err: unknown) =>
        this.deps.log.debug(
          `could not send to the client: ${err instanceof Error ? err.message : String(err)}`,
        ),
      );
  }
}

/** A tool result the agent reads as an error (isError), with one text. */
export function toolError(text: string): Record<string, unknown> {
  return { content: [{ type: 'text', text }], isError: true };
}
