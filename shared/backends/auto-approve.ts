import type { ApprovalRequest } from '../models/approval-request.js';
import type { Decision } from '../models/decision.js';
import { argsHash } from '../util/canonical-json.js';
import { type ApprovalBackend, type ApprovalOptions, abortError } from './backend.js';

/**
 * Approves every request without asking anyone. For development, for
 * baselines in experiments (what happens with no oversight), and for policies
 * that already decided a call is safe.
 *
 * The decision is labelled `auto:approve` so telemetry never mistakes it for a
 * person's approval, and its latency is measured rather than written as 0:
 * the seed reported 0 ms for decisions that were not instantaneous, which made
 * oversight cost look free.
 *
 * @example
 * const backend = new AutoApproveBackend();
 * const decision = await backend.requestApproval(request);
 * decision.decidedBy // 'auto:approve'
 */
export class AutoApproveBackend implements ApprovalBackend {
  readonly name = 'auto-approve';
  // Nobody is waited for: never reported as "waiting for human approval".
  readonly reportsWaiting = true;

  async requestApproval(
    request: ApprovalRequest,
    options: ApprovalOptions = {},
  ): Promise<Decision> {
    const started = performance.now();
    // A withdrawn request must not come back approved, even from a backend
    // that answers instantly.
    if (options.signal?.aborted) throw abortError(options.signal);
    const toolArgs = request.action.toolArgs;
    return {
      actionId: request.action.id,
      approved: true,
      reason: 'Approved automatically by AutoApproveBackend; no human was asked.',
      decidedBy: 'auto:approve',
      tags: [],
      argsHash: argsHash(toolArgs),
      decidedAt: new Date().toISOString(),
      latencyMs: performance.now() - started,
    };
  }
}
