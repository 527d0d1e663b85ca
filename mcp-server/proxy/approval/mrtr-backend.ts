import type { ApprovalBackend, ApprovalOptions } from '../../../shared/backends/backend.js';
import { abortError } from '../../../shared/backends/backend.js';
import type { ApprovalRequest } from '../../../shared/models/approval-request.js';
import type { Decision } from '../../../shared/models/decision.js';
import type { JsonRpcId } from '../jsonrpc/messages.js';
import { approvalFormParams, formDecider, readApprovalForm } from './elicitation-backend.js';

/** The key of the approval form among a round's `inputRequests`. */
export const APPROVAL_INPUT_KEY = 'hitloop_approval';

/** What the MRTR backend needs from the client connection (ProxySession implements it). */
export interface MrtrChannel {
  /** True when the client that made this request declared the elicitation capability on it. */
  canElicit(clientRequestId: JsonRpcId): boolean;
  /**
   * Ends the current round of the call with an `input_required` result
   * carrying `inputRequests`; `resume` gets the `inputResponses` of the
   * client's retry (the one whose `requestState` matches). Returns the
   * round's requestState.
   */
  requireInput(
    clientRequestId: JsonRpcId,
    inputRequests: Record<string, unknown>,
    resume: (inputResponses: Record<string, unknown>, retryId: JsonRpcId) => void,
  ): string;
  /** Forgets a round whose call was decided without the client (a timeout). */
  withdraw(requestState: string): void;
}

/**
 * The approval channel for 2026-07-28 clients, successor of the elicitation
 * channel: a gated `tools/call` is answered `input_required` with hitloop's
 * approval form as an embedded `elicitation/create`, and the client's retry
 * carries the person's answer. The retry must repeat the exact call (tool and
 * arguments, checked by the session) and its requestState is good once, so
 * the decision applies to that call only and it runs at most once. A client
 * that did not declare elicitation on the request gets the fallback channel.
 *
 * @example
 * const backend = new MrtrBackend(session, 600_000, hubBackend);
 */
export class MrtrBackend implements ApprovalBackend {
  readonly name = 'mrtr';
  // The gate's keep-alive progress would go to a round already answered.
  readonly reportsWaiting = true;

  constructor(
    private readonly channel: MrtrChannel,
    private readonly defaultTimeoutMs: number,
    private readonly fallback: ApprovalBackend,
  ) {}

  requestApproval(request: ApprovalRequest, options: ApprovalOptions = {}): Promise<Decision> {
    const id = request.context.clientRequestId as JsonRpcId | undefined;
    if (id === undefined || !this.channel.canElicit(id)) {
      // This backend says it reports waiting; a fallback that does not must still start the keep-alives.
      if (!this.fallback.reportsWaiting) options.onWaiting?.();
      return this.fallback.requestApproval(request, options);
    }
    if (options.signal?.aborted) return Promise.reject(abortError(options.signal));
    const action = request.action;
    const timeoutMs = options.timeoutMs ?? this.defaultTimeoutMs;
    const decide = formDecider(action, 'mrtr', 'mcp-mrtr');
    const form = { method: 'elicitation/create', params: approvalFormParams(request) };
    return new Promise<Decision>((resolve, reject) => {
      let state = '';
      const finish = () => {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
      };
      const timer = setTimeout(() => {
        this.channel.withdraw(state);
        finish();
        resolve(
          decide(
            false,
            `no decision within ${Math.round(timeoutMs / 1000)} s; no human rejected this call`,
            'mrtr:timeout',
          ),
        );
      }, timeoutMs);
      const onAbort = () => {
        this.channel.withdraw(state);
        finish();
        reject(abortError(options.signal));
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      const ask = (roundId: JsonRpcId) => {
        state = this.channel.requireInput(
          roundId,
          { [APPROVAL_INPUT_KEY]: form },
          (responses, retryId) => {
            const answer = responses[APPROVAL_INPUT_KEY];
            // A retry without the answer is asked again, on the retry's own round.
            if (!answer || typeof answer !== 'object') return ask(retryId);
            finish();
            const read = readApprovalForm(
              answer as Record<string, unknown>,
              action.toolArgs,
              options.validateArgs,
            );
            resolve(decide(read.approved, read.reason, 'mrtr:user', read.editedArgs));
          },
        );
      };
      try {
        ask(id);
      } catch (err) {
        finish();
        reject(err);
      }
    });
  }
}
