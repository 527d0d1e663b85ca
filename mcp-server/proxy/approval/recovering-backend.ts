import type { ApprovalBackend, ApprovalOptions } from '../../../shared/backends/backend.js';
import type { ApprovalHub } from '../../../shared/hub/approval-hub.js';
import type { ApprovalRequest } from '../../../shared/models/approval-request.js';
import type { Decision } from '../../../shared/models/decision.js';
import { argsHash } from '../../../shared/util/canonical-json.js';

/**
 * Lets a channel other than the hub honour requests taken back after a
 * restart: when the agent retries a call this proxy asked about before it
 * died, the earlier request's decision (or its still-open request) answers
 * the retry instead of a second message going out.
 *
 * @example
 * const backend = new RecoveringBackend(hub, webhook, (id, o) => webhook.awaitRecovered(id, o));
 */
export class RecoveringBackend implements ApprovalBackend {
  readonly name: string;

  constructor(
    private readonly hub: ApprovalHub,
    private readonly inner: ApprovalBackend,
    private readonly awaitEarlier: (id: string, options: ApprovalOptions) => Promise<Decision>,
  ) {
    this.name = inner.name;
  }

  async requestApproval(
    request: ApprovalRequest,
    options: ApprovalOptions = {},
  ): Promise<Decision> {
    const { action } = request;
    const earlier = this.hub.takeRecovered(
      action.server,
      action.toolName,
      argsHash(action.toolArgs),
    );
    if (earlier === undefined) return this.inner.requestApproval(request, options);
    const decision = await this.awaitEarlier(earlier, options);
    return { ...decision, actionId: action.id, tags: [...decision.tags, `recovered:${earlier}`] };
  }

  close(): Promise<void> {
    return this.inner.close?.() ?? Promise.resolve();
  }
}
