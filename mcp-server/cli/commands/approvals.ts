import { userInfo } from 'node:os';
import { type Command, Option } from 'commander';
import { ConfigError, parseJsonText } from '../../../shared/errors.js';
import { discoverHubs, hitloopHome } from '../../../shared/hub/discovery.js';
import { HubClient, HubRequestError } from '../../../shared/hub/hub-client.js';
import {
  type ApprovalRecord,
  type DiscoveryFile,
  RememberScope,
} from '../../../shared/hub/protocol.js';
import { formatArgsForDisplay, makeVisible } from '../../../shared/util/visible-text.js';
import type { CliIo } from '../program.js';

interface Located {
  hub: DiscoveryFile;
  client: HubClient;
  approval: ApprovalRecord;
}

/** `hitloop approvals`, `hitloop approve ID`, `hitloop reject ID`: the hub API from a terminal. */
export function registerApprovalCommands(program: Command, io: CliIo): void {
  program
    .command('approvals')
    .description('list pending approvals of every running hitloop process')
    .option('-w, --watch', 'keep listening and print requests and decisions as they happen')
    .option('--json', 'print JSON')
    .action(async (opts: { watch?: boolean; json?: boolean }) => {
      const pending = await listAll(io);
      if (opts.json && !opts.watch)
        return io.stdout(
          `${JSON.stringify(
            pending.map((p) => p.approval),
            null,
            2,
          )}\n`,
        );
      if (pending.length === 0) io.stdout(emptyText());
      for (const p of pending) io.stdout(summary(p.approval, p.hub));
      if (opts.watch) await watch(io, opts.json === true);
    });

  program
    .command('approve')
    .description('approve a pending call (ID or a unique prefix of it)')
    .argument('<id>', 'approval id, or a unique prefix')
    .option('--args <json>', 'run with these arguments instead (a JSON object)')
    .addOption(
      new Option('--remember <scope>', 'also remember this decision as a rule').choices(
        RememberScope.options,
      ),
    )
    .option('--reason <text>', 'a note recorded with the decision')
    .action(
      async (id: string, opts: { args?: string; remember?: RememberScope; reason?: string }) => {
        let editedArgs: Record<string, unknown> | undefined;
        if (opts.args !== undefined) {
          const parsed = parseJsonText(opts.args, '--args');
          if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
            throw new ConfigError({
              file: '--args',
              problem: 'expected a JSON object',
              fix: `e.g. --args '{"path": "/tmp/a.txt"}'`,
            });
          }
          editedArgs = parsed as Record<string, unknown>;
        }
        const found = await locate(id);
        io.stdout(summary(found.approval, found.hub, true));
        const record = await decide(found, {
          approve: true,
          argsHash: found.approval.argsHash,
          ...(editedArgs ? { editedArgs } : {}),
          ...(opts.remember ? { remember: opts.remember } : {}),
          ...(opts.reason ? { reason: opts.reason } : {}),
        });
        io.stdout(
          `approved ${record.id}${record.decision?.editedArgs ? ' with edited arguments' : ''}${opts.remember ? ` (remembered: ${opts.remember})` : ''}\n`,
        );
      },
    );

  program
    .command('reject')
    .description('reject a pending call; the agent receives the reason')
    .argument('<id>', 'approval id, or a unique prefix')
    .requiredOption('--reason <text>', 'why (the agent is told)')
    .addOption(
      new Option('--remember <scope>', 'also remember this decision as a rule').choices(
        RememberScope.options,
      ),
    )
    .action(async (id: string, opts: { reason: string; remember?: RememberScope }) => {
      const found = await locate(id);
      const record = await decide(found, {
        approve: false,
        argsHash: found.approval.argsHash,
        reason: opts.reason,
        ...(opts.remember ? { remember: opts.remember } : {}),
      });
      io.stdout(`rejected ${record.id}: ${opts.reason}\n`);
    });
}

function who(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return 'cli:unknown';
  }
}

async function decide(
  found: Located,
  body: Parameters<HubClient['decide']>[1],
): Promise<ApprovalRecord> {
  try {
    return await found.client.decide(found.approval.id, { decidedBy: who(), ...body });
  } catch (err) {
    if (err instanceof HubRequestError) {
      throw new ConfigError({
        file: found.approval.id,
        problem: `${err.message}${err.details.length ? `: ${err.details.join('; ')}` : ''}`,
        fix:
          err.code === 'already_decided' ? 'nothing to do: the first decision stands' : undefined,
      });
    }
    throw err;
  }
}

/**
 * The hubs this terminal can reach: every running local process, plus a team
 * hub named by $HITLOOP_HUB_URL and $HITLOOP_HUB_TOKEN (`hitloop serve`).
 */
function knownHubs(onProblem?: (message: string) => void): DiscoveryFile[] {
  const hubs = discoverHubs(hitloopHome(), onProblem);
  const url = process.env.HITLOOP_HUB_URL?.trim().replace(/\/+$/, '');
  const token = process.env.HITLOOP_HUB_TOKEN?.trim();
  if (url && token && !hubs.some((h) => h.url === url))
    hubs.push({
      apiVersion: 1,
      hubId: `remote:${url}`,
      name: url,
      pid: 0,
      url,
      token,
      cwd: '',
      startedAt: '',
    });
  else if (url && !token) onProblem?.('HITLOOP_HUB_URL is set but HITLOOP_HUB_TOKEN is not');
  return hubs;
}

