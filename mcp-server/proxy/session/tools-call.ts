import {
  type GateOutcome,
  gateAction,
  notExecutedMessage,
} from '../../../shared/gate/approval-gate.js';
import { type Action, createAction } from '../../../shared/models/action.js';
import type { Decision } from '../../../shared/models/decision.js';
import type { HITLPolicy } from '../../../shared/policies/policy.js';
import { toolGlobToRegExp } from '../../../shared/policies/rules.js';
import { TelemetryError } from '../../../shared/telemetry/logger.js';
import {
  ErrorCode,
  errorResponse,
  type JsonRpcId,
  type JsonRpcRequest,
  type JsonRpcResponse,
  resultResponse,
} from '../jsonrpc/messages.js';
import { CallRecorder, telemetryRefusal } from './call-recorder.js';
import { withEditNote } from './edit-note.js';
import {
  gatedOnArrival,
  ownToolOfPrompt,
  PERMISSION_TOOL,
  permissionResultText,
} from './permission-prompt.js';
import type { ProgressRelay } from './progress.js';
import { modernCapabilities } from './protocol-2026.js';
import { type InFlight, type SessionCore, toolError } from './session-core.js';
import { toolCallAction } from './tool-call.js';
import { loadValidators, type ToolCatalog, validatorsLoaded } from './tool-catalog.js';

/**
 * `tools/call`, the path every call takes: the arguments checked against the
 * tool's schema, the policy (and, when it asks, a human, kept alive with
 * progress meanwhile), then the call forwarded to its server under the
 * approved arguments, timed out if the server takes too long, and recorded
 * in telemetry. Also answers Claude Code's permission-prompt tool.
 *
 * @example
 * const tools = new ToolsCallHandler(core, progress);
 * await tools.callTool(msg); // msg is the client's tools/call request
 */
export class ToolsCallHandler {
  private readonly toolTimeouts: Array<{ pattern: RegExp; timeoutMs: number }>;
  private readonly executionTimeouts: Array<{ pattern: RegExp; timeoutMs: number }>;
  private recorder: CallRecorder | undefined;

  constructor(
    private readonly core: SessionCore,
    private readonly progress: ProgressRelay,
  ) {
    const config = core.config;
    this.toolTimeouts = config.approval.toolTimeouts.map((t) => ({
      pattern: toolGlobToRegExp(t.tool),
      timeoutMs: t.timeoutMs,
    }));
    this.executionTimeouts = Object.entries(config.proxy.executionTimeouts ?? {}).map(
      ([tool, timeoutMs]) => ({ pattern: toolGlobToRegExp(tool), timeoutMs }),
    );
  }

