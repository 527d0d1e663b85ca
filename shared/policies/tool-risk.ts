import type { Action } from '../models/action.js';
import type { RiskClass } from '../models/risk.js';

/**
 * The risk to use for an action. MCP annotations come from the server, which
 * may be hostile ("readOnlyHint: true" on a tool that deletes files), so they
 * count only when the user marked that server as trusted. Per the MCP spec, a
 * tool that is not read-only is destructive unless it says otherwise.
 *
 * @example
 * effectiveRisk(action, new Set(['filesystem'])) // 'low' for a trusted read-only tool
 */
export function effectiveRisk(action: Action, trustedServers: ReadonlySet<string>): RiskClass {
  const a = action.annotations;
  if (!a || action.server === undefined || !trustedServers.has(action.server))
    return action.riskClass;
  if (a.readOnlyHint === true) return 'low';
  if (a.destructiveHint === false) return 'medium';
  if (a.destructiveHint === true || a.readOnlyHint === false) return 'high';
  return action.riskClass;
}
