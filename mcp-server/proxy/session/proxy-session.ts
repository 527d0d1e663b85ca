import { randomBytes } from 'node:crypto';
import {
  LATEST_PROTOCOL_VERSION,
  SUPPORTED_PROTOCOL_VERSIONS,
} from '@modelcontextprotocol/sdk/types.js';
import type { ApprovalBackend } from '../../../shared/backends/backend.js';
import {
  type GateLogger,
  type GateOutcome,
  gateAction,
  notExecutedMessage,
} from '../../../shared/gate/approval-gate.js';
import { type Action, createAction } from '../../../shared/models/action.js';
import type { ApprovalRequest } from '../../../shared/models/approval-request.js';
import type { Decision } from '../../../shared/models/decision.js';
import type { ToolResult } from '../../../shared/models/tool-result.js';
import type { HITLPolicy } from '../../../shared/policies/policy.js';
import { protectionOf } from '../../../shared/policies/protect-paths.js';
import { toolGlobToRegExp } from '../../../shared/policies/rules.js';
import {
  type LogEventInput,
  TelemetryError,
  type TelemetryLogger,
} from '../../../shared/telemetry/logger.js';
import { toolExecutionStartPayload } from '../../../shared/telemetry/payloads.js';
import { uuidv7 } from '../../../shared/util/uuidv7.js';
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
import { relabelId } from '../jsonrpc/relabel.js';
import type { Logger } from '../log.js';
import type { FramingProblem, JsonRpcTransport, SendOptions } from '../transport/transport.js';
import { type UpstreamListener, UpstreamServer } from '../upstream/upstream-server.js';
import { withEditNote } from './edit-note.js';
import {
  gatedOnArrival,
  ownToolOfPrompt,
  PERMISSION_TOOL,
  permissionResultText,
  permissionToolDefinition,
} from './permission-prompt.js';
import { proxyServerInfo } from './server-identity.js';
import { toolCallAction } from './tool-call.js';
import { loadValidators, ToolCatalog, validatorsLoaded } from './tool-catalog.js';

/** Progress tokens the proxy gives servers, unguessable so a client's own token is never taken for one. */
const UPSTREAM_TOKEN_PREFIX = `hitloop-progress-${randomBytes(6).toString('hex')}-`;

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
interface InFlight {
  clientId: JsonRpcId;
  server?: UpstreamServer;
  upstreamId?: JsonRpcId;
  cancelled: boolean;
  abort?: AbortController;
  progressToken?: string | number;
  /** Progress notifications the proxy itself sent (keep-alives). */
  progressSent: number;
  keepAlive?: NodeJS.Timeout;
  /** Fires when the upstream server took longer than the execution timeout. */
  deadline?: NodeJS.Timeout;
}

/** A request the proxy sent the client: its own (elicitation) or relayed from an upstream server. */
interface ClientRequest {
  handle: (response: JsonRpcResponse) => void;
  origin?: { server: UpstreamServer; id: JsonRpcId };
}

const key = (id: JsonRpcId) => (typeof id === 'number' ? `n${id}` : `s${id}`);

/**
 * One client connection: an MCP server towards the client and an MCP client
 * towards every upstream server. Routes by method, aggregates lists, and
 * puts every `tools/call` through the policy and, when asked, a human.
 */
export class ProxySession implements UpstreamListener {
  readonly servers: UpstreamServer[];
  readonly catalog: ToolCatalog;
  clientInfo: Record<string, unknown> = {};
  clientCapabilities: Record<string, unknown> = {};
  runId: string | undefined;
  private initialized = false;
  // Set by the client's notifications/initialized: until then, requests from
  // servers (roots/list, elicitation) wait, as the protocol wants no request
  // to reach a client before it says it is ready.
  private clientReady = false;
  private readonly heldServerRequests: Array<() => void> = [];
  private backend: ApprovalBackend | undefined;
  // Keyed by the client's id as is: a Map tells 1 from '1' without building a string per lookup.
  private readonly inflight = new Map<JsonRpcId, InFlight>();
  private readonly byUpstreamToken = new Map<string, InFlight>();
  private readonly clientRequests = new Map<string, ClientRequest>();
  private nextClientRequestId = 1;
  private nextProgressToken = 1;
  private readonly resourceOwners = new Map<string, UpstreamServer>();
  private templateOwners: Array<{ prefix: string; server: UpstreamServer }> = [];
  private readonly promptOwners = new Map<string, { server: UpstreamServer; name: string }>();
  private readonly toolTimeouts: Array<{ pattern: RegExp; timeoutMs: number }>;
  private readonly executionTimeouts: Array<{ pattern: RegExp; timeoutMs: number }>;
  /** hitloop's built-in protection of its own files, when on (see protect-paths.ts). */
  private readonly protection: ReturnType<typeof protectionOf>;
  private listChangedTimer: NodeJS.Timeout | undefined;
  private closed = false;
  // process.cwd() is a system call; the proxy never changes directory.
  private readonly cwd = process.cwd();

  constructor(
    readonly config: ResolvedProxyConfig,
    private readonly transport: JsonRpcTransport,
    private readonly deps: SessionDeps,
  ) {
    const log = deps.log;
    this.servers = config.servers.map(
      (spec) =>
        new UpstreamServer(spec, this, log, {
          startupTimeoutMs: config.proxy.startupTimeoutMs,
          maxMessageBytes: config.proxy.maxMessageBytes,
        }),
    );
    const reserved = config.proxy.permissionPrompt
      ? new Map([[PERMISSION_TOOL, permissionToolDefinition()]])
      : new Map();
    this.catalog = new ToolCatalog(config.proxy, reserved);
    this.toolTimeouts = config.approval.toolTimeouts.map((t) => ({
      pattern: toolGlobToRegExp(t.tool),
      timeoutMs: t.timeoutMs,
    }));
    this.protection = protectionOf(config.policy);
    this.executionTimeouts = Object.entries(config.proxy.executionTimeouts ?? {}).map(
      ([tool, timeoutMs]) => ({ pattern: toolGlobToRegExp(tool), timeoutMs }),
    );
  }

