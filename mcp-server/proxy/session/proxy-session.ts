import type { MrtrChannel } from '../approval/mrtr-backend.js';
import type { ResolvedProxyConfig } from '../config/types.js';
import {
  ErrorCode,
  errorResponse,
  isNotification,
  isRequest,
  isResponse,
  type JsonRpcId,
  type JsonRpcMessage,
  type JsonRpcNotification,
  type JsonRpcRequest,
  type JsonRpcResponse,
  resultResponse,
} from '../jsonrpc/messages.js';
import type { FramingProblem, JsonRpcTransport } from '../transport/transport.js';
import type { UpstreamListener, UpstreamServer } from '../upstream/upstream-server.js';
import { cancelClientRequest, withdrawAll } from './cancellation.js';
import { ProgressRelay } from './progress.js';
import { discoverResult, isModernRequest } from './protocol-2026.js';
import { ResourcesAndPrompts } from './resources-prompts.js';
import { ServerRequests } from './server-requests.js';
import { SessionCore, type SessionDeps } from './session-core.js';
import { SessionStartup } from './startup.js';
import type { ToolCatalog } from './tool-catalog.js';
import { ToolsCallHandler } from './tools-call.js';
import { ToolsChanged } from './tools-changed.js';

export type { BackendResolver, SessionDeps } from './session-core.js';

/**
 * One client connection: an MCP server towards the client and an MCP client
 * towards every upstream server. A router: each message goes, by direction
 * and method, to the module that handles it (README.md in this folder maps
 * MCP methods to files); every `tools/call` goes through the policy and,
 * when asked, a human (tools-call.ts).
 *
 * @example
 * const session = new ProxySession(config, new EraTransport(stdio, () => session.serverInfo()), deps);
 * await session.start();
 */
export class ProxySession implements UpstreamListener, MrtrChannel {
  private readonly core: SessionCore;
  private readonly startup: SessionStartup;
  private readonly requests: ServerRequests;
  private readonly progress: ProgressRelay;
  private readonly tools: ToolsCallHandler;
  private readonly routes: ResourcesAndPrompts;
  private readonly toolsChanged: ToolsChanged;
  private closing: Promise<void> | undefined;

  constructor(
    readonly config: ResolvedProxyConfig,
    private readonly transport: JsonRpcTransport,
    private readonly deps: SessionDeps,
  ) {
    this.core = new SessionCore(config, transport, deps, this);
    this.requests = new ServerRequests(this.core);
    this.startup = new SessionStartup(this.core, this, () => this.requests.markClientReady());
    this.progress = new ProgressRelay(this.core);
    this.tools = new ToolsCallHandler(this.core, this.progress);
    this.routes = new ResourcesAndPrompts(this.core);
    this.toolsChanged = new ToolsChanged(this.core);
  }

  get servers(): UpstreamServer[] {
    return this.core.servers;
  }

  get catalog(): ToolCatalog {
    return this.core.catalog;
  }

  get clientInfo(): Record<string, unknown> {
    return this.core.clientInfo;
  }

  get clientCapabilities(): Record<string, unknown> {
    return this.core.clientCapabilities;
  }

  get runId(): string | undefined {
    return this.core.runId;
  }

  /** Which wire the client speaks: 2025-era (initialize) or 2026-07-28 (per-request envelope). */
  get era(): 'legacy' | 'modern' | undefined {
    return this.core.era;
  }

  /** True while a client call is running upstream or waiting for a human. */
  get busy(): boolean {
    return this.core.inflight.size > 0;
  }

  /** True while a request of the client's with this id is not answered yet. */
  hasInFlight(id: JsonRpcId): boolean {
    return this.core.inflight.has(id);
  }

  async start(): Promise<void> {
    this.transport.onmessage = (message) => this.receive(message);
    this.transport.onproblem = (problem) => this.badMessage(problem);
    this.transport.onclose = () => void this.close();
    this.transport.onerror = (err) => this.deps.log.debug(`client transport: ${err.message}`);
    await this.transport.start();
  }

  /** How the proxy names itself to clients (initialize, and `_meta` of modern results). */
  serverInfo(): Record<string, unknown> {
    return this.startup.serverInfo();
  }

  /** Sends a request to the client and resolves with its answer (used by the elicitation backend). */
  requestClient(
    method: string,
    params: Record<string, unknown>,
    options: { signal?: AbortSignal; relatedRequestId?: JsonRpcId } = {},
  ): Promise<Record<string, unknown>> {
    return this.requests.requestClient(method, params, options);
  }

