import { AIMessage, type BaseMessage, ToolMessage } from '@langchain/core/messages';
import type { StructuredToolInterface } from '@langchain/core/tools';
import {
  type ActionRequest,
  createMiddleware,
  type HITLRequest,
  type InterruptOnConfig,
  type ReviewConfig,
} from 'langchain';
import { z } from 'zod';
import type { ApprovalBackend } from '../../backends/backend.js';
import type { GateOutcome } from '../../gate/approval-gate.js';
import type { ApprovalHub } from '../../hub/approval-hub.js';
import { type Action, type ActionInput, createAction } from '../../models/action.js';
import type { ApprovalRequest } from '../../models/approval-request.js';
import type { RecordedDecision } from '../../models/decision.js';
import type { HITLPolicy, PolicyContext, PolicyDecision } from '../../policies/policy.js';
import type { TelemetryLogger } from '../../telemetry/logger.js';
import { actionVerdictPayload, errorPayload } from '../../telemetry/payloads.js';
import { argsHash } from '../../util/canonical-json.js';
import { uuidv7 } from '../../util/uuidv7.js';
import { ExecutionLedger, stringifyToolOutput } from '../execution-ledger.js';
import {
  gateToolCall,
  type HitlOutcome,
  resolveBackend,
  type ToolCallLike,
  toHitlOutcome,
} from '../gate.js';
import { withEditedArgs } from '../gate-node.js';
import { actionIdFor, callKeyFor, ensureRun, KeyedLogger, runIdFor, threadIdOf } from '../ids.js';
import { checkedInterrupt, currentConfig, ResumeRefusedError } from '../interrupt-backend.js';
import { validateArgsWith } from '../tool-schema.js';
import { type CallDecision, type DecisionType, parseHitlResponse } from './hitl-response.js';

const ALL_DECISIONS: DecisionType[] = ['approve', 'edit', 'reject'];

/** Options of hitloopMiddleware: humanInTheLoopMiddleware's, plus hitloop's. */
export interface HitloopMiddlewareOptions {
  /**
   * As in `humanInTheLoopMiddleware`: tool name to `true` (ask, all decisions
   * allowed), `false` (no review) or an `InterruptOnConfig` (`allowedDecisions`,
   * `description`, `argsSchema`, `when`).
   */
  interruptOn?: Record<string, boolean | InterruptOnConfig>;
  /** As in `humanInTheLoopMiddleware`: the description's prefix for tools without their own. */
  descriptionPrefix?: string;
  /**
   * A hitloop policy for every call: `deny` stops it, `ask` sends it to the
   * reviewer, `allow` lets it run unless `interruptOn` asks for it.
   */
  policy?: HITLPolicy;
  /** Telemetry: one run per thread, each event once; also the record that runs each call once. */
  logger?: TelemetryLogger;
  /** `interrupt` (default): one LangGraph interrupt per model turn. `backend`: await `backend` or `hub`. */
  mode?: 'interrupt' | 'backend';
  backend?: ApprovalBackend;
  /** For `mode: 'backend'`: the approval hub (the VS Code sidebar). */
  hub?: ApprovalHub;
  timeoutMs?: number;
  /** The agent's tools: edits are checked against their (zod) schemas at the decision. */
  tools?: Array<Pick<StructuredToolInterface, 'name' | 'schema'>>;
  /** More checks of edited arguments; returns problems (empty: valid). */
  validateArgs?: (toolName: string, args: Record<string, unknown>) => string[];
  /** Risk class, rationale, side effects... for a call; the policy sees them. */
  describeAction?: (
    call: ToolCallLike,
  ) => Partial<Omit<ActionInput, 'id' | 'toolName' | 'toolArgs'>>;
  context?: PolicyContext;
  /** Used when the run config has no thread id. */
  threadId?: string;
}

type ResolvedConfig = {
  allowedDecisions: DecisionType[];
  description?: InterruptOnConfig['description'];
  argsSchema?: Record<string, unknown>;
  when?: InterruptOnConfig['when'];
};