  /** True while a client call is running upstream or waiting for a human. */
  get busy(): boolean {
    return this.inflight.size > 0;
  }

  /** True while a request of the client's with this id is not answered yet. */
  hasInFlight(id: JsonRpcId): boolean {
    return this.inflight.has(id);
  }

  async start(): Promise<void> {
    this.transport.onmessage = (message) => this.receive(message);
    this.transport.onproblem = (problem) => this.badMessage(problem);
    this.transport.onclose = () => void this.close();
    this.transport.onerror = (err) => this.deps.log.debug(`client transport: ${err.message}`);
    await this.transport.start();
  }

  /** Sends a request to the client and resolves with its answer (used by the elicitation backend). */
  requestClient(
    method: string,
    params: Record<string, unknown>,
    options: { signal?: AbortSignal; relatedRequestId?: JsonRpcId } = {},
  ): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const id = `hitloop-${this.nextClientRequestId++}`;
      const onAbort = () => {
        this.clientRequests.delete(key(id));
        this.send({
          jsonrpc: '2.0',
          method: 'notifications/cancelled',
          params: { requestId: id, reason: 'withdrawn' },
        });
        reject(
          options.signal?.reason instanceof Error ? options.signal.reason : new Error('withdrawn'),
        );
      };
      this.clientRequests.set(key(id), {
        handle: (response) => {
          options.signal?.removeEventListener('abort', onAbort);
          if ('error' in response)
            reject(new Error(`client answered ${method} with an error: ${response.error.message}`));
          else resolve(response.result);
        },
      });
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.send(
        { jsonrpc: '2.0', id, method, params },
        { relatedRequestId: options.relatedRequestId },
      );
    });
  }

  private closing: Promise<void> | undefined;

  /** Withdraws pending approvals, stops the upstream servers, ends the telemetry run. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    clearTimeout(this.listChangedTimer);
    for (const call of this.inflight.values()) {
      call.cancelled = true;
      clearInterval(call.keepAlive);
      clearTimeout(call.deadline);
      call.abort?.abort(new Error('the client disconnected'));
    }
    this.inflight.clear();
    await Promise.allSettled(this.servers.map((s) => s.close()));
    await this.backend?.close?.();
    if (this.runId) this.deps.telemetry?.endRun(this.runId, {});
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
    const pending = problem.id === null ? undefined : this.clientRequests.get(key(problem.id));
    if (pending && problem.id !== null) {
      this.clientRequests.delete(key(problem.id));
      return pending.handle(errorResponse(problem.id, code, `${what}: ${problem.detail}`));
    }
    this.send(errorResponse(problem.id, code, `${what}: ${problem.detail}`));
  }

  private async handleRequest(msg: JsonRpcRequest): Promise<void> {
    const { method } = msg;
    try {
      if (method === 'initialize') return await this.initialize(msg);
      if (method === 'ping') return this.send(resultResponse(msg.id, {}));
      if (!this.initialized) {
        return this.send(
          errorResponse(msg.id, ErrorCode.InvalidRequest, `received ${method} before initialize`),
        );
      }
      // A client that skips notifications/initialized is ready once it asks for something.
      if (!this.clientReady) this.markClientReady();
      // An id names one request until it is answered: a second request under
      // the id of one still running would take its place, and a cancellation
      // would then withdraw the wrong one while the first runs on.
      if (this.inflight.has(msg.id))
        return this.send(
          errorResponse(
            msg.id,
            ErrorCode.InvalidRequest,
            `Invalid Request: id ${JSON.stringify(msg.id)} is already used by a request still in progress; give every request a new id`,
          ),
        );
      switch (method) {
        case 'tools/list':
          return this.send(resultResponse(msg.id, { tools: this.catalog.list() }));
        case 'tools/call':
          return await this.callTool(msg);
        case 'resources/list':
          return await this.aggregate(msg, 'resources', 'resources', (s, items) => {
            for (const r of items)
              if (typeof r.uri === 'string' && !this.resourceOwners.has(r.uri))
                this.resourceOwners.set(r.uri, s);
          });
        case 'resources/templates/list':
          return await this.aggregate(msg, 'resources', 'resourceTemplates', (s, items) => {
            this.templateOwners = this.templateOwners.filter((t) => t.server !== s);
            for (const t of items) {
              if (typeof t.uriTemplate === 'string')
                this.templateOwners.push({ prefix: t.uriTemplate.split('{')[0]!, server: s });
            }
          });
        case 'prompts/list':
          return await this.aggregate(msg, 'prompts', 'prompts', (s, items) => {
            for (const p of items) {
              if (typeof p.name !== 'string') continue;
              const exposed = this.catalog.exposedName(s.name, p.name);
              this.promptOwners.set(exposed, { server: s, name: p.name });
              p.name = exposed;
            }
          });
        case 'resources/read':
        case 'resources/subscribe':
        case 'resources/unsubscribe':
          return await this.routeByUri(msg, msg.params?.uri);
        case 'prompts/get':
          return this.routePrompt(msg, msg.params?.name, (name) => ({ ...msg.params, name }));
        case 'completion/complete':
          return this.routeCompletion(msg);
        case 'logging/setLevel':
          await Promise.allSettled(
            this.servers
              .filter((s) => s.state === 'ready' && s.capabilities.logging)
              .map((s) => s.request('logging/setLevel', msg.params)),
          );
          return this.send(resultResponse(msg.id, {}));
        default:
          return this.send(
            errorResponse(msg.id, ErrorCode.MethodNotFound, `Method not found: ${method}`),
          );
      }
    } catch (err) {
      this.deps.log.error(
        `handling ${method}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
      );
      this.send(
        errorResponse(
          msg.id,
          ErrorCode.InternalError,
          `hitloop proxy error: ${err instanceof Error ? err.message : String(err)}`,
        ),
      );
    }
  }

  private async initialize(msg: JsonRpcRequest): Promise<void> {
    if (this.initialized) {
      return this.send(
        errorResponse(msg.id, ErrorCode.InvalidRequest, 'initialize was already received'),
      );
    }
    const params = msg.params ?? {};
    this.clientCapabilities = (params.capabilities as Record<string, unknown>) ?? {};
    this.clientInfo = (params.clientInfo as Record<string, unknown>) ?? {};
    const requested =
      typeof params.protocolVersion === 'string' ? params.protocolVersion : LATEST_PROTOCOL_VERSION;
    const protocolVersion = SUPPORTED_PROTOCOL_VERSIONS.includes(requested)
      ? requested
      : LATEST_PROTOCOL_VERSION;
    // Upstream servers see the client's own capabilities, so they only send
    // elicitation, sampling or roots requests the client can answer.
    const upstreamInit = {
      protocolVersion,
      capabilities: this.clientCapabilities,
      clientInfo: this.clientInfo,
    };
    const startup = Promise.all(this.servers.map((s) => s.start(upstreamInit)));
    // Servers that are not ready by then join later through tools/list_changed.
    const waitMs = this.config.proxy.initializeWaitMs ?? this.config.proxy.startupTimeoutMs;
    if (waitMs > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        startup,
        new Promise((resolve) => {
          timer = setTimeout(resolve, waitMs);
        }),
      ]);
      clearTimeout(timer);
    }
    this.catalog.rebuild(this.servers);
    if (this.catalog.collisions.length) {
      const text = this.collisionText();
      this.deps.log.error(text);
      return this.send(errorResponse(msg.id, ErrorCode.InternalError, text));
    }
    for (const s of this.servers) {
      if (s.state !== 'ready')
        this.deps.log.warn(
          `server '${s.name}' is not ready yet (${s.failure ?? s.state}); its tools will appear when it is`,
        );
    }
    this.backend = this.deps.resolveBackend(this);
    this.runId = this.deps.telemetry?.startRun({
      condition: this.config.policy.name,
      scenario: 'mcp-proxy',
      metadata: {
        client: this.clientInfo,
        transport: this.deps.transportName,
        servers: this.servers.map((s) => s.name),
        approval_backend: this.backend.name,
        config: this.config.source,
      },
    });
    this.initialized = true;
    const instructions = this.servers
      .filter((s) => s.instructions)
      .map((s) => `[${s.name}]\n${s.instructions}`)
      .join('\n\n');
    this.send(
      resultResponse(msg.id, {
        protocolVersion,
        capabilities: {
          tools: { listChanged: true },
          resources: { subscribe: true, listChanged: true },
          prompts: { listChanged: true },
          completions: {},
          logging: {},
        },
        serverInfo: proxyServerInfo(
          this.servers,
          this.config.proxy.nameInClient,
          this.deps.version,
        ),
        ...(instructions ? { instructions } : {}),
      }),
    );
    // Needed by the first tools/call; loaded now that the client has its answer.
    // A failure here is retried, and reported, by the call that needs them.
    loadValidators().catch(() => undefined);
  }

  private markClientReady(): void {
    if (this.clientReady) return;
    this.clientReady = true;
    for (const release of this.heldServerRequests.splice(0)) release();
  }

  private collisionText(): string {
    const list = this.catalog.collisions
      .map((c) => `'${c.name}' (${c.servers.join(', ')})`)
      .join('; ');
    return `tool name collision: ${list}. hitloop never picks one silently; fix: set "proxy": {"prefixNames": true} in the config, or rename a server`;
  }

  private handleNotification(msg: JsonRpcNotification): void {
    switch (msg.method) {
      case 'notifications/initialized':
        return this.markClientReady();
      case 'notifications/cancelled': {
        const id = msg.params?.requestId;
        if (typeof id !== 'string' && typeof id !== 'number') return;
        const call = this.inflight.get(id);
        if (!call) return;
        this.inflight.delete(id);
        call.cancelled = true;
        clearInterval(call.keepAlive);
        clearTimeout(call.deadline);
        const reason =
          typeof msg.params?.reason === 'string' ? msg.params.reason : 'cancelled by the client';
        call.abort?.abort(new Error(reason));
        if (call.server && call.upstreamId !== undefined)
          call.server.cancel(call.upstreamId, reason);
        this.forgetUpstreamTokens(call);
        return;
      }
      case 'notifications/roots/list_changed':
        for (const s of this.servers) s.notify(msg.method, msg.params);
        return;
      case 'notifications/progress': {
        // Progress from the client concerns a server-to-client request; send it to every server (tokens are unique).
        for (const s of this.servers) s.notify(msg.method, msg.params);
        return;
      }
      default:
        this.deps.log.debug(`ignoring client notification ${msg.method}`);
    }
  }

  private handleClientResponse(msg: JsonRpcResponse): void {
    if (msg.id === null) return;
    const pending = this.clientRequests.get(key(msg.id));
    if (!pending) return;
    this.clientRequests.delete(key(msg.id));
    pending.handle(msg);
  }

  // ---- tools/call ------------------------------------------------------

  private async callTool(msg: JsonRpcRequest): Promise<void> {
    const params = msg.params ?? {};
    const name = params.name;
    const args = params.arguments ?? {};
    if (typeof name !== 'string') {
      return this.send(
        errorResponse(msg.id, ErrorCode.InvalidParams, 'tools/call needs a string "name"'),
      );
    }
    if (args === null || typeof args !== 'object' || Array.isArray(args)) {
      return this.send(
        errorResponse(msg.id, ErrorCode.InvalidParams, `"arguments" of ${name} must be an object`),
      );
    }
    const toolArgs = args as Record<string, unknown>;
    if (!validatorsLoaded()) {
      // Loaded after initialize was answered; only a call that comes sooner
      // waits, registered first so that a cancellation meanwhile is heard.
      // Before the tool is looked up: the catalog may change meanwhile.
      const early: InFlight = { clientId: msg.id, cancelled: false, progressSent: 0 };
      this.inflight.set(msg.id, early);
      try {
        await loadValidators();
      } finally {
        this.inflight.delete(msg.id);
      }
      if (early.cancelled) return;
    }
    const isPermissionPrompt = this.config.proxy.permissionPrompt && name === PERMISSION_TOOL;
    const entry = isPermissionPrompt ? undefined : this.catalog.get(name);
    if (!isPermissionPrompt && !entry) {
      const collided = this.catalog.collisions.find((c) => c.name === name);
      return this.send(
        errorResponse(
          msg.id,
          ErrorCode.InvalidParams,
          collided
            ? `Tool '${name}' is withheld: ${this.collisionText()}`
            : `Unknown tool: '${name}'. Call tools/list for the available tools.`,
        ),
      );
    }
    const problems = this.catalog.validate(name, toolArgs);
    if (problems.length) {
      return this.send(
        resultResponse(
          msg.id,
          toolError(
            `Tool '${name}' was NOT executed: its arguments do not match the input schema: ${problems.join('; ')}`,
          ),
        ),
      );
    }
    const meta = params._meta as Record<string, unknown> | undefined;
    const token = meta?.progressToken;
    const call: InFlight = {
      clientId: msg.id,
      cancelled: false,
      abort: undefined,
      progressSent: 0,
      progressToken: typeof token === 'string' || typeof token === 'number' ? token : undefined,
    };
    this.inflight.set(msg.id, call);
    const telemetry = this.runId ? this.deps.telemetry : undefined;

    const action = isPermissionPrompt
      ? permissionAction(toolArgs)
      : this.toAction(entry!, toolArgs);
    // Claude Code asks before calling this proxy's own tools too; those calls
    // are gated when they arrive, so their prompt passes (no double approval).
    const ownTool = isPermissionPrompt
      ? ownToolOfPrompt(
          toolArgs.tool_name,
          this.config.proxy.nameInClient,
          this.catalog.list().map((t) => t.name),
        )
      : undefined;
    const policy = ownTool ? gatedOnArrival(this.config.policy, ownTool) : this.config.policy;
    // Without `required`, the gate's action_proposed event is recorded once the
    // call is on its way upstream (or answered), not before; with it, a failed
    // write must stop the call, so the gate writes directly.
    const held =
      telemetry && !telemetry.required ? new HeldEvents(telemetry, this.deps.log) : undefined;
    try {
      await this.gateAndRun(msg, name, entry, action, call, telemetry, held, policy);
    } finally {
      held?.release();
    }
  }

  private async gateAndRun(
    msg: JsonRpcRequest,
    name: string,
    entry: ReturnType<ToolCatalog['get']>,
    action: Action,
    call: InFlight,
    telemetry: TelemetryLogger | undefined,
    held: HeldEvents | undefined,
    policy: HITLPolicy,
  ): Promise<void> {
    const isPermissionPrompt = entry === undefined;
    let outcome: GateOutcome;
    try {
      outcome = await gateAction(action, {
        policy,
        backend: this.backend!,
        runId: this.runId ?? 'no-telemetry',
        logger: held ?? telemetry,
        context: this.requestContext(entry, msg.id),
        timeoutMs: this.timeoutFor(name),
        // Only a call that waits for a human needs a signal: made on first use,
        // not for every allowed call.
        get signal() {
          return callSignal(call);
        },
        validateArgs: isPermissionPrompt ? undefined : (a) => this.catalog.validate(name, a),
        onAsk: (request) => this.startKeepAlive(call, name, request.policyReason),
      });
    } catch (err) {
      clearInterval(call.keepAlive);
      this.inflight.delete(msg.id);
      if (call.cancelled || (err instanceof Error && err.name === 'AbortError')) {
        this.deps.log.info(
          `call to ${name} withdrawn: the client cancelled it; nothing was executed`,
        );
        return; // the client gave up on this request; MCP says not to answer it
      }
      const reason = err instanceof Error ? err.message : String(err);
      return this.send(
        resultResponse(
          msg.id,
          toolError(
            err instanceof TelemetryError
              ? telemetryRefusal(name, reason)
              : `Tool '${name}' was NOT executed: the approval step failed: ${reason}`,
          ),
        ),
        { relatedRequestId: msg.id },
      );
    }
    clearInterval(call.keepAlive);
    if (call.cancelled) return;

    if (isPermissionPrompt) {
      this.inflight.delete(msg.id);
      return this.send(
        resultResponse(msg.id, {
          content: [{ type: 'text', text: permissionResultText(outcome) }],
        }),
        {
          relatedRequestId: msg.id,
        },
      );
    }
    if (outcome.kind === 'denied' || outcome.kind === 'rejected') {
      this.inflight.delete(msg.id);
      return this.send(resultResponse(msg.id, toolError(notExecutedMessage(outcome))), {
        relatedRequestId: msg.id,
      });
    }
    const edit = outcome.kind === 'approved' && outcome.edited ? outcome.decision : undefined;
    this.forwardCall(msg, entry!, action, outcome.args, call, telemetry, held, edit);
  }

  private forwardCall(
    msg: JsonRpcRequest,
    entry: NonNullable<ReturnType<ToolCatalog['get']>>,
    action: Action,
    args: Record<string, unknown>,
    call: InFlight,
    telemetry: TelemetryLogger | undefined,
    held: HeldEvents | undefined,
    edit?: Decision,
  ): void {
    // With `required`, the call runs only once its record is on disk: the
    // start event, and with it the proposal and decision the gate logged,
    // committed and synced before the request leaves. A failed write stops
    // the call here, before anything ran.
    const logFirst = telemetry?.required === true;
    if (logFirst && !this.recordStartDurably(msg, telemetry!, action, args)) return;
    const params: Record<string, unknown> = {
      ...msg.params,
      name: entry.tool.name,
      arguments: args,
    };
    if (call.progressToken !== undefined && call.progressSent > 0) {
      // The client already saw our keep-alive progress; give the server its own
      // token and shift its values so the client's progress keeps increasing.
      const upstreamToken = `${UPSTREAM_TOKEN_PREFIX}${this.nextProgressToken++}`;
      params._meta = { ...(params._meta as object), progressToken: upstreamToken };
      this.byUpstreamToken.set(upstreamToken, call);
    }
    // Without `required`, events are recorded off the client's critical path: the gate's
    // held events and the start event in a microtask queued after the
    // request, which the stdio transports write from an earlier microtask
    // (WriteCoalescer), so the server is already working meanwhile. An answer
    // that comes sooner (an in-process upstream) records them first, so the
    // order of events holds.
    let startLogged = logFirst;
    const logStart = () => {
      if (startLogged) return;
      startLogged = true;
      held?.release();
      if (telemetry)
        recordQuietly(this.deps.log, 'tool_execution_start', () =>
          telemetry.logToolExecutionStart(this.runId!, action, args),
        );
    };
    const started = performance.now();
    call.server = entry.server;
    call.upstreamId = entry.server.forward('tools/call', params, (response, raw) => {
      clearTimeout(call.deadline);
      const durationMs = performance.now() - started;
      logStart();
      this.inflight.delete(msg.id);
      this.forgetUpstreamTokens(call);
      if (call.cancelled) return;
      let out: JsonRpcResponse | undefined;
      let success: boolean;
      let error: string | undefined;
      if ('error' in response) {
        if (response.error.code === ErrorCode.ConnectionClosed) {
          // A crash is the agent's business too: say which server, how, and that the call may not have run.
          error = response.error.message;
          out = resultResponse(
            msg.id,
            toolError(
              `Tool '${msg.params?.name}' failed: ${response.error.message}. The call may not have completed.`,
            ),
          );
        } else {
          error = response.error.message;
          out = { ...response, id: msg.id };
        }
        success = false;
      } else {
        success = response.result.isError !== true;
        // The model must learn that what ran is not what it proposed.
        if (edit)
          out = resultResponse(
            msg.id,
            withEditNote(response.result, args, edit, entry.structuredNote),
          );
      }
      const result = { actionId: action.id, success, error, durationMs, executed: true };
      if (logFirst) this.recordEndDurably(telemetry!, result);
      if (out) this.send(out, { relatedRequestId: msg.id });
      else this.relay(response, raw, call.upstreamId!, msg.id);
      // After the answer's write, which is queued in a microtask ahead of this one.
      if (telemetry && !logFirst)
        queueMicrotask(() =>
          recordQuietly(this.deps.log, 'tool_execution_end', () =>
            telemetry.logToolExecutionEnd(this.runId!, result),
          ),
        );
    });
    if (telemetry && !logFirst) queueMicrotask(logStart);
    const limitMs = this.executionTimeoutFor(msg.params?.name as string);
    if (limitMs > 0)
      call.deadline = setTimeout(() => {
        logStart();
        this.executionTimedOut(msg, entry, action, call, limitMs, telemetry, started);
      }, limitMs);
  }

  /**
   * A forwarded call whose server did not answer in time: the agent is told
   * so (the call may still be running: it was not refused), the server gets a
   * cancellation, and a late answer is dropped.
   */
  private executionTimedOut(
    msg: JsonRpcRequest,
    entry: NonNullable<ReturnType<ToolCatalog['get']>>,
    action: Action,
    call: InFlight,
    limitMs: number,
    telemetry: TelemetryLogger | undefined,
    started: number,
  ): void {
    if (call.cancelled || this.inflight.get(msg.id) !== call) return;
    this.inflight.delete(msg.id);
    call.cancelled = true;
    this.forgetUpstreamTokens(call);
    const seconds = limitMs / 1000;
    const reason = `no answer within ${seconds} s (proxy.executionTimeoutMs)`;
    if (call.upstreamId !== undefined) entry.server.cancel(call.upstreamId, reason);
    this.deps.log.warn(`call to ${action.toolName} on '${entry.server.name}': ${reason}`);
    const result = {
      actionId: action.id,
      success: false,
      error: `timed out: ${reason}`,
      durationMs: performance.now() - started,
      executed: true,
    };
    if (telemetry?.required) this.recordEndDurably(telemetry, result);
    else if (telemetry)
      recordQuietly(this.deps.log, 'tool_execution_end', () =>
        telemetry.logToolExecutionEnd(this.runId!, result),
      );
    this.send(
      resultResponse(
        msg.id,
        toolError(
          `Tool '${msg.params?.name}' did not answer within ${seconds} s; it may still be running on the server '${entry.server.name}', which was sent a cancellation. Check its effects before calling it again. (proxy.executionTimeoutMs, or proxy.executionTimeouts for this tool, sets the limit.)`,
        ),
      ),
      { relatedRequestId: msg.id },
    );
  }

  /**
   * With `required` telemetry: commits the call's start (and what the gate
   * logged before it). On failure the client gets a tool error saying
   * nothing ran, and false is returned: the call must not be forwarded.
   */
  private recordStartDurably(
    msg: JsonRpcRequest,
    telemetry: TelemetryLogger,
    action: Action,
    args: Record<string, unknown>,
  ): boolean {
    try {
      telemetry.logEventDurably({
        runId: this.runId!,
        eventType: 'tool_execution_start',
        payload: toolExecutionStartPayload(action, args),
      });
      return true;
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      this.inflight.delete(msg.id);
      this.deps.log.error(`telemetry: refused ${action.toolName}: ${reason}`);
      this.send(
        resultResponse(msg.id, toolError(telemetryRefusal(String(msg.params?.name), reason))),
        { relatedRequestId: msg.id },
      );
      return false;
    }
  }

  /**
   * With `required` telemetry: commits the end of a call before its answer
   * is relayed, so an answered call is on record even if the proxy is killed
   * next. The call has run: a failure is logged, and the answer still goes out.
   */
  private recordEndDurably(telemetry: TelemetryLogger, result: ToolResult): void {
    try {
      // Not withdrawn on failure, unlike the start: the call did run, so the
      // row stays buffered for the next flush that succeeds.
      telemetry.logToolExecutionEnd(this.runId!, result);
      telemetry.flush();
    } catch (err) {
      this.deps.log.error(
        `telemetry: could not record the end of action ${result.actionId}, which ran: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  }

  /**
   * Relays an upstream answer under the client's id: as the exact text the
   * server sent when the transports allow it (no re-serialising of results
   * the proxy only forwards), else as a re-serialised object.
   */
  private relay(
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

  private startKeepAlive(call: InFlight, name: string, reason: string): void {
    if (call.progressToken === undefined) return;
    const tick = () => {
      if (call.cancelled) return;
      call.progressSent++;
      this.send(
        {
          jsonrpc: '2.0',
          method: 'notifications/progress',
          params: {
            progressToken: call.progressToken,
            progress: call.progressSent,
            message: `Waiting for human approval of ${name} (${reason})`,
          },
        },
        { relatedRequestId: call.clientId },
      );
    };
    tick();
    call.keepAlive = setInterval(tick, this.config.approval.keepAliveMs);
  }

  private toAction(
    entry: NonNullable<ReturnType<ToolCatalog['get']>>,
    toolArgs: Record<string, unknown>,
  ): Action {
    return toolCallAction(
      { name: entry.server.name, trusted: entry.server.spec.trusted },
      entry.tool,
      toolArgs,
    );
  }

  private requestContext(
    entry: ReturnType<ToolCatalog['get']>,
    clientRequestId: JsonRpcId,
  ): Record<string, unknown> {
    // One literal per call rather than spreads: this runs for every allowed call.
    const client = { name: this.clientInfo.name, version: this.clientInfo.version };
    if (!entry) return { client, cwd: this.cwd, clientRequestId };
    return {
      client,
      cwd: this.cwd,
      exposedName: entry.exposedName,
      toolDescription: entry.tool.description,
      annotations: entry.tool.annotations,
      inputSchema: entry.tool.inputSchema,
      clientRequestId,
    };
  }

  private executionTimeoutFor(name: string): number {
    for (const t of this.executionTimeouts) if (t.pattern.test(name)) return t.timeoutMs;
    return this.config.proxy.executionTimeoutMs ?? 0;
  }

  private timeoutFor(name: string): number {
    for (const t of this.toolTimeouts) if (t.pattern.test(name)) return t.timeoutMs;
    return this.config.approval.timeoutMs;
  }

  // ---- other routed requests ------------------------------------------

  private async aggregate(
    msg: JsonRpcRequest,
    capability: string,
    listKey: string,
    collect: (server: UpstreamServer, items: Array<Record<string, unknown>>) => void,
  ): Promise<void> {
    const servers = this.servers.filter((s) => s.state === 'ready' && s.capabilities[capability]);
    const results = await Promise.allSettled(servers.map((s) => s.listAll(msg.method, listKey)));
    const all: Array<Record<string, unknown>> = [];
    results.forEach((r, i) => {
      const server = servers[i]!;
      if (r.status === 'rejected') {
        this.deps.log.warn(
          `server '${server.name}': ${msg.method} failed: ${r.reason instanceof Error ? r.reason.message : String(r.reason)}`,
        );
        return;
      }
      const items = r.value as Array<Record<string, unknown>>;
      collect(server, items);
      all.push(...items);
    });
    this.send(resultResponse(msg.id, { [listKey]: all }));
  }

  private async routeByUri(msg: JsonRpcRequest, uri: unknown): Promise<void> {
    if (typeof uri !== 'string')
      return this.send(
        errorResponse(msg.id, ErrorCode.InvalidParams, `${msg.method} needs a string "uri"`),
      );
    // A client (or a model through its client's resource tool) may read a
    // file:// resource: hitloop's own files are refused here as they are in
    // tool arguments, since a hub token read this way approves calls too.
    const denied = this.protection?.(
      createAction({ toolName: msg.method, toolArgs: { uri }, riskClass: 'low' }),
    );
    if (denied)
      return this.send(
        errorResponse(
          msg.id,
          ErrorCode.InvalidParams,
          `${msg.method} of ${uri} was refused: ${denied.reason}`,
        ),
      );
    let owner = this.resourceOwner(uri);
    if (!owner) {
      // The client may read a resource it never listed (a known URI, a
      // template it built itself): learn the servers' resources, then retry.
      await this.learnResources();
      owner = this.resourceOwner(uri);
    }
    if (!owner) {
      return this.send(
        errorResponse(
          msg.id,
          ErrorCode.InvalidParams,
          `Unknown resource: ${uri} (no server lists it or a matching template)`,
        ),
      );
    }
    this.forward(msg, owner, msg.params);
  }

  private resourceOwner(uri: string): UpstreamServer | undefined {
    const candidates = this.servers.filter((s) => s.capabilities.resources);
    if (candidates.length === 1) return candidates[0];
    return (
      this.resourceOwners.get(uri) ??
      this.templateOwners
        .filter((t) => t.prefix && uri.startsWith(t.prefix))
        .sort((a, b) => b.prefix.length - a.prefix.length)[0]?.server
    );
  }

  private async learnResources(): Promise<void> {
    const servers = this.servers.filter((s) => s.state === 'ready' && s.capabilities.resources);
    await Promise.allSettled(
      servers.map(async (s) => {
        for (const r of await s.listAll('resources/list', 'resources')) {
          if (typeof r.uri === 'string' && !this.resourceOwners.has(r.uri))
            this.resourceOwners.set(r.uri, s);
        }
        const templates = await s.listAll('resources/templates/list', 'resourceTemplates');
        this.templateOwners = this.templateOwners.filter((t) => t.server !== s);
        for (const t of templates) {
          if (typeof t.uriTemplate === 'string')
            this.templateOwners.push({ prefix: t.uriTemplate.split('{')[0]!, server: s });
        }
      }),
    );
  }

  private routePrompt(
    msg: JsonRpcRequest,
    name: unknown,
    rewrite: (name: string) => Record<string, unknown>,
  ): void {
    if (typeof name !== 'string')
      return this.send(
        errorResponse(msg.id, ErrorCode.InvalidParams, 'prompts/get needs a string "name"'),
      );
    const owner = this.promptOwner(name);
    if (!owner)
      return this.send(errorResponse(msg.id, ErrorCode.InvalidParams, `Unknown prompt: ${name}`));
    this.forward(msg, owner.server, rewrite(owner.name));
  }

  private promptOwner(name: string): { server: UpstreamServer; name: string } | undefined {
    const known = this.promptOwners.get(name);
    if (known) return known;
    // Not listed yet: resolve from the naming rule.
    for (const s of this.servers) {
      if (!s.capabilities.prompts) continue;
      const prefix = this.config.proxy.prefixNames ? `${s.name}${this.config.proxy.separator}` : '';
      if (name.startsWith(prefix)) return { server: s, name: name.slice(prefix.length) };
    }
    return undefined;
  }

  private routeCompletion(msg: JsonRpcRequest): void {
    const ref = msg.params?.ref as Record<string, unknown> | undefined;
    if (ref?.type === 'ref/prompt') {
      return this.routePrompt(msg, ref.name, (name) => ({ ...msg.params, ref: { ...ref, name } }));
    }
    if (ref?.type === 'ref/resource') return void this.routeByUri(msg, ref.uri);
    this.send(
      errorResponse(
        msg.id,
        ErrorCode.InvalidParams,
        'completion/complete needs a ref of type ref/prompt or ref/resource',
      ),
    );
  }

  private forward(
    msg: JsonRpcRequest,
    server: UpstreamServer,
    params: Record<string, unknown> | undefined,
  ): void {
    const call: InFlight = { clientId: msg.id, cancelled: false, progressSent: 0, server };
    this.inflight.set(msg.id, call);
    call.upstreamId = server.forward(msg.method, params, (response, raw) => {
      this.inflight.delete(msg.id);
      if (!call.cancelled) this.relay(response, raw, call.upstreamId!, msg.id);
    });
  }

  /**
   * Stops relaying the server's progress for a call that ended or was
   * cancelled: a server that ignores the cancellation may go on reporting,
   * and the client must not hear of a request it gave up.
   */
  private forgetUpstreamTokens(call: InFlight): void {
    if (this.byUpstreamToken.size === 0) return;
    for (const [t, c] of this.byUpstreamToken) if (c === call) this.byUpstreamToken.delete(t);
  }

  // ---- upstream -> proxy ----------------------------------------------

  onNotification(server: UpstreamServer, msg: JsonRpcNotification): void {
    switch (msg.method) {
      case 'notifications/progress': {
        const token = msg.params?.progressToken;
        if (typeof token === 'string' && token.startsWith(UPSTREAM_TOKEN_PREFIX)) {
          const call = this.byUpstreamToken.get(token);
          // A token of ours with no call behind it: the call ended or was cancelled.
          if (!call) return;
          const p = msg.params!;
          const shift = call.progressSent;
          this.send(
            {
              jsonrpc: '2.0',
              method: msg.method,
              params: {
                ...p,
                progressToken: call.progressToken,
                progress: Number(p.progress) + shift,
                ...(typeof p.total === 'number' ? { total: p.total + shift } : {}),
              },
            },
            { relatedRequestId: call.clientId },
          );
          return;
        }
        return this.send(msg, { relatedRequestId: this.callForToken(token)?.clientId });
      }
      case 'notifications/tools/list_changed':
        return; // the server reloads its tools, then onChanged tells the client
      case 'notifications/message':
        return this.send({
          ...msg,
          params: { ...msg.params, logger: msg.params?.logger ?? server.name },
        });
      case 'notifications/cancelled': {
        // The server withdrew one of its own requests to the client; translate its id.
        for (const [k, pending] of this.clientRequests) {
          const origin = pending.origin;
          if (origin && origin.server === server && origin.id === msg.params?.requestId) {
            this.clientRequests.delete(k);
            return this.send({ ...msg, params: { ...msg.params, requestId: k.slice(1) } });
          }
        }
        return;
      }
      default:
        return this.send(msg);
    }
  }

  onRequest(server: UpstreamServer, msg: JsonRpcRequest): void {
    if (msg.method === 'ping') return server.respond(resultResponse(msg.id, {}));
    if (!this.clientReady) {
      this.heldServerRequests.push(() => this.onRequest(server, msg));
      return;
    }
    const needs: Record<string, string> = {
      'elicitation/create': 'elicitation',
      'sampling/createMessage': 'sampling',
      'roots/list': 'roots',
    };
    const capability = needs[msg.method];
    if (!capability || !this.clientCapabilities[capability]) {
      return server.respond(
        errorResponse(
          msg.id,
          ErrorCode.MethodNotFound,
          capability
            ? `the client does not support ${capability}`
            : `Method not found: ${msg.method}`,
        ),
      );
    }
    const id = `hitloop-${this.nextClientRequestId++}`;
    this.clientRequests.set(key(id), {
      handle: (response) => server.respond({ ...response, id: msg.id }),
      origin: { server, id: msg.id },
    });
    // On Streamable HTTP the request must travel on the stream of the call that caused it.
    const calls = [...this.inflight.values()].filter(
      (c) => c.server === server && c.upstreamId !== undefined,
    );
    this.send(
      { ...msg, id },
      { relatedRequestId: calls.length === 1 ? calls[0]!.clientId : undefined },
    );
  }

  onChanged(server: UpstreamServer): void {
    if (!this.initialized || this.closed) return;
    // Whole definitions, not just names: a server that changes a tool's schema
    // or description under the same name must reach the client too, or the
    // client keeps calling with a schema the proxy now refuses.
    const before = JSON.stringify(this.catalog.list());
    this.catalog.rebuild(this.servers);
    if (this.catalog.collisions.length) this.deps.log.error(this.collisionText());
    if (JSON.stringify(this.catalog.list()) === before && server.state === 'ready') return;
    // Coalesce bursts (several servers coming up at once) into one notification.
    clearTimeout(this.listChangedTimer);
    this.listChangedTimer = setTimeout(
      () => this.send({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' }),
      50,
    );
  }

  private callForToken(token: unknown): InFlight | undefined {
    if (token === undefined) return undefined;
    for (const call of this.inflight.values()) if (call.progressToken === token) return call;
    return undefined;
  }

  private send(message: JsonRpcMessage, options?: SendOptions): void {
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

/**
 * The gate's logger for one call: events are held and handed to telemetry on
 * release(), so recording them happens after the call was forwarded. Order is
 * kept: an approval event flushes what is held first. Ids are assigned when
 * the gate logs, as it expects.
 */
class HeldEvents implements GateLogger {
  private held: LogEventInput[] = [];

  constructor(
    private readonly telemetry: TelemetryLogger,
    private readonly log: Logger,
  ) {}

  logEvent(input: LogEventInput): string {
    // The id now (the gate may use it); the timestamp when written, a few µs later.
    input.eventId ??= uuidv7();
    this.held.push(input);
    return input.eventId;
  }

  logApprovalRequested(runId: string, request: ApprovalRequest): string {
    this.release();
    return this.telemetry.logApprovalRequested(runId, request);
  }

  logApprovalDecided(
    runId: string,
    decision: Decision,
    context?: Parameters<GateLogger['logApprovalDecided']>[2],
  ): string {
    this.release();
    return this.telemetry.logApprovalDecided(runId, decision, context);
  }

  /** Writes what is held. Never throws: the call it belongs to may already be running. */
  release(): void {
    if (this.held.length === 0) return;
    const events = this.held;
    this.held = [];
    for (const event of events)
      recordQuietly(this.log, event.eventType, () => this.telemetry.logEvent(event));
  }
}

/** The call's abort signal, created on first use; already aborted if the call was withdrawn meanwhile. */
function callSignal(call: InFlight): AbortSignal {
  if (!call.abort) {
    call.abort = new AbortController();
    if (call.cancelled) call.abort.abort(new Error('the call was withdrawn'));
  }
  return call.abort.signal;
}

/** What the agent is told when `telemetry.required` stops a call: nothing ran, and why. */
function telemetryRefusal(name: string, reason: string): string {
  return `Tool '${name}' was NOT executed: telemetry.required is set and the record of this call could not be written (${reason}). Free or fix the telemetry disk, or set telemetry.required to false.`;
}

function toolError(text: string): Record<string, unknown> {
  return { content: [{ type: 'text', text }], isError: true };
}

function permissionAction(args: Record<string, unknown>): Action {
  return createAction({
    toolName: typeof args.tool_name === 'string' ? args.tool_name : 'unknown',
    toolArgs:
      args.input && typeof args.input === 'object' ? (args.input as Record<string, unknown>) : {},
    server: 'claude-code',
    riskClass: 'medium',
    contextRefs: typeof args.tool_use_id === 'string' ? [args.tool_use_id] : [],
  });
}

/**
 * Records a telemetry event off the call's path (not `required`): a failure
 * is logged, never thrown, since nothing up the stack (a microtask, a stream
 * handler) could handle it and the call has already gone ahead.
 */
function recordQuietly(log: Logger, what: string, record: () => void): void {
  try {
    record();
  } catch (err) {
    log.warn(
      `telemetry: could not record ${what}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}
