import { type ApprovalBackend, type ApprovalOptions, abortError } from '../backends/backend.js';
import type { ApprovalRequest } from '../models/approval-request.js';
import type { Decision } from '../models/decision.js';
import { argsHash } from '../util/canonical-json.js';
import type { ApprovalHub } from './approval-hub.js';
import { pendingRecordFor } from './pending-record.js';
import type { ApprovalRecord } from './protocol.js';

/**
 * Sends approval requests to the approval hub, where the VS Code sidebar, the
 * CLI (`hitloop approve`) or any other hub client decides. A remembered rule
 * answers at once. A timeout expires the request (labelled `hub:timeout`);
 * an abort withdraws it, so its card disappears and nothing runs.
 *
 * @example
 * const backend = new HubBackend(hub, { timeoutMs: 600_000 });
 * const decision = await backend.requestApproval(request, { signal });
 */
export class HubBackend implements ApprovalBackend {
  readonly name = 'hub';
  readonly reportsWaiting = true;

  constructor(
    private readonly hub: ApprovalHub,
    private readonly options: {
      timeoutMs?: number;
      /**
       * Stable across restarts (a proxy's instance name): requests carry it,
       * so a restarted process takes them back (`ApprovalHub.recover`) and a
       * decision made meanwhile still applies when the agent retries.
       * Default: the request context's `threadId` (set by the LangGraph gate).
       */
      threadId?: string;
    } = {},
  ) {}

  async requestApproval(
    request: ApprovalRequest,
    options: ApprovalOptions = {},
  ): Promise<Decision> {
    if (options.signal?.aborted) throw abortError(options.signal);
    const started = performance.now();
    const action = request.action;
    const ctx = request.context;
    const cwd = typeof ctx.cwd === 'string' ? ctx.cwd : undefined;
    const rule = await this.hub.matchRule({
      server: action.server,
      tool: action.toolName,
      args: action.toolArgs,
      cwd,
    });
    if (rule) {
      return {
        actionId: action.id,
        approved: rule.effect === 'allow',
        reason: `remembered decision (${rule.scope}, rule ${rule.id})`,
        decidedBy: `rule:${rule.createdBy}`,
        latencyMs: performance.now() - started,
        tags: ['remembered', `scope:${rule.scope}`],
        argsHash: argsHash(action.toolArgs),
        decidedAt: new Date().toISOString(),
      };
    }
    const timeoutMs = options.timeoutMs ?? this.options.timeoutMs ?? 600_000;
    const hash = argsHash(action.toolArgs);
    const threadId =
      this.options.threadId ?? (typeof ctx.threadId === 'string' ? ctx.threadId : undefined);
    const recoveredId = this.hub.takeRecovered(action.server, action.toolName, hash);
    if (recoveredId !== undefined) {
      const earlier = await this.hub.store.get(recoveredId);
      if (earlier?.status === 'pending' || earlier?.decision) {
        // The same call was asked before a restart; its decision (or its
        // still-open card) answers this retry instead of a second card.
        if (!earlier.decision) options.onWaiting?.();
        const decision = await this.await(earlier, options, timeoutMs, started);
        return {
          ...decision,
          actionId: action.id,
          tags: [...decision.tags, `recovered:${earlier.id}`],
        };
      }
    }
    const record = pendingRecordFor(request, {
      hubId: this.hub.hubId,
      timeoutMs,
      // A LangGraph thread (the gate puts its id in the context) resumes too.
      ...(threadId ? { threadId } : {}),
    });
    await this.hub.publish(record, options.validateArgs);
    options.onWaiting?.();
    return this.await(record, options, timeoutMs, started);
  }

  /** Waits for `record` to leave pending, honouring the timeout and the abort signal. */
  private async await(
    record: ApprovalRecord,
    options: ApprovalOptions,
    timeoutMs: number,
    started: number,
  ): Promise<Decision> {
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const outcome = await Promise.race([
      this.hub.waitFor(record.id).then((r) => ({ kind: 'settled' as const, record: r })),
      new Promise<{ kind: 'timeout' }>((resolve) => {
        timer = setTimeout(() => resolve({ kind: 'timeout' }), timeoutMs);
      }),
      new Promise<{ kind: 'aborted' }>((resolve) => {
        onAbort = () => resolve({ kind: 'aborted' });
        options.signal?.addEventListener('abort', onAbort, { once: true });
      }),
    ]);
    clearTimeout(timer);
    if (onAbort) options.signal?.removeEventListener('abort', onAbort);

    let settled: ApprovalRecord | undefined;
    if (outcome.kind === 'aborted') {
      await this.hub.withdraw(record.id, 'the agent withdrew the call (the client cancelled it)');
      throw abortError(options.signal);
    }
    if (outcome.kind === 'timeout') {
      settled = await this.hub.expire(
        record.id,
        `no decision within ${Math.round(timeoutMs / 1000)} s`,
      );
      // A decision may have landed at the same instant; then it wins.
      settled ??= await this.hub.store.get(record.id);
    } else settled = outcome.record;

    if (settled?.decision && (settled.status === 'approved' || settled.status === 'rejected')) {
      if (record.threadId) await this.hub.delivered(record.id);
      const edited = settled.decision.editedArgs;
      // Another process's hub (a team hub) cannot check edits against this
      // tool's schema; this process can, and refuses what does not fit.
      const problems = edited ? (options.validateArgs?.(edited) ?? []) : [];
      if (problems.length)
        return {
          ...settled.decision,
          approved: false,
          reason: `the edited arguments do not match the tool's input schema: ${problems.join('; ')}`,
          decidedBy: 'hub:invalid_args',
          tags: [...settled.decision.tags, 'invalid_edit'],
        };
      return settled.decision;
    }
    const why = settled?.statusReason ?? 'the request was closed without a decision';
    return {
      actionId: record.id,
      approved: false,
      reason: `${why}; no human rejected this call`,
      decidedBy:
        settled?.status === 'expired' && outcome.kind === 'timeout'
          ? 'hub:timeout'
          : 'hub:unavailable',
      latencyMs: performance.now() - started,
      tags: [],
      argsHash: record.argsHash,
      decidedAt: new Date().toISOString(),
    };
  }
}