  /** Withdraws pending approvals, stops the upstream servers, ends the telemetry run. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const core = this.core;
    core.closed = true;
    this.toolsChanged.close();
    withdrawAll(core);
    core.deadlines.clear();
    await Promise.allSettled(core.servers.map((s) => s.close()));
    await core.backend?.close?.();
    if (core.runId) this.deps.telemetry?.endRun(core.runId, {});
    await this.transport.close();
  }

  // ---- client -> proxy -------------------------------------------------

  private receive(message: JsonRpcMessage): void {
    if (isRequest(message)) void this.handleRequest(message);
    else if (isNotification(message)) this.handleNotification(message);
    else if (isResponse(message)) this.handleClientResponse(message);
  }

  private badMessage(problem: FramingProblem): void {
    const code = problem.kind === 'parse' ? ErrorCode.ParseError : ErrorCode.InvalidRequest;
    const what = problem.kind === 'parse' ? 'Parse error' : 'Invalid Request';
    this.deps.log.warn(`client sent an unusable message (${problem.kind}): ${problem.detail}`);
    // An unusable answer to one of our requests (an approval form) still ends
    // it, rather than leaving the call waiting for its whole timeout.
    if (
      problem.id !== null &&
      this.requests.answer(
        problem.id,
        errorResponse(problem.id, code, `${what}: ${problem.detail}`),
      )
    )
      return;
    this.core.send(errorResponse(problem.id, code, `${what}: ${problem.detail}`));
  }

  private async handleRequest(msg: JsonRpcRequest): Promise<void> {
    const { method } = msg;
    const core = this.core;
    try {
      if (method === 'initialize') return await this.startup.initialize(msg);
      if (method === 'ping') return core.send(resultResponse(msg.id, {}));
      // 2026-07-28: no handshake; the first request starts the servers (protocol-2026.ts).
      if (isModernRequest(msg)) {
        // A probe starts nothing: a client may discover, then initialize the 2025 way.
        if (method === 'server/discover')
          return core.send(resultResponse(msg.id, discoverResult(this.startup.instructions())));
        const problem = await this.startup.startModern(msg);
        if (problem) return core.send(errorResponse(msg.id, ErrorCode.InternalError, problem));
      }
      if (!core.initialized) {
        return core.send(
          errorResponse(msg.id, ErrorCode.InvalidRequest, `received ${method} before initialize`),
        );
      }
      // A client that skips notifications/initialized is ready once it asks for something.
      if (!this.requests.ready) this.requests.markClientReady();
      // An id names one request until it is answered: a second request under
      // the id of one still running would take its place, and a cancellation
      // would then withdraw the wrong one while the first runs on.
      if (core.inflight.has(msg.id))
        return core.send(
          errorResponse(
            msg.id,
            ErrorCode.InvalidRequest,
            `Invalid Request: id ${JSON.stringify(msg.id)} is already used by a request still in progress; give every request a new id`,
          ),
        );
      // The retry of an input_required round continues the call that round belongs to.
      if (core.era === 'modern' && typeof msg.params?.requestState === 'string')
        return core.rounds.resume(msg, msg.params.requestState);
      switch (method) {
        case 'tools/list':
          return core.send(resultResponse(msg.id, { tools: core.catalog.list() }));
        case 'tools/call':
          return await this.tools.callTool(msg);
        case 'resources/list':
          return await this.routes.listResources(msg);
        case 'resources/templates/list':
          return await this.routes.listResourceTemplates(msg);
        case 'prompts/list':
          return await this.routes.listPrompts(msg);
        case 'resources/read':
        case 'resources/subscribe':
        case 'resources/unsubscribe':
          return await this.routes.routeByUri(msg, msg.params?.uri);
        case 'prompts/get':
          return this.routes.routePrompt(msg, msg.params?.name, (name) => ({
            ...msg.params,
            name,
          }));
        case 'completion/complete':
          return this.routes.routeCompletion(msg);
        case 'logging/setLevel':
          return await this.routes.setLogLevel(msg);
        default:
          return core.send(
            errorResponse(msg.id, ErrorCode.MethodNotFound, `Method not found: ${method}`),
          );
      }
    } catch (err) {
      this.deps.log.error(
        `handling ${method}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
      );
      core.send(
        errorResponse(
          msg.id,
          ErrorCode.InternalError,
          `hitloop proxy error: ${err instanceof Error ? err.message : String(err)}`,
        ),
      );
    }
  }

  private handleNotification(msg: JsonRpcNotification): void {
    switch (msg.method) {
      case 'notifications/initialized':
        return this.requests.markClientReady();
      case 'notifications/cancelled':
        return cancelClientRequest(this.core, this.progress, msg);
      case 'notifications/roots/list_changed':
        for (const s of this.core.servers) s.notify(msg.method, msg.params);
        return;
      case 'notifications/progress':
        return this.progress.fromClient(msg);
      default:
        this.deps.log.debug(`ignoring client notification ${msg.method}`);
    }
  }

  private handleClientResponse(msg: JsonRpcResponse): void {
    if (msg.id === null) return;
    this.requests.answer(msg.id, msg);
  }

  // ---- multi round-trip requests (2026-07-28, MrtrChannel) ---------------

  canElicit(clientRequestId: JsonRpcId): boolean {
    return this.core.inflight.get(clientRequestId)?.elicits === true;
  }

  requireInput(
    clientRequestId: JsonRpcId,
    inputRequests: Record<string, unknown>,
    resume: (inputResponses: Record<string, unknown>, retryId: JsonRpcId) => void,
  ): string {
    return this.core.rounds.ask(clientRequestId, inputRequests, resume);
  }

  withdraw(requestState: string): void {
    this.core.rounds.withdraw(requestState);
  }

  // ---- upstream -> proxy (UpstreamListener) ------------------------------

  onNotification(server: UpstreamServer, msg: JsonRpcNotification): void {
    switch (msg.method) {
      case 'notifications/progress':
        return this.progress.fromServer(msg);
      case 'notifications/tools/list_changed':
        return; // the server reloads its tools, then onChanged tells the client
      case 'notifications/message':
        return this.core.send({
          ...msg,
          params: { ...msg.params, logger: msg.params?.logger ?? server.name },
        });
      case 'notifications/cancelled':
        return this.requests.serverCancelled(server, msg);
      default:
        return this.core.send(msg);
    }
  }

  onRequest(server: UpstreamServer, msg: JsonRpcRequest): void {
    this.requests.fromServer(server, msg);
  }

  onChanged(server: UpstreamServer): void {
    this.toolsChanged.serverChanged(server);
  }
}
