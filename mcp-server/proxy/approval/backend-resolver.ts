import { AutoApproveBackend } from '../../../shared/backends/auto-approve.js';
import { AutoRejectBackend } from '../../../shared/backends/auto-reject.js';
import type { ApprovalBackend } from '../../../shared/backends/backend.js';
import { CLIBackend } from '../../../shared/backends/cli.js';
import type { ApprovalBackendName, ApprovalSettings } from '../config/types.js';
import type { Logger } from '../log.js';
import type { BackendResolver, ProxySession } from '../session/proxy-session.js';
import { ElicitationBackend } from './elicitation-backend.js';
import { MrtrBackend } from './mrtr-backend.js';

export interface ResolverDeps {
  log: Logger;
  /** The approval hub's backend, once a hub runs in this process (issue 4). */
  hub?: () => ApprovalBackend;
  /** The webhook backend, when approval.webhook is configured. */
  webhook?: () => ApprovalBackend;
}

/**
 * Picks each session's approval channel. Channels that need the client
 * (elicitation) are made per session; the rest are shared. When the chosen
 * channel cannot work for this client, the configured fallback is used and
 * the user is told once.
 */
export function createBackendResolver(
  settings: ApprovalSettings,
  deps: ResolverDeps,
): BackendResolver {
  const shared = new Map<ApprovalBackendName, ApprovalBackend>();
  // Per client: the rejection names the client that cannot show the form.
  const noFormRejecters = new Map<string, ApprovalBackend>();
  const warned = new Set<string>();
  const warnOnce = (text: string) => {
    if (warned.has(text)) return;
    warned.add(text);
    deps.log.warn(text);
  };
  const make = (name: Exclude<ApprovalBackendName, 'elicitation'>): ApprovalBackend => {
    let backend = shared.get(name);
    if (backend) return backend;
    switch (name) {
      case 'auto-approve':
        backend = new AutoApproveBackend();
        break;
      case 'auto-reject':
        backend = new AutoRejectBackend({
          reason: 'hitloop is configured to reject calls that need approval',
        });
        break;
      case 'cli':
        backend = new CLIBackend({ timeoutMs: settings.timeoutMs });
        break;
      case 'hub':
        if (deps.hub) backend = deps.hub();
        else {
          warnOnce(
            `the approval hub is not available in this build; using the "${settings.fallback}" fallback`,
          );
          return make(settings.fallback === 'hub' ? 'auto-reject' : settings.fallback);
        }
        break;
      case 'webhook':
        if (!deps.webhook) {
          warnOnce(
            `the webhook channel is not configured; using the "${settings.fallback}" fallback`,
          );
          return make(settings.fallback);
        }
        backend = deps.webhook();
        break;
    }
    shared.set(name, backend);
    return backend;
  };
  return (session: ProxySession) => {
    if (settings.backend !== 'elicitation') return make(settings.backend);
    // A 2026-07-28 client declares its capabilities per request: MRTR asks the
    // ones that can show the form, and the fallback takes the others.
    if (session.era === 'modern')
      return new MrtrBackend(session, settings.timeoutMs, noFormBackend(session, false));
    if (session.clientCapabilities.elicitation)
      return new ElicitationBackend(session, settings.timeoutMs);
    return noFormBackend(session, true);
  };

  function noFormBackend(session: ProxySession, warn: boolean): ApprovalBackend {
    const client = String(session.clientInfo.name ?? 'unknown');
    if (warn)
      warnOnce(
        `client '${client}' does not support elicitation; approvals use the "${settings.fallback}" fallback`,
      );
    // Said to the agent (and so to the person reading its transcript), not
    // only on the proxy's stderr, which nobody may be watching.
    if (settings.fallback === 'auto-reject') {
      let backend = noFormRejecters.get(client);
      if (!backend) {
        backend = new AutoRejectBackend({
          reason: `the MCP client '${client}' cannot show hitloop's approval form (it does not support elicitation), and approval.fallback is "auto-reject"; to approve such calls, set approval.fallback to "hub" and decide in the VS Code sidebar or with \`hitloop approve\``,
        });
        noFormRejecters.set(client, backend);
      }
      return backend;
    }
    return make(settings.fallback);
  }
}
