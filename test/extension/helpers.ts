import type { LocalHubRef } from '../../extension/src/hub-connections.js';
import type { ToWebview } from '../../extension/src/protocol.js';
import { toSummary } from '../../extension/src/views.js';
import type { ApprovalRecord } from '../../shared/hub/protocol.js';
import { argsHash } from '../../shared/util/canonical-json.js';

let n = 0;

/** A pending record as a hub publishes it. */
export function record(overrides: Partial<ApprovalRecord> = {}): ApprovalRecord {
  const args = overrides.args ?? { path: '/work/project/a.txt', content: 'hello' };
  n++;
  return {
    id: `00000000-0000-7000-8000-${String(n).padStart(12, '0')}`,
    hubId: 'hub-1',
    runId: 'run-1',
    status: 'pending',
    server: 'fs',
    tool: 'write_file',
    riskClass: 'medium',
    policyName: 'rules',
    policyReason: 'default is ask',
    rationale: '',
    cwd: '/work/project',
    args,
    argsHash: argsHash(args),
    createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(),
    ...overrides,
  };
}

/** Polls until `check` returns a truthy value (or throws after `ms`). */
export async function until<T>(check: () => T, ms = 5000, what = 'condition'): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The local hub the webview tests show their records under. */
export const localHub: LocalHubRef = {
  hubId: 'hub-1',
  name: 'hitloop proxy',
  cwd: '/work/project',
  pid: 7,
  url: 'http://127.0.0.1:1',
  remote: false,
};

/** The snapshot message the extension sends the view for `pending` on `hub`. */
export function snapshotMessage(
  hub: LocalHubRef,
  pending: ApprovalRecord[],
  now: Date,
  extra: Partial<Extract<ToWebview, { type: 'snapshot' }>> = {},
): ToWebview {
  return {
    type: 'snapshot',
    pending: pending.map((approval) => toSummary({ hub, approval })),
    hubs: [
      {
        hubId: hub.hubId,
        name: hub.name,
        remote: false,
        cwd: hub.cwd,
        pid: hub.pid,
        state: 'live',
        inScope: true,
        pendingCount: pending.length,
      },
    ],
    hiddenByScope: 0,
    scope: 'workspace',
    home: '/home/me/.hitloop',
    defaultRemember: 'none',
    now: now.toISOString(),
    ...extra,
  };
}