  async callTool(msg: JsonRpcRequest): Promise<void> {
    const params = msg.params ?? {};
    const name = params.name;
    const args = params.arguments ?? {};
    if (typeof name !== 'string') {
      return this.core.send(
        errorResponse(msg.id, ErrorCode.InvalidParams, 'tools/call needs a string "name"'),
      );
    }
    if (args === null || typeof args !== 'object' || Array.isArray(args)) {
      return this.core.send(
        errorResponse(msg.id, ErrorCode.InvalidParams, `"arguments" of ${name} must be an object`),
      );
    }
    const toolArgs = args as Record<string, unknown>;
    if (!validatorsLoaded()) {
      // Loaded after initialize was answered; only a call that comes sooner
      // waits, registered first so that a cancellation meanwhile is heard.
      // Before the tool is looked up: the catalog may change meanwhile.
      const early: InFlight = { clientId: msg.id, cancelled: false, progressSent: 0 };
      this.core.inflight.set(msg.id, early);
      try {
        await loadValidators();
      } finally {
        this.core.inflight.delete(msg.id);
      }
      if (early.cancelled) return;
    }
    const isPermissionPrompt = this.core.config.proxy.permissionPrompt && name === PERMISSION_TOOL;
    const entry = isPermissionPrompt ? undefined : this.core.catalog.get(name);
    if (!isPermissionPrompt && !entry) {
      const collided = this.core.catalog.collisions.find((c) => c.name === name);
      return this.core.send(
        errorResponse(
          msg.id,
          ErrorCode.InvalidParams,
          collided
            ? `Tool '${name}' is withheld: ${this.core.collisionText()}`
            : `Unknown tool: '${name}'. Call tools/list for the available tools.`,
        ),
      );
    }
    const problems = this.core.catalog.validate(name, toolArgs);
    if (problems.length) {
      return this.core.send(
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
      request: msg,
      elicits: this.core.era === 'modern' && !!modernCapabilities(msg).elicitation,
    };
    this.core.inflight.set(msg.id, call);
    const recorder = this.callRecorder();

    const action = isPermissionPrompt
      ? permissionAction(toolArgs)
      : this.toAction(entry!, toolArgs);
    // Claude Code asks before calling this proxy's own tools too; those calls
    // are gated when they arrive, so their prompt passes (no double approval).
    const ownTool = isPermissionPrompt
      ? ownToolOfPrompt(
          toolArgs.tool_name,
          this.core.config.proxy.nameInClient,
          this.core.catalog.list().map((t) => t.name),
        )
      : undefined;
    const policy = ownTool
      ? gatedOnArrival(this.core.config.policy, ownTool)
      : this.core.config.policy;
    await this.gateAndRun(msg, name, entry, action, call, recorder, policy);
  }

  /** The session's telemetry recorder, once it has a run (after initialize). */
  private callRecorder(): CallRecorder | undefined {
    const { runId, deps } = this.core;
    if (!runId || !deps.telemetry) return undefined;
    this.recorder ??= new CallRecorder(deps.telemetry, runId, deps.log);
    return this.recorder;
  }

  private async gateAndRun(
    msg: JsonRpcRequest,
    name: string,
    entry: ReturnType<ToolCatalog['get']>,
    action: Action,
    call: InFlight,
    recorder: CallRecorder | undefined,
    policy: HITLPolicy,
  ): Promise<void> {
    const isPermissionPrompt = entry === undefined;
    let outcome: GateOutcome;
    try {
      outcome = await gateAction(action, {
        policy,
        backend: this.core.backend!,
        runId: this.core.runId ?? 'no-telemetry',
        logger: recorder?.gateLogger,
        context: this.requestContext(entry, msg.id),
        timeoutMs: this.timeoutFor(name),
        // Only a call that waits for a human needs a signal: made on first use,
        // not for every allowed call.
        get signal() {
          return callSignal(call);
        },
        validateArgs: isPermissionPrompt ? undefined : (a) => this.core.catalog.validate(name, a),
        onAsk: (request) => this.startKeepAlive(call, name, request.policyReason),
      });
    } catch (err) {
      clearInterval(call.keepAlive);
      this.core.inflight.delete(msg.id);
      if (call.cancelled || (err instanceof Error && err.name === 'AbortError')) {
        this.core.deps.log.info(
          `call to ${name} withdrawn: the client cancelled it; nothing was executed`,
        );
        return; // the client gave up on this request; MCP says not to answer it
      }
      const reason = err instanceof Error ? err.message : String(err);
      return this.core.send(
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
      this.core.inflight.delete(msg.id);
      return this.core.send(
        resultResponse(msg.id, {
          content: [{ type: 'text', text: permissionResultText(outcome) }],
        }),
        {
          relatedRequestId: msg.id,
        },
      );
    }
    if (outcome.kind === 'denied' || outcome.kind === 'rejected') {
      this.core.inflight.delete(msg.id);
      return this.core.send(resultResponse(msg.id, toolError(notExecutedMessage(outcome))), {
        relatedRequestId: msg.id,
      });
    }
    const edit = outcome.kind === 'approved' && outcome.edited ? outcome.decision : undefined;
    this.forwardCall(msg, entry!, action, outcome.args, call, recorder, edit);
  }

  private forwardCall(
    msg: JsonRpcRequest,
    entry: NonNullable<ReturnType<ToolCatalog['get']>>,
    action: Action,
    args: Record<string, unknown>,
    call: InFlight,
    recorder: CallRecorder | undefined,
    edit?: Decision,
  ): void {
    if (recorder && !this.recordStart(msg, recorder, action, args)) return;
    const params: Record<string, unknown> = {
      ...msg.params,
      name: entry.tool.name,
      arguments: args,
    };
    if (call.progressToken !== undefined && call.progressSent > 0) {
      // The client already saw our keep-alive progress; give the server its own
      // token and shift its values so the client's progress keeps increasing.
      const upstreamToken = this.progress.upstreamToken(call);
      params._meta = { ...(params._meta as object), progressToken: upstreamToken };
    }
    const started = performance.now();
    call.server = entry.server;
    call.upstreamId = entry.server.forward('tools/call', params, (response, raw) => {
      call.deadline?.();
      const durationMs = performance.now() - started;
      this.core.inflight.delete(msg.id);
      this.progress.forget(call);
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
      recorder?.end({ actionId: action.id, success, error, durationMs, executed: true });
      if (out) this.core.send(out, { relatedRequestId: msg.id });
      else this.core.relay(response, raw, call.upstreamId!, msg.id);
    });
    const limitMs = this.executionTimeoutFor(msg.params?.name as string);
    if (limitMs > 0)
      call.deadline = this.core.deadlines.add(limitMs, () =>
        this.executionTimedOut(msg, entry, action, call, limitMs, recorder, started),
      );
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
    recorder: CallRecorder | undefined,
    started: number,
  ): void {
    if (call.cancelled || this.core.inflight.get(msg.id) !== call) return;
    this.core.inflight.delete(msg.id);
    call.cancelled = true;
    this.progress.forget(call);
    const seconds = limitMs / 1000;
    const reason = `no answer within ${seconds} s (proxy.executionTimeoutMs)`;
    if (call.upstreamId !== undefined) entry.server.cancel(call.upstreamId, reason);
    this.core.deps.log.warn(`call to ${action.toolName} on '${entry.server.name}': ${reason}`);
    const result = {
      actionId: action.id,
      success: false,
      error: `timed out: ${reason}`,
      durationMs: performance.now() - started,
      executed: true,
    };
    recorder?.end(result);
    this.core.send(
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
   * Records a call's start before it is forwarded (call-recorder.ts). When
   * `required` telemetry cannot be written, the client gets a tool error
   * saying nothing ran, and false is returned: the call is not forwarded.
   */
  private recordStart(
    msg: JsonRpcRequest,
    recorder: CallRecorder,
    action: Action,
    args: Record<string, unknown>,
  ): boolean {
    try {
      recorder.start(action, args);
      return true;
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      this.core.inflight.delete(msg.id);
      this.core.deps.log.error(`telemetry: refused ${action.toolName}: ${reason}`);
      this.core.send(
        resultResponse(msg.id, toolError(telemetryRefusal(String(msg.params?.name), reason))),
        { relatedRequestId: msg.id },
      );
      return false;
    }
  }

  private startKeepAlive(call: InFlight, name: string, reason: string): void {
    if (call.progressToken === undefined) return;
    const tick = () => {
      if (call.cancelled) return;
      call.progressSent++;
      this.core.send(
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
    call.keepAlive = setInterval(tick, this.core.config.approval.keepAliveMs);
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
    const client = { name: this.core.clientInfo.name, version: this.core.clientInfo.version };
    if (!entry) return { client, cwd: this.core.cwd, clientRequestId };
    return {
      client,
      cwd: this.core.cwd,
      exposedName: entry.exposedName,
      toolDescription: entry.tool.description,
      annotations: entry.tool.annotations,
      inputSchema: entry.tool.inputSchema,
      clientRequestId,
    };
  }

  private executionTimeoutFor(name: string): number {
    for (const t of this.executionTimeouts) if (t.pattern.test(name)) return t.timeoutMs;
    return this.core.config.proxy.executionTimeoutMs ?? 0;
  }

  private timeoutFor(name: string): number {
    for (const t of this.toolTimeouts) if (t.pattern.test(name)) return t.timeoutMs;
    return this.core.config.approval.timeoutMs;
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
