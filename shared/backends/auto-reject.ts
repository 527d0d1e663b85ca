import type { ApprovalRequest } from '../models/approval-request.js';
import type { Decision } from '../models/decision.js';
import { argsHash } from '../util/canonical-json.js';
import { type ApprovalBackend, type ApprovalOptions, abortError } from './backend.js';

/** Options for {@link AutoRejectBackend}. */
export interface AutoRejectOptions {
  /**
   * Why calls are rejected, e.g. "read-only mode". The decision's reason
   * always adds that the rejection was automatic, so an agent (or an analyst
   * reading telemetry) never takes it for a person's judgement.
   */
  reason?: string;
}

/**
 * Rejects every request without asking anyone: a fail-closed default, a
 * read-only mode, or the "no tools" arm of an experiment. Labelled
 * `auto:reject`; latency is measured, not assumed.
 *
 * @example
 * const backend = new AutoRejectBackend({ reason: 'tools are disabled during the demo' });
 * const d = await backend.requestApproval(request);
 * d.reason // 'tools are disabled during the demo (rejected automatically; no human was asked)'
 */
export class AutoRejectBackend implements ApprovalBackend {
  readonly name = 'auto-reject';
  // Nobody is waited for: never reported as "waiting for human approval".
  readonly reportsWaiting = true;
  private readonly reason: string;

  constructor(options: AutoRejectOptions = {}) {
    const base = options.reason?.trim();
    this.reason = base
      ? `${base} (rejected automatically; no human was asked)`
      : 'Rejected automatically by AutoRejectBackend; no human was asked.';
  }

  async requestApproval(
    request: ApprovalRequest,
    options: ApprovalOptions = {},
  ): Promise<Decision> {
    const started = performance.now();
    if (options.signal?.aborted) throw abortError(options.signal);
    return {
      actionId: request.action.id,
      approved: false,
      reason: this.reason,
      decidedBy: 'auto:reject',
      tags: [],
      argsHash: argsHash(request.action.toolArgs),
      decidedAt: new Date().toISOString(),
      latencyMs: performance.now() - started,
    };
  }
}
