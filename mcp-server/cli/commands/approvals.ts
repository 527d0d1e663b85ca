import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { type Command, Option } from 'commander';
import { ConfigError, parseJsonText } from '../../../shared/errors.js';
import { discoverHubs, hitloopHome } from '../../../shared/hub/discovery.js';
import { HubClient, HubRequestError, HubUnreachableError } from '../../../shared/hub/hub-client.js';
import {
  type ApprovalRecord,
  type DiscoveryFile,
  RememberScope,
} from '../../../shared/hub/protocol.js';
import {
  escapeHiddenInJson,
  formatArgsForDisplay,
  makeVisible,
  visibleLine,
} from '../../../shared/util/visible-text.js';
import type { CliIo } from '../program.js';

interface Located {
  hub: DiscoveryFile;
  client: HubClient;
  approval: ApprovalRecord;
}

/**
 * A hub this terminal talks to. `fromEnv`: the team hub named by
 * $HITLOOP_HUB_URL, which the user asked for, so its failure is an error;
 * local hubs come and go with their processes, so one that does not answer
 * is skipped (unless none does).
 */
interface Target {
  hub: DiscoveryFile;
  fromEnv: boolean;
}

/** The hubs that could not be asked, and why; see {@link failIfUnreached}. */
interface Reach {
  targets: Target[];
  failures: Array<{ target: Target; err: unknown }>;
  answered: number;
}