const NO_POLICY: HITLPolicy = {
  name: 'interrupt_on',
  evaluate: () => ({ verdict: 'allow', reason: 'the tool is not listed in interruptOn' }),
};

/**
 * hitloop as `createAgent` middleware: a drop-in for LangChain's
 * `humanInTheLoopMiddleware` (same `interruptOn` / `allowedDecisions` /
 * `description` options, the same `HITLRequest` interrupt and `HITLResponse`
 * resume), plus hitloop policies, channels (hub, CLI, webhook) and telemetry.
 *
 * Differences, each on purpose: a resume must hold exactly one allowed
 * decision per action request, or it is refused (the run fails, nothing runs,
 * the interrupt stays open); an edit may change arguments only and must fit
 * the tool's schema, else that call is rejected; a rejection does not drop the
 * other approved calls; each approved call runs once, even if the tools node
 * runs again (with a logger), and only with the arguments decided.
 *
 * @example
 * const agent = createAgent({ model, tools, checkpointer, middleware: [hitloopMiddleware({ interruptOn: { send_email: true }, policy, logger, tools })] });
 */
export function hitloopMiddleware(options: HitloopMiddlewareOptions = {}) {
  const interruptOn = resolveInterruptOn(options.interruptOn ?? {});
  const basePolicy = options.policy ?? NO_POLICY;
  const mode = options.mode ?? 'interrupt';
  const channel =
    mode === 'backend'
      ? resolveBackend({
          policy: basePolicy,
          mode,
          backend: options.backend,
          hub: options.hub,
          timeoutMs: options.timeoutMs,
        })
      : undefined;
  if (mode === 'interrupt' && (options.backend || options.hub))
    throw new Error(
      "hitloop/langchain: mode 'interrupt' takes no backend or hub; use mode: 'backend'",
    );
  const schemaCheck = validateArgsWith(options.tools ?? []);
  const validate = (toolName: string, args: Record<string, unknown>) => [
    ...schemaCheck(toolName, args),
    ...(options.validateArgs?.(toolName, args) ?? []),
  ];
  const ledger = options.logger ? new ExecutionLedger(options.logger) : undefined;

  return createMiddleware({
    name: 'HitloopMiddleware',
    // The decisions live in the checkpoint, so the tools node (also after a
    // restart) runs only what was decided.
    stateSchema: z.object({ hitloop: z.record(z.string(), z.any()).default({}) }),
    afterModel: {
      canJumpTo: ['model'],
      hook: async (state, runtime) => {
        const messages = state.messages as BaseMessage[];
        const lastAi = [...messages].reverse().find((m) => AIMessage.isInstance(m)) as
          | AIMessage
          | undefined;
        if (!lastAi?.tool_calls?.length) return;
        // Already decided (this hook's own ToolMessages follow the message).
        // Only later messages count: a model may reuse ids across turns.
        const answered = new Set(
          messages
            .slice(messages.lastIndexOf(lastAi) + 1)
            .filter((m) => ToolMessage.isInstance(m))
            .map((m) => m.tool_call_id),
        );
        if (lastAi.tool_calls.some((c) => c.id && answered.has(c.id))) return;
        const threadId = threadIdOf(currentConfig(), options.threadId);
        const calls: ToolCallLike[] = lastAi.tool_calls.map((c, i) => {
          const id = c.id ?? `${i}`;
          return {
            id,
            key: callKeyFor(messages, id),
            name: c.name,
            args: (c.args ?? {}) as Record<string, unknown>,
          };
        });
        // Which calls interruptOn sends to a human (its `when` may say no).
        const forced = new Set<string>();
        for (const [i, call] of calls.entries()) {
          const config = interruptOn.get(call.name);
          if (!config) continue;
          const when = config.when;
          const toolCall = lastAi.tool_calls[i];
          if (!when || (await when({ toolCall, tool: undefined, state, runtime } as never)))
            forced.add(call.id);
        }
        const policy = askWhenListed(basePolicy, forced);
        const outcomes: HitlOutcome[] = channel
          ? await gateEach(calls, threadId, channel, policy)
          : await gateTogether(calls, threadId, policy, state, runtime);
        const byCallId = Object.fromEntries(outcomes.map((o) => [o.toolCallId, o]));
        const edited = withEditedArgs(lastAi, byCallId);
        const stopped = outcomes
          .filter((o) => !o.execute)
          .map(
            (o) =>
              new ToolMessage({
                content: o.message ?? `Tool '${o.toolName}' was NOT executed.`,
                tool_call_id: o.toolCallId,
                name: o.toolName,
                status: 'error',
              }),
          );
        const hitloop = {
          ...(state.hitloop as Record<string, HitlOutcome>),
          ...Object.fromEntries(outcomes.map((o) => [o.actionId, o])),
        };
        // With nothing left to run, the model reads the refusals next (the
        // router would otherwise end the run on a ToolMessage).
        const jump = outcomes.some((o) => o.execute) ? {} : { jumpTo: 'model' as const };
        return { messages: [...(edited ? [edited] : []), ...stopped], hitloop, ...jump };
      },
    },
    wrapToolCall: async (request, handler) => {
      const { toolCall } = request;
      const state = request.state as {
        messages: BaseMessage[];
        hitloop?: Record<string, HitlOutcome>;
      };
      const id = toolCall.id ?? '';
      const refuse = (why: string) =>
        new ToolMessage({
          content: `Tool '${toolCall.name}' was NOT executed: ${why}`,
          tool_call_id: id,
          name: toolCall.name,
          status: 'error',
        });
      const threadId = threadIdOf(currentConfig(), options.threadId);
      const actionId = actionIdFor(threadId, callKeyFor(state.messages, id));
      const outcome = state.hitloop?.[actionId];
      if (!outcome)
        return refuse(
          'hitloop has no decision for this call (the HitloopMiddleware did not see it after the model proposed it).',
        );
      if (!outcome.execute) return refuse(outcome.message ?? 'it was not approved.');
      if (
        toolCall.name !== outcome.toolName ||
        argsHash(toolCall.args ?? {}) !== argsHash(outcome.args)
      )
        return refuse(
          'its name or arguments changed after the decision; hitloop runs only what was decided.',
        );
      if (!ledger) return handler(request);
      let direct: Awaited<ReturnType<typeof handler>> | undefined;
      const result = await ledger.runOnce(
        {
          runId: runIdFor(threadId),
          actionId,
          toolName: outcome.toolName,
          args: outcome.args,
        },
        async () => {
          direct = await handler(request);
          if (ToolMessage.isInstance(direct))
            return {
              content: stringifyToolOutput(direct.content),
              success: direct.status !== 'error',
            };
          return { content: stringifyToolOutput(direct), success: true };
        },
      );
      if (!result.replayed && direct) return direct;
      return new ToolMessage({
        content: result.content,
        tool_call_id: id,
        name: toolCall.name,
        status: result.success ? 'success' : 'error',
      });
    },
  });

  /** mode 'backend': each call through the gate, one after another. */
  async function gateEach(
    calls: ToolCallLike[],
    threadId: string,
    backend: ApprovalBackend,
    policy: HITLPolicy,
  ): Promise<HitlOutcome[]> {
    const out: HitlOutcome[] = [];
    for (const call of calls)
      out.push(
        await gateToolCall(call, threadId, backend, {
          ...options,
          policy,
          validateArgs: validate,
        }),
      );
    return out;
  }

  /** mode 'interrupt': the policy for each call, then one interrupt for all that ask. */
  async function gateTogether(
    calls: ToolCallLike[],
    threadId: string,
    policy: HITLPolicy,
    state: unknown,
    runtime: unknown,
  ): Promise<HitlOutcome[]> {
    const runId = runIdFor(threadId);
    const logger = options.logger;
    if (logger) ensureRun(logger, runId, policy.name);
    const outcomes = new Map<string, HitlOutcome>();
    const asked: Array<{
      call: ToolCallLike;
      action: Action;
      verdict: PolicyDecision;
      request: ApprovalRequest;
      config: ResolvedConfig;
      log?: KeyedLogger;
    }> = [];
    for (const call of calls) {
      const actionId = actionIdFor(threadId, call.key ?? call.id);
      const log = logger ? new KeyedLogger(logger, actionId) : undefined;
      const action = createAction({
        ...options.describeAction?.(call),
        id: actionId,
        toolName: call.name,
        toolArgs: call.args,
      });
      const context = { ...options.context, threadId, toolCallId: call.id };
      const verdict = await policy.evaluate(action, { runId, ...context });
      log?.logEvent({
        runId,
        eventType: 'action_proposed',
        payload: actionVerdictPayload(action, policy.name, verdict),
      });
      if (verdict.verdict === 'allow') {
        outcomes.set(
          call.id,
          toHitlOutcome(call, actionId, {
            kind: 'allowed',
            action,
            args: call.args,
            policy: verdict,
          }),
        );
      } else if (verdict.verdict === 'deny') {
        outcomes.set(
          call.id,
          toHitlOutcome(call, actionId, { kind: 'denied', action, policy: verdict }),
        );
      } else {
        const request: ApprovalRequest = {
          runId,
          action,
          policyName: policy.name,
          policyReason: verdict.reason,
          context,
          createdAt: new Date().toISOString(),
        };
        log?.logApprovalRequested(runId, request);
        const config = interruptOn.get(call.name) ?? { allowedDecisions: ALL_DECISIONS };
        asked.push({ call, action, verdict, request, config, log });
      }
    }
    if (asked.length > 0) {
      const hitlRequest: HITLRequest = {
        actionRequests: await Promise.all(
          asked.map(
            async (a): Promise<ActionRequest> => ({
              name: a.call.name,
              args: a.call.args,
              description: await describe(a.call, a.config, a.verdict, state, runtime),
            }),
          ),
        ),
        reviewConfigs: asked.map(
          (a): ReviewConfig => ({
            actionName: a.call.name,
            allowedDecisions: a.config.allowedDecisions,
            ...(a.config.argsSchema ? { argsSchema: a.config.argsSchema } : {}),
          }),
        ),
      };
      const asks = asked.map((a) => ({
        toolName: a.call.name,
        allowedDecisions: a.config.allowedDecisions,
      }));
      let decisions: CallDecision[];
      const started = performance.now();
      try {
        decisions = await askOnce(hitlRequest, asks);
      } catch (err) {
        // The requests stay open; record why this answer was refused.
        if (err instanceof ResumeRefusedError && logger)
          for (const a of asked)
            logger.logEvent({
              runId,
              eventType: 'error',
              eventId: `${a.action.id}:resume_refused:${uuidv7()}`,
              payload: errorPayload(err, { action_id: a.action.id, tool_name: a.call.name }),
            });
        throw err;
      }
      for (const [i, a] of asked.entries()) {
        const decision = toDecision(
          a.action,
          decisions[i] as CallDecision,
          performance.now() - started,
        );
        a.log?.logApprovalDecided(runId, decision, {
          toolName: a.call.name,
          policyName: policy.name,
          policyReason: a.verdict.reason,
        });
        const gate: GateOutcome = decision.approved
          ? {
              kind: 'approved',
              action: a.action,
              args: decision.editedArgs ?? a.call.args,
              edited: decision.editedArgs !== undefined,
              policy: a.verdict,
              decision,
            }
          : { kind: 'rejected', action: a.action, policy: a.verdict, decision };
        outcomes.set(a.call.id, toHitlOutcome(a.call, a.action.id, gate));
      }
    }
    return calls.map((c) => outcomes.get(c.id) as HitlOutcome);
  }

  /** A reviewer's CallDecision as a hitloop Decision; a bad edit becomes a rejection. */
  function toDecision(action: Action, d: CallDecision, latencyMs: number): RecordedDecision {
    const base = {
      actionId: action.id,
      decidedBy: 'langchain:reviewer',
      latencyMs,
      tags: [] as string[],
      argsHash: argsHash(action.toolArgs),
      decidedAt: new Date().toISOString(),
    };
    if (d.type === 'approve') return { ...base, approved: true, reason: '' };
    if (d.type === 'reject')
      return { ...base, approved: false, reason: d.message ?? '', tags: ['resume:reject'] };
    if (d.name !== action.toolName)
      return {
        ...base,
        approved: false,
        reason: `the edit named tool '${d.name}', not '${action.toolName}'; an edit may change arguments only`,
        tags: ['invalid_edit'],
      };
    const problems = validate(action.toolName, d.args);
    if (problems.length > 0)
      return {
        ...base,
        approved: false,
        reason: `the edited arguments are invalid: ${problems.join('; ')}`,
        tags: ['invalid_edit'],
      };
    return { ...base, approved: true, reason: '', editedArgs: d.args, tags: ['edited'] };
  }

  async function describe(
    call: ToolCallLike,
    config: ResolvedConfig,
    verdict: PolicyDecision,
    state: unknown,
    runtime: unknown,
  ): Promise<string> {
    const d = config.description;
    if (typeof d === 'function')
      return d({ ...call, type: 'tool_call' } as never, state as never, runtime as never);
    if (typeof d === 'string') return d;
    const prefix = options.descriptionPrefix ?? 'Tool execution requires approval';
    return `${prefix}\n\nTool: ${call.name}\nArgs: ${JSON.stringify(call.args, null, 2)}\n\nhitloop: ${verdict.reason}`;
  }
}

