import type { ApprovalRequest } from '../models/approval-request.js';
import type { Decision } from '../models/decision.js';

/** Options for one approval request. */
export interface ApprovalOptions {
  /** Aborting withdraws the request; the promise rejects with an `AbortError`. */
  signal?: AbortSignal;
  /** Overrides the backend's default timeout for this request. */
  timeoutMs?: number;
  /**
   * Validates edited arguments (e.g. against the tool's inputSchema). Returns
   * a list of problems; empty means valid. Backends that accept edits call it
   * before returning a Decision with `editedArgs`.
   */
  validateArgs?: (args: Record<string, unknown>) => string[];
  /**
   * Called once the request actually waits for a person. A backend that sets
   * `reportsWaiting` calls it, and does not when it answers at once (a
   * remembered rule, a decision made before a restart), so the caller does
   * not tell the agent it is "waiting for human approval" when it is not.
   */
  onWaiting?: () => void;
}

/**
 * The port every approval channel implements: a request goes in, a Decision
 * comes out. Implementations must measure `latencyMs` from the moment the
 * request was presented, label timeouts as `<channel>:timeout` (never as a
 * human rejection), and honour `signal`.
 *
 * @example
 * const decision = await backend.requestApproval(request, { signal: AbortSignal.timeout(60_000) });
 * if (decision.approved) run(decision.editedArgs ?? request.action.toolArgs);
 */
export interface ApprovalBackend {
  readonly name: string;
  /** True when the backend calls `options.onWaiting` itself; otherwise every request counts as waiting. */
  readonly reportsWaiting?: boolean;
  requestApproval(request: ApprovalRequest, options?: ApprovalOptions): Promise<Decision>;
  close?(): Promise<void>;
}

/** The error a backend rejects with when its request is withdrawn. */
export function abortError(signal?: AbortSignal): Error {
  const reason: unknown = signal?.reason;
  if (reason instanceof Error && reason.name === 'AbortError') return reason;
  const err = new Error(typeof reason === 'string' ? reason : 'The approval request was withdrawn');
  err.name = 'AbortError';
  return err;
}