/** `hitloop approvals`, `hitloop approve ID`, `hitloop reject ID`: the hub API from a terminal. */
export function registerApprovalCommands(program: Command, io: CliIo): void {
  program
    .command('approvals')
    .description('list pending approvals of every running hitloop process')
    .option('-w, --watch', 'keep listening and print requests and decisions as they happen')
    .option('--json', 'print JSON')
    .action(async (opts: { watch?: boolean; json?: boolean }) => {
      const { pending, reach } = await listAll(io);
      // What the hubs that answered hold is printed either way; "no pending
      // approvals" only when that is what the hubs said.
      if (opts.json && !opts.watch)
        io.stdout(
          `${escapeHiddenInJson(
            JSON.stringify(
              pending.map((p) => p.approval),
              null,
              2,
            ),
          )}\n`,
        );
      else {
        const heard =
          !reach.failures.some((f) => f.target.fromEnv) &&
          (reach.answered > 0 || reach.failures.length === 0);
        if (pending.length === 0 && heard) io.stdout(emptyText());
        for (const p of pending) io.stdout(summary(p.approval, p.hub));
      }
      failIfUnreached(reach);
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
        if (found.approval.status === 'pending')
          io.stdout(summary(found.approval, found.hub, true));
        const record = await decide(found, {
          approve: true,
          argsHash: found.approval.argsHash,
          ...(editedArgs ? { editedArgs } : {}),
          ...(opts.remember ? { remember: opts.remember } : {}),
          ...(opts.reason ? { reason: opts.reason } : {}),
        });
        io.stdout(
          `approved ${visibleLine(record.id)}${record.decision?.editedArgs ? ' with edited arguments' : ''}${opts.remember ? ` (remembered: ${opts.remember})` : ''}\n`,
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
      io.stdout(`rejected ${visibleLine(record.id)}: ${visibleLine(opts.reason)}\n`);
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
    if (err instanceof HubUnreachableError) throw new Error(unreachedText(err, found.hub));
    if (err instanceof HubRequestError && err.code === 'already_decided') {
      // Withdrawn (the client cancelled) or expired (timed out, or its
      // process died): say so, what it was and when, not just "already".
      const now = await found.client.get(found.approval.id).catch(() => found.approval);
      if (now.status === 'withdrawn' || now.status === 'expired')
        throw new Error(closedText(now, err.message.includes('recorded but not applied')));
    }
    if (err instanceof HubRequestError) {
      // The hub's message quotes ids and names it was sent or holds.
      throw new ConfigError({
        file: visibleLine(found.approval.id),
        problem: visibleLine(
          `${err.message}${err.details.length ? `: ${err.details.join('; ')}` : ''}`,
        ),
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
 * A malformed $HITLOOP_HUB_URL, or one without its token, is a ConfigError
 * (exit 2): otherwise the user would be told "no pending approvals".
 */
function knownHubs(onProblem?: (message: string) => void): Target[] {
  const targets: Target[] = discoverHubs(hitloopHome(), onProblem).map((hub) => ({
    hub,
    fromEnv: false,
  }));
  const raw = process.env.HITLOOP_HUB_URL?.trim();
  if (!raw) return targets;
  const url = hubUrlFromEnv(raw);
  const token = process.env.HITLOOP_HUB_TOKEN?.trim();
  if (!token)
    throw new ConfigError({
      field: 'HITLOOP_HUB_TOKEN',
      problem: `HITLOOP_HUB_URL is set (${url}) but HITLOOP_HUB_TOKEN is not`,
      fix: 'set HITLOOP_HUB_TOKEN to the token `hitloop serve` printed (the part after #token= of its link), or unset HITLOOP_HUB_URL',
    });
  if (!targets.some((t) => t.hub.url === url))
    targets.push({
      hub: {
        apiVersion: 1,
        hubId: `remote:${url}`,
        name: url,
        pid: 0,
        url,
        token,
        cwd: '',
        startedAt: '',
      },
      fromEnv: true,
    });
  return targets;
}

/**
 * $HITLOOP_HUB_URL as the hub client wants it: an http(s) origin and path,
 * without a `#token=…` fragment or credentials (which would end up in
 * messages).
 */
function hubUrlFromEnv(raw: string): string {
  const shown = raw.replace(/#.*$/s, '#…');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw badHubUrl(`'${shown}' is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw badHubUrl(`'${shown}' is not an http:// or https:// URL`);
  return `${url.origin}${url.pathname}`.replace(/\/+$/, '');
}

function badHubUrl(problem: string): ConfigError {
  return new ConfigError({
    field: 'HITLOOP_HUB_URL',
    problem,
    fix: 'set it to the hub address `hitloop serve` printed, e.g. https://hub.example:8700, and the token in HITLOOP_HUB_TOKEN',
  });
}

/** One hub's failure in words: which hub (URL, never the token) and what to do. */
function unreachedText(
  err: unknown,
  hub: DiscoveryFile,
  fromEnv = hub.hubId.startsWith('remote:'),
): string {
  const which = fromEnv
    ? `the hub at ${visibleLine(hub.url)} (HITLOOP_HUB_URL)`
    : `hub '${visibleLine(hub.name)}' (pid ${hub.pid}) at ${visibleLine(hub.url)}`;
  if (err instanceof HubUnreachableError)
    return `could not reach ${which}: ${visibleLine(err.reason)}`;
  if (err instanceof HubRequestError && err.status === 401)
    return fromEnv
      ? `could not authenticate to ${which}: it refused the token in HITLOOP_HUB_TOKEN (HTTP 401); set the token \`hitloop serve\` printed`
      : `could not authenticate to ${which}: it refused the token of its discovery file (HTTP 401); another program may be using that port`;
  if (err instanceof HubRequestError)
    return `${which} answered with an error: ${visibleLine(err.message)}`;
  return `${which} failed: ${err instanceof Error ? err.message : String(err)}`;
}

/**
 * Throws (exit 1) when the hub named by $HITLOOP_HUB_URL failed, or when hubs
 * were found but not one answered: saying "nothing pending" would be false.
 * A local hub failing while others answer is a stale file of a process that
 * died or is stopping: a warning at most.
 */
function failIfUnreached(reach: Reach): void {
  const fromEnv = reach.failures.filter((f) => f.target.fromEnv);
  if (fromEnv.length)
    throw new Error(fromEnv.map((f) => unreachedText(f.err, f.target.hub)).join('\n'));
  if (reach.failures.length && reach.answered === 0) {
    const n = reach.failures.length;
    throw new Error(
      `${n === 1 ? 'the only hitloop hub found' : `none of the ${n} hitloop hubs found`} in ${join(hitloopHome(), 'hubs')} answered:\n${reach.failures
        .map((f) => `  ${unreachedText(f.err, f.target.hub, false)}`)
        .join('\n')}`,
    );
  }
}

async function listAll(io: CliIo): Promise<{ pending: Located[]; reach: Reach }> {
  const out: Located[] = [];
  const reach: Reach = {
    targets: knownHubs((m) => io.stderr(`hitloop: warn: ${visibleLine(m)}\n`)),
    failures: [],
    answered: 0,
  };
  // Hubs sharing a store list the same approvals; show each once.
  const seen = new Set<string>();
  for (const target of reach.targets) {
    const { hub } = target;
    const client = new HubClient(hub);
    try {
      for (const approval of await client.listPending()) {
        if (seen.has(approval.id)) continue;
        seen.add(approval.id);
        out.push({ hub, client, approval });
      }
      reach.answered++;
    } catch (err) {
      reach.failures.push({ target, err });
      if (!target.fromEnv) io.stderr(`hitloop: warn: ${unreachedText(err, hub, false)}\n`);
    }
  }
  return {
    pending: out.sort((a, b) => (a.approval.createdAt < b.approval.createdAt ? 1 : -1)),
    reach,
  };
}

/**
 * The approval `approve` / `reject` act on: a pending one (the whole id or a
 * unique prefix), else a closed one, so the hub records the late decision and
 * the reviewer hears what became of the request.
 */
async function locate(idOrPrefix: string): Promise<Located> {
  const reach: Reach = { targets: knownHubs(), failures: [], answered: 0 };
  const matches: Located[] = [];
  for (const target of reach.targets) {
    const { hub } = target;
    const client = new HubClient(hub);
    try {
      const exact = await client.get(idOrPrefix).catch((err: unknown) => {
        if (err instanceof HubRequestError && err.status === 404) return undefined;
        throw err;
      });
      if (exact) return { hub, client, approval: exact };
      for (const approval of await client.listPending()) {
        if (
          approval.id.startsWith(idOrPrefix) &&
          !matches.some((m) => m.approval.id === approval.id)
        )
          matches.push({ hub, client, approval });
      }
      reach.answered++;
    } catch (err) {
      // A local hub that does not answer cannot hold the approval we can
      // decide; failIfUnreached below reports it if no hub answered at all.
      reach.failures.push({ target, err });
    }
  }
  if (matches.length === 1) return matches[0]!;
  failIfUnreached(reach);
  if (matches.length === 0) {
    // Say what became of a request that is no longer pending, rather than "not found".
    for (const { hub } of reach.targets) {
      const client = new HubClient(hub);
      const done = (await client.history(1000).catch(() => [])).find((a) =>
        a.id.startsWith(idOrPrefix),
      );
      if (done) return { hub, client, approval: done };
    }
    // Its process may be gone (the client quit after cancelling): the
    // request is still in this user's approval store.
    const stored = await fromLocalStore(idOrPrefix);
    if (stored?.status === 'withdrawn' || stored?.status === 'expired')
      throw new Error(closedText(stored, false));
    if (stored?.status === 'approved' || stored?.status === 'rejected')
      throw new ConfigError({
        file: visibleLine(idOrPrefix),
        problem: `approval ${visibleLine(stored.id)} is already ${stored.status}${decidedByText(stored.decision)}`,
        fix: 'nothing to do: the first decision stands',
      });
    if (stored?.status === 'pending')
      throw new Error(
        `approval ${visibleLine(stored.id)} (${toolOf(stored)}) waits for a hitloop process that is not running (hub ${visibleLine(stored.hubId)}); it becomes answerable again if that process restarts with the same --instance, and expires otherwise`,
      );
  }
  throw new ConfigError({
    file: visibleLine(idOrPrefix),
    problem: matches.length
      ? `the prefix matches ${matches.length} pending approvals`
      : 'no pending approval with this id in any running hitloop process',
    fix: matches.length
      ? 'give more characters of the id'
      : 'run `hitloop approvals` to see what is pending',
  });
}

/**
 * The request with this id (or unique prefix) in $HITLOOP_HOME/approvals.db,
 * the store every local hitloop process shares; undefined when there is no
 * such file or request. Opened only on this path: it loads SQLite.
 */
async function fromLocalStore(idOrPrefix: string): Promise<ApprovalRecord | undefined> {
  const file = join(hitloopHome(), 'approvals.db');
  if (!existsSync(file)) return undefined;
  const { SqliteApprovalStore } = await import('../../../shared/stores/sqlite-store.js');
  let store: InstanceType<typeof SqliteApprovalStore> | undefined;
  try {
    store = new SqliteApprovalStore(file, { onInvalid: () => undefined });
    const exact = await store.get(idOrPrefix);
    if (exact) return exact;
    const found = (await store.list({ limit: 10_000 })).filter((a) => a.id.startsWith(idOrPrefix));
    return found.length === 1 ? found[0] : undefined;
  } catch {
    return undefined; // an unreadable store cannot tell us more than "not found"
  } finally {
    await store?.close().catch(() => undefined);
  }
}

function toolOf(a: ApprovalRecord): string {
  return visibleLine(a.server ? `${a.server}/${a.tool}` : a.tool);
}

/**
 * ` by cli:alice (via hub-token)`: the name the decider asserted, and how
 * hitloop authenticated them (unset on records from an older hitloop).
 */
function decidedByText(decision: ApprovalRecord['decision']): string {
  if (!decision) return '';
  const via = decision.decidedVia ? ` (via ${visibleLine(decision.decidedVia)})` : '';
  return ` by ${visibleLine(decision.decidedBy)}${via}`;
}

/** An ISO time as `2026-12-05 17:40:12 UTC`. */
function utc(iso: string): string {
  const ms = Date.parse(iso);
  return Number.isNaN(ms)
    ? iso
    : new Date(ms)
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, ' UTC');
}

/** An ISO time as `2026-12-05 17:40:12 UTC (3 min ago)`. */
function when(iso: string): string {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return iso;
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  const ago =
    s < 120
      ? `${s} s ago`
      : s < 7200
        ? `${Math.round(s / 60)} min ago`
        : `${Math.round(s / 3600)} h ago`;
  return `${utc(iso)} (${ago})`;
}

/**
 * What a late reviewer needs: the request was withdrawn or expired, which
 * call it was, when it closed, why; and that their decision did not apply.
 */
function closedText(a: ApprovalRecord, recorded: boolean): string {
  const what = a.status === 'withdrawn' ? 'was withdrawn' : 'expired';
  // Records settled by an older hitloop carry no settledAt; a timed-out one still has its deadline.
  const at = a.settledAt ?? (a.status === 'expired' ? a.expiresAt : undefined);
  const head = `approval ${visibleLine(a.id)} (${toolOf(a)}, requested ${visibleLine(utc(a.createdAt))}) ${what}${at ? ` at ${visibleLine(when(at))}` : ''}`;
  const why = a.statusReason ? `: ${visibleLine(a.statusReason)}` : '';
  const tail = recorded
    ? 'your decision was recorded with it but not applied; nothing ran'
    : 'nothing was applied; the call did not run';
  return `${head}${why}.\n  ${tail}; if the agent retries the call, a new request appears in \`hitloop approvals\`.`;
}

function summary(a: ApprovalRecord, hub: DiscoveryFile, full = false): string {
  const age = Math.round((Date.now() - Date.parse(a.createdAt)) / 1000);
  const left = a.expiresAt ? Math.round((Date.parse(a.expiresAt) - Date.now()) / 1000) : undefined;
  const tool = toolOf(a);
  // The whole id: ids are UUIDv7, so their first characters are a timestamp
  // shared by every request made within the same minute or so.
  const head = `${visibleLine(a.id)}  ${tool}  [${a.riskClass}]  ${age}s ago${left !== undefined ? `, times out in ${left}s` : ''}  (${visibleLine(hub.name)})`;
  const lines = [head, `  why: ${visibleLine(a.policyReason)}`];
  // A rationale may span lines; each stays indented under its request.
  if (a.rationale) lines.push(`  agent: ${makeVisible(a.rationale).split('\n').join('\n    ')}`);
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
        if (json) return io.stdout(`${escapeHiddenInJson(JSON.stringify(event))}\n`);
        if (event.type === 'requested') io.stdout(`+ ${summary(event.approval, hub)}`);
        else if (event.type === 'decided') {
          io.stdout(
            `= ${visibleLine(event.approval.id)} ${event.approval.status}${decidedByText(event.approval.decision) || ' by ?'}\n`,
          );
        } else if (event.type === 'withdrawn' || event.type === 'expired')
          io.stdout(`- ${visibleLine(event.id)} ${event.type}: ${visibleLine(event.reason)}\n`);
      }, controller.signal)
      .catch(() => undefined)
      .finally(() => connected.delete(hub.hubId));
  };
  io.stderr('watching for approvals (Ctrl+C to stop)\n');
  // New hubs appear as processes start; poll the discovery folder.
  for (;;) {
    for (const { hub } of knownHubs()) if (!connected.has(hub.hubId)) connect(hub);
    await new Promise((r) => setTimeout(r, 1000));
  }
}
