import type { ApprovalBackend, ApprovalOptions } from '../backends/backend.js';
import type { ApprovalHub } from '../hub/approval-hub.js';
import { HubBackend } from '../hub/hub-backend.js';
import type { ApprovalRequest } from '../models/approval-request.js';
import type { Decision } from '../models/decision.js';
import { argsHash } from '../util/canonical-json.js';

/**
 * A HubBackend that does not publish the same request twice. The gate gives
 * each tool call a deterministic id (thread id + tool-call id), so when a node
 * runs again (a re-run on resume, a restart) and the hub already holds a
 * decision for that id and those arguments, that decision is returned instead
 * of a new card appearing in the sidebar.
 *
 * @example
 * const backend = new ResumableHubBackend(hub, { timeoutMs: 600_000 });
 */
export class ResumableHubBackend implements ApprovalBackend {
  readonly name = 'hub';
  private readonly inner: HubBackend;

  constructor(
    private readonly hub: ApprovalHub,
    options: { timeoutMs?: number } = {},
  ) {
    this.inner = new HubBackend(hub, options);
  }

  async requestApproval(request: ApprovalRequest, options?: ApprovalOptions): Promise<Decision> {
    const existing = await this.hub.store.get(request.action.id);
    if (
      existing?.decision &&
      (existing.status === 'approved' || existing.status === 'rejected') &&
      existing.argsHash === argsHash(request.action.toolArgs)
    ) {
      if (existing.deliveredAt === undefined) await this.hub.delivered(existing.id);
      return existing.decision;
    }
    return this.inner.requestApproval(request, options);
  }
}