async function listAll(io: CliIo): Promise<Located[]> {
  const out: Located[] = [];
  // Hubs sharing a store list the same approvals; show each once.
  const seen = new Set<string>();
  for (const hub of knownHubs((m) => io.stderr(`hitloop: warn: ${m}\n`))) {
    const client = new HubClient(hub);
    try {
      for (const approval of await client.listPending()) {
        if (seen.has(approval.id)) continue;
        seen.add(approval.id);
        out.push({ hub, client, approval });
      }
    } catch (err) {
      io.stderr(
        `hitloop: warn: hub '${hub.name}' (pid ${hub.pid}) did not answer: ${err instanceof Error ? err.message : String(err)}\n`,
      );
    }
  }
  return out.sort((a, b) => (a.approval.createdAt < b.approval.createdAt ? 1 : -1));
}

async function locate(idOrPrefix: string): Promise<Located> {
  const matches: Located[] = [];
  for (const hub of knownHubs()) {
    const client = new HubClient(hub);
    try {
      const exact = await client.get(idOrPrefix).catch(() => undefined);
      if (exact) return { hub, client, approval: exact };
      for (const approval of await client.listPending()) {
        if (
          approval.id.startsWith(idOrPrefix) &&
          !matches.some((m) => m.approval.id === approval.id)
        )
          matches.push({ hub, client, approval });
      }
    } catch {
      // a hub that does not answer cannot hold the approval we can decide
    }
  }
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) {
    // Say what became of a request that is no longer pending, rather than "not found".
    for (const hub of knownHubs()) {
      const done = (await new HubClient(hub).history(1000).catch(() => [])).find((a) =>
        a.id.startsWith(idOrPrefix),
      );
      if (done) {
        const by = done.decision ? ` by ${done.decision.decidedBy}` : '';
        throw new ConfigError({
          file: idOrPrefix,
          problem: `approval ${done.id} is already ${done.status}${by}${done.statusReason ? ` (${done.statusReason})` : ''}`,
          fix: 'nothing to do: the first decision stands',
        });
      }
    }
  }
  throw new ConfigError({
    file: idOrPrefix,
    problem: matches.length
      ? `the prefix matches ${matches.length} pending approvals`
      : 'no pending approval with this id in any running hitloop process',
    fix: matches.length
      ? 'give more characters of the id'
      : 'run `hitloop approvals` to see what is pending',
  });
}

function summary(a: ApprovalRecord, hub: DiscoveryFile, full = false): string {
  const age = Math.round((Date.now() - Date.parse(a.createdAt)) / 1000);
  const left = a.expiresAt ? Math.round((Date.parse(a.expiresAt) - Date.now()) / 1000) : undefined;
  const tool = makeVisible(a.server ? `${a.server}/${a.tool}` : a.tool);
  // The whole id: ids are UUIDv7, so their first characters are a timestamp
  // shared by every request made within the same minute or so.
  const head = `${a.id}  ${tool}  [${a.riskClass}]  ${age}s ago${left !== undefined ? `, times out in ${left}s` : ''}  (${makeVisible(hub.name)})`;
  const lines = [head, `  why: ${makeVisible(a.policyReason)}`];
  if (a.rationale) lines.push(`  agent: ${makeVisible(a.rationale)}`);
  const args = formatArgsForDisplay(a.args);
  if (full || args.length <= 400) lines.push(...args.split('\n').map((l) => `  ${l}`));
  else
    lines.push(
      `  ${args.slice(0, 400).split('\n').join('\n  ')}\n  … ${args.length - 400} more characters (hitloop approvals --json shows all)`,
    );
  lines.push(`  args sha256 ${a.argsHash}`);
  return `${lines.join('\n')}\n`;
}

function emptyText(): string {
  return 'no pending approvals. (Start an agent through `hitloop proxy` and calls that need a person appear here.)\n';
}

async function watch(io: CliIo, json: boolean): Promise<void> {
  const connected = new Map<string, AbortController>();
  // Several hubs may stream the same event (a team hub and the proxy that asked).
  const printed = new Set<string>();
  const connect = (hub: DiscoveryFile) => {
    const controller = new AbortController();
    connected.set(hub.hubId, controller);
    const client = new HubClient(hub);
    void client
      .events((event) => {
        const key =
          event.type === 'requested' || event.type === 'decided'
            ? `${event.type}:${event.approval.id}`
            : event.type === 'withdrawn' || event.type === 'expired'
              ? `${event.type}:${event.id}`
              : undefined;
        if (key) {
          if (printed.has(key)) return;
          printed.add(key);
        }
        if (json) return io.stdout(`${JSON.stringify(event)}\n`);
        if (event.type === 'requested') io.stdout(`+ ${summary(event.approval, hub)}`);
        else if (event.type === 'decided') {
          io.stdout(
            `= ${event.approval.id} ${event.approval.status} by ${event.approval.decision?.decidedBy ?? '?'}\n`,
          );
        } else if (event.type === 'withdrawn' || event.type === 'expired')
          io.stdout(`- ${event.id} ${event.type}: ${event.reason}\n`);
      }, controller.signal)
      .catch(() => undefined)
      .finally(() => connected.delete(hub.hubId));
  };
  io.stderr('watching for approvals (Ctrl+C to stop)\n');
  // New hubs appear as processes start; poll the discovery folder.
  for (;;) {
    for (const hub of knownHubs()) if (!connected.has(hub.hubId)) connect(hub);
    await new Promise((r) => setTimeout(r, 1000));
  }
}