/**
 * Pauses once with the HITLRequest and reads the HITLResponse. The resume
 * value is checked before `interrupt()` consumes it, so a refused one leaves
 * the interrupt open to be answered again.
 */
function askOnce(
  request: HITLRequest,
  asked: Array<{ toolName: string; allowedDecisions: DecisionType[] }>,
): Promise<CallDecision[]> {
  return checkedInterrupt(
    request,
    (value) => parseHitlResponse(value, asked),
    (pending) =>
      `hitloop/langchain: ${pending} interrupts are waiting and Command({ resume }) gave one value without naming one; resume by interrupt id: Command({ resume: { [interrupt.id]: { decisions: [...] } } }).`,
  );
}

/** A policy that asks for the calls interruptOn lists, unless the base policy denies them. */
function askWhenListed(base: HITLPolicy, listed: ReadonlySet<string>): HITLPolicy {
  return {
    name: base.name,
    async evaluate(action, context) {
      const verdict = await base.evaluate(action, context);
      const callId = context?.toolCallId;
      if (verdict.verdict === 'allow' && typeof callId === 'string' && listed.has(callId))
        return {
          verdict: 'ask',
          reason: `interruptOn lists '${action.toolName}'`,
          rule: `interruptOn.${action.toolName}`,
        };
      return verdict;
    },
  };
}

function resolveInterruptOn(
  interruptOn: Record<string, boolean | InterruptOnConfig>,
): Map<string, ResolvedConfig> {
  const out = new Map<string, ResolvedConfig>();
  for (const [tool, config] of Object.entries(interruptOn)) {
    if (config === false) continue;
    if (config === true) {
      out.set(tool, { allowedDecisions: ALL_DECISIONS });
      continue;
    }
    const allowed = config?.allowedDecisions;
    if (
      !Array.isArray(allowed) ||
      allowed.length === 0 ||
      allowed.some((d) => !ALL_DECISIONS.includes(d as DecisionType))
    )
      throw new Error(
        `hitloop/langchain: interruptOn['${tool}'].allowedDecisions must be a non-empty list of 'approve', 'edit', 'reject'; got ${JSON.stringify(allowed)}`,
      );
    out.set(tool, {
      allowedDecisions: [...allowed] as DecisionType[],
      description: config.description,
      argsSchema: config.argsSchema as Record<string, unknown> | undefined,
      when: config.when,
    });
  }
  return out;
}
