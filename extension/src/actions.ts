import { userInfo } from 'node:os';
import { HubRequestError } from '../../shared/hub/hub-client.js';
import type { RememberScope } from '../../shared/hub/protocol.js';
import type { HubConnections } from './hub-connections.js';

// Deciding, shared by the webview, the commands and the notifications. No
// `vscode` import.

export interface DecisionTarget {
  hubId: string;
  id: string;
  /** The hash of the arguments the reviewer was shown. */
  argsHash: string;
}

export interface DecideOptions {
  approve: boolean;
  reason?: string;
  editedArgs?: Record<string, unknown>;
  remember?: RememberScope;
}

export interface DecisionFailure {
  target: DecisionTarget;
  message: string;
  code?: string;
  details?: string[];
}

export interface DecisionOutcome {
  decided: DecisionTarget[];
  failures: DecisionFailure[];
}

/** Who decided, as the hub records it: `vscode:alice`. */
export function reviewerName(): string {
  try {
    return `vscode:${userInfo().username}`.slice(0, 200);
  } catch {
    return 'vscode:reviewer';
  }
}

/**
 * Sends one decision per target to the hub that asked. Every target is tried
 * (a batch is not all-or-nothing: each request is its own tool call), and
 * every refusal comes back with the hub's words.
 *
 * @example
 * const outcome = await decideAll(hubs, [{ hubId, id, argsHash }], { approve: true });
 */
export async function decideAll(
  hubs: HubConnections,
  targets: readonly DecisionTarget[],
  options: DecideOptions,
): Promise<DecisionOutcome> {
  const decidedBy = reviewerName();
  const outcome: DecisionOutcome = { decided: [], failures: [] };
  // A few at a time: a batch of hundreds must not open hundreds of sockets.
  const queue = [...targets];
  const worker = async () => {
    for (let target = queue.shift(); target; target = queue.shift()) {
      try {
        await hubs.decide(target.hubId, target.id, {
          approve: options.approve,
          argsHash: target.argsHash,
          decidedBy,
          ...(options.reason ? { reason: options.reason } : {}),
          ...(options.editedArgs ? { editedArgs: options.editedArgs } : {}),
          ...(options.remember ? { remember: options.remember } : {}),
        });
        outcome.decided.push(target);
      } catch (err) {
        outcome.failures.push(failureOf(target, err));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, targets.length) }, worker));
  return outcome;
}

function failureOf(target: DecisionTarget, err: unknown): DecisionFailure {
  if (err instanceof HubRequestError) {
    return {
      target,
      message: err.message,
      code: err.code,
      ...(err.details.length ? { details: err.details } : {}),
    };
  }
  const message = err instanceof Error ? err.message : String(err);
  return {
    target,
    message: /fetch failed|ECONNREFUSED/.test(message)
      ? 'the hitloop process that asked cannot be reached (it may have stopped)'
      : message,
  };
}

/** One line for people about a batch. */
export function describeOutcome(outcome: DecisionOutcome, approve: boolean): string {
  const verb = approve ? 'approved' : 'rejected';
  const n = outcome.decided.length;
  const total = n + outcome.failures.length;
  if (outcome.failures.length === 0)
    return total === 1 ? `1 request ${verb}` : `${n} requests ${verb}`;
  const first = outcome.failures[0]!;
  if (total === 1) return first.message;
  return `${n} of ${total} ${verb}; ${outcome.failures.length} failed (first: ${first.message})`;
}
