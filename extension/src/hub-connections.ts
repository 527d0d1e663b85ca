import { type FSWatcher, watch } from 'node:fs';
import { join } from 'node:path';
import { discoverHubs, hitloopHome } from '../../shared/hub/discovery.js';
import { HubClient, HubRequestError } from '../../shared/hub/hub-client.js';
import type {
  ApprovalRecord,
  DecideRequest,
  DiscoveryFile,
  HubEvent,
  RememberedRule,
} from '../../shared/hub/protocol.js';
import { backoffDelay as sharedBackoffDelay } from '../../shared/util/backoff.js';
import type { RemoteHubEntry } from './remote-hubs.js';
import { type DiscoveryScope, inWorkspace, isLoopbackUrl } from './workspace-filter.js';

// The extension's view of every running hitloop process. No `vscode` import
// here: the extension wires it to the editor, and the unit tests drive it
// against real in-process hubs.

/** What a connection needs from a hub client; HubClient is the real one. */
export interface HubClientLike {
  listPending(): Promise<ApprovalRecord[]>;
  history(limit?: number): Promise<ApprovalRecord[]>;
  get(id: string): Promise<ApprovalRecord>;
  decide(id: string, body: DecideRequest): Promise<ApprovalRecord>;
  rules(): Promise<RememberedRule[]>;
  revokeRule(id: string): Promise<void>;
  events(
    onEvent: (event: HubEvent) => void,
    signal?: AbortSignal,
    onOpen?: () => void,
  ): Promise<void>;
}

interface HubRefBase {
  hubId: string;
  name: string;
  url: string;
}

/** A hub a hitloop process on this machine opened (found in $HITLOOP_HOME/hubs). */
export interface LocalHubRef extends HubRefBase {
  remote: false;
  /** The process's working directory, for the workspace filter and relative paths. */
  cwd: string;
  pid: number;
}

/**
 * A central hub from the settings (`hitloop.remoteHubs`), id `remote:<url>`.
 * It runs on another machine and answers for every process that uses its
 * store, so it has no working directory or pid that would mean anything here.
 */
export interface RemoteHubRef extends HubRefBase {
  remote: true;
}

/** A hub as the extension shows it: check `remote` before reading `cwd` or `pid`. */
export type HubRef = LocalHubRef | RemoteHubRef;

/** A remote hub from the settings with its token from secret storage (undefined: none saved). */
export interface RemoteHubSource extends RemoteHubEntry {
  token: string | undefined;
}

export type HubConnectionState = 'connecting' | 'live' | 'retrying';

export type HubStatus = HubRef & {
  state: HubConnectionState;
  /** Why the last attempt failed, while retrying. */
  lastError?: string;
  /** False when the hub runs outside the workspace and the scope is "workspace". */
  inScope: boolean;
  /**
   * Pending approvals shown through this hub: each approval counts once, on
   * the hub it is attributed to (see `preferredSource`), in scope or not.
   */
  pendingCount: number;
};

/** One pending approval and the hub that can answer it. */
export interface PendingItem {
  hub: HubRef;
  approval: ApprovalRecord;
}

export interface HubRule {
  hub: HubRef;
  rule: RememberedRule;
}

export interface HubsSnapshot {
  /** In scope, newest first. */
  pending: PendingItem[];
  hubs: HubStatus[];
  /** Pending approvals left out because they belong to another workspace. */
  hiddenByScope: number;
  scope: DiscoveryScope;
  home: string;
}

export interface HubConnectionsOptions {
  /** The discovery home, read at every scan (a setting may change it). Default: $HITLOOP_HOME or ~/.hitloop. */
  home?: () => string;
  scope?: () => DiscoveryScope;
  /** Absolute paths of the open workspace folders. */
  workspaceFolders?: () => readonly string[];
  /** Rescan interval, the fallback for file systems where fs.watch misses changes. */
  pollIntervalMs?: number;
  /** Watch the discovery folder with fs.watch (default true). */
  watch?: boolean;
  /** Delay before reconnect attempt `attempt` (0-based). */
  backoff?: (attempt: number) => number;
  discover?: (home: string, onProblem: (message: string) => void) => DiscoveryFile[];
  createClient?: (hub: DiscoveryFile) => HubClientLike;
  /** Remote hubs to connect to, read at every scan (settings and secrets may change). */
  remoteHubs?: () => readonly RemoteHubSource[];
  createRemoteClient?: (hub: { url: string; token: string }) => HubClientLike;
  log?: (message: string) => void;
}

/**
 * Reconnect delay: doubling from 500 ms to 30 s, with ±20 % jitter so that
 * many windows do not reconnect in lockstep after a hub restarts.
 *
 * @example
 * backoffDelay(0) // about 500
 * backoffDelay(10) // about 30000
 */
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  // The shared backoff only takes jitter off its wait: ±20 % around 500 ms
  // doubling to 30 s is 1.2x that wait, less up to a third of it.
  return Math.round(
    sharedBackoffDelay(attempt, {
      initialMs: 600,
      maxMs: 36_000,
      jitter: 1 / 3,
      random: () => 1 - random(),
    }),
  );
}

/**
 * How much a hub's copy of `approval` is preferred when several hubs list it
 * (in team mode hubs share a store, and every hub lists all of it): a live
 * connection first (its list is current, and any hub on the store can decide,
 * the first decision winning), then the hub that asked, then a remote (team)
 * hub, which streams the fate of every request on its store, where another
 * process's local hub streams only its own. Higher wins; ties keep the first.
 *
 * @example
 * hubPreference(local, { hubId: local.hubId }, true) // 6: the owner, live
 * hubPreference(remote, { hubId: local.hubId }, true) // 5: live, a team hub
 */
export function hubPreference(
  hub: HubRef,
  approval: Pick<ApprovalRecord, 'hubId'>,
  live: boolean,
): number {
  const owner = !hub.remote && approval.hubId === hub.hubId;
  return (live ? 4 : 0) + (owner ? 2 : hub.remote ? 1 : 0);
}

/** A hub's list, as `mergePending` takes it; `live` defaults to true. */
export interface PendingSource {
  hub: HubRef;
  pending: Iterable<ApprovalRecord>;
  live?: boolean;
}

/**
 * Each approval once, from its preferred hub (`hubPreference`), in no
 * particular order.
 *
 * @example
 * dedupeByApproval([{ hub: remote, pending: [a] }, { hub: local, pending: [a] }]) // [{ hub: local, approval: a }]
 */
export function dedupeByApproval(sources: ReadonlyArray<PendingSource>): PendingItem[] {
  const byId = new Map<string, { item: PendingItem; score: number }>();
  for (const { hub, pending, live = true } of sources) {
    for (const approval of pending) {
      const score = hubPreference(hub, approval, live);
      const existing = byId.get(approval.id);
      if (existing && existing.score >= score) continue;
      byId.set(approval.id, { item: { hub, approval }, score });
    }
  }
  return [...byId.values()].map((e) => e.item);
}

/**
 * Merges the pending approvals of several hubs: each approval once (hubs that
 * share a store list each other's records; see `hubPreference` for whose copy
 * is kept), filtered to the workspace when asked (except those of remote hubs,
 * whose working directories are on other machines), newest first.
 *
 * @example
 * mergePending([{ hub, pending: [a, b] }], { scope: 'all', folders: [] }).pending.length // 2
 */
export function mergePending(
  sources: ReadonlyArray<PendingSource>,
  filter: { scope: DiscoveryScope; folders: readonly string[] },
): { pending: PendingItem[]; hiddenByScope: number; perHub: Map<string, number> } {
  const unique = dedupeByApproval(
    sources.map((s) => ({
      ...s,
      pending: [...s.pending].filter((a) => a.status === 'pending'),
    })),
  );
  const pending: PendingItem[] = [];
  const perHub = new Map<string, number>();
  let hiddenByScope = 0;
  for (const item of unique) {
    perHub.set(item.hub.hubId, (perHub.get(item.hub.hubId) ?? 0) + 1);
    if (
      filter.scope === 'workspace' &&
      !item.hub.remote &&
      !inWorkspace(item.approval.cwd ?? item.hub.cwd, filter.folders)
    ) {
      hiddenByScope++;
      continue;
    }
    pending.push(item);
  }
  pending.sort(newestFirst);
  return { pending, hiddenByScope, perHub };
}

function newestFirst(a: PendingItem, b: PendingItem): number {
  const byTime = Date.parse(b.approval.createdAt) - Date.parse(a.approval.createdAt);
  if (byTime !== 0 && !Number.isNaN(byTime)) return byTime;
  return a.approval.id < b.approval.id ? 1 : a.approval.id > b.approval.id ? -1 : 0;
}

interface ConnectionHost {
  changed(): void;
  requested(hub: HubRef, approval: ApprovalRecord): void;
  /** An approval left `pending` (any hub said so): drop it from every connection. */
  settled(id: string): void;
  /** Whether some hub already said `id` left `pending`. */
  isSettled(id: string): boolean;
  rulesChanged(): void;
  lost(hub: HubRef, error: string): void;
  backoff(attempt: number): number;
}

/** One hub: an SSE stream, re-listed after every (re)connect. */
class HubConnection {
  state: HubConnectionState = 'connecting';
  lastError: string | undefined;
  readonly pending = new Map<string, ApprovalRecord>();
  private attempt = 0;
  private readonly disposed = new AbortController();
  private current: AbortController | undefined;
  private wake: (() => void) | undefined;

  constructor(
    readonly hub: HubRef,
    readonly client: HubClientLike,
    private readonly host: ConnectionHost,
    /** For remote hubs: the token this connection uses, to notice a new one. */
    readonly credential?: string,
  ) {
    void this.run();
  }

  /**
   * Whether this connection shows `approval`. A process's own hub lists every
   * record of a shared store but streams the fate of its own requests only,
   * so it keeps only those; a remote (team) hub streams all of them.
   */
  private owns(approval: ApprovalRecord): boolean {
    return this.hub.remote || approval.hubId === this.hub.hubId;
  }

  dispose(): void {
    this.disposed.abort();
    this.current?.abort();
    this.wake?.();
  }

  /** Drops the stream and connects again now (a manual refresh). */
  reconnect(): void {
    this.attempt = 0;
    this.current?.abort();
    this.wake?.();
  }

  private async run(): Promise<void> {
    while (!this.disposed.signal.aborted) {
      const controller = new AbortController();
      this.current = controller;
      try {
        await this.session(controller);
        if (this.disposed.signal.aborted) return;
        if (!controller.signal.aborted) throw new Error('the event stream ended');
      } catch (err) {
        const manual = controller.signal.aborted;
        // Close whatever is still open of this attempt before the next one.
        controller.abort();
        if (this.disposed.signal.aborted) return;
        if (manual) continue;
        this.state = 'retrying';
        this.lastError = describeFailure(err, this.hub.url);
        this.host.changed();
        this.host.lost(this.hub, this.lastError);
        await this.sleep(this.host.backoff(this.attempt++));
      }
    }
  }

  /** One connection: open the stream, list what is pending, then follow events. */
  private async session(controller: AbortController): Promise<void> {
    // Events that arrive while the list is in flight are replayed over it, so
    // a decision made in that window is not undone by a stale list.
    let journal: HubEvent[] | undefined = [];
    let opened!: () => void;
    const open = new Promise<void>((resolve) => {
      opened = resolve;
    });
    const stream = this.client.events(
      (event) => {
        if (journal) journal.push(event);
        else this.apply(event, true);
      },
      controller.signal,
      () => opened(),
    );
    await Promise.race([
      open,
      stream.then(() => {
        throw new Error('the event stream closed before it opened');
      }),
    ]);
    const listed = await this.client.listPending();
    this.pending.clear();
    for (const approval of listed) {
      if (this.owns(approval) && approval.status === 'pending' && !this.host.isSettled(approval.id))
        this.pending.set(approval.id, approval);
    }
    for (const event of journal) this.apply(event, true);
    journal = undefined;
    this.state = 'live';
    this.lastError = undefined;
    this.attempt = 0;
    this.host.changed();
    await stream;
  }

  private apply(event: HubEvent, notify: boolean): void {
    switch (event.type) {
      case 'requested': {
        const approval = event.approval;
        if (
          !this.owns(approval) ||
          approval.status !== 'pending' ||
          this.host.isSettled(approval.id)
        )
          return;
        const isNew = !this.pending.has(approval.id);
        this.pending.set(approval.id, approval);
        this.host.changed();
        if (isNew && notify) this.host.requested(this.hub, approval);
        return;
      }
      // Another hub on the same store may list this approval too (and may be
      // the one the card came from): the news from any hub settles it everywhere.
      case 'decided':
        this.host.settled(event.approval.id);
        return;
      case 'withdrawn':
      case 'expired':
        this.host.settled(event.id);
        return;
      case 'rule_added':
      case 'rule_revoked':
        this.host.rulesChanged();
        return;
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      timer.unref?.();
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        this.wake = undefined;
        done();
      };
    });
  }
}

/**
 * A failed connection in words a person can act on: a refused token names
 * the hub, so the fix (connect again with the right token) is clear.
 *
 * @example
 * describeFailure(new HubRequestError(401, 'unauthorized', '…'), 'https://hub.example') // 'token rejected by https://hub.example'
 */
export function describeFailure(err: unknown, url: string): string {
  if (err instanceof HubRequestError && err.status === 401) return `token rejected by ${url}`;
  if (err instanceof HubRequestError && err.status === 403)
    return `${url} refused the connection: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

type Listener<T> = (value: T) => void;

/**
 * Finds every running hub (watching the discovery folder, with a poll as
 * fallback), keeps one live connection to each, and merges what they have
 * pending.
 *
 * @example
 * const hubs = new HubConnections({ scope: () => 'all' });
 * hubs.onDidChange(() => console.log(hubs.snapshot().pending.length));
 * hubs.start();
 */
export class HubConnections {
  private readonly connections = new Map<string, HubConnection>();
  private readonly changeListeners = new Set<Listener<void>>();
  private readonly requestListeners = new Set<Listener<PendingItem>>();
  private readonly ruleListeners = new Set<Listener<void>>();
  private watcher: FSWatcher | undefined;
  private watchedDir: string | undefined;
  private poll: ReturnType<typeof setInterval> | undefined;
  private rescanTimer: ReturnType<typeof setTimeout> | undefined;
  private started = false;
  private readonly problems = new Set<string>();
  /**
   * Ids some hub said were decided, withdrawn or expired (the newest few
   * thousand; an id never becomes pending again), so that a hub listing late
   * does not bring a settled card back.
   */
  private readonly settledIds = new Set<string>();

  constructor(private readonly options: HubConnectionsOptions = {}) {}

  get home(): string {
    return this.options.home?.() || hitloopHome();
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.rescan();
    const interval = this.options.pollIntervalMs ?? 5_000;
    this.poll = setInterval(() => this.rescan(), interval);
    this.poll.unref?.();
  }

  dispose(): void {
    this.started = false;
    if (this.poll) clearInterval(this.poll);
    if (this.rescanTimer) clearTimeout(this.rescanTimer);
    this.watcher?.close();
    this.watcher = undefined;
    this.watchedDir = undefined;
    for (const connection of this.connections.values()) connection.dispose();
    this.connections.clear();
    this.changeListeners.clear();
    this.requestListeners.clear();
    this.ruleListeners.clear();
  }

  /** Fires after any change to the hubs or what they have pending. */
  onDidChange(listener: Listener<void>): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /** Fires for each new request announced by a live hub (not for ones found by listing). */
  onDidRequest(listener: Listener<PendingItem>): () => void {
    this.requestListeners.add(listener);
    return () => this.requestListeners.delete(listener);
  }

  onDidChangeRules(listener: Listener<void>): () => void {
    this.ruleListeners.add(listener);
    return () => this.ruleListeners.delete(listener);
  }

  /** Reads the discovery folder again; connects to new hubs and drops vanished ones. */
  rescan(): void {
    if (!this.started) return;
    const home = this.home;
    this.ensureWatch(join(home, 'hubs'));
    const discover = this.options.discover ?? discoverHubs;
    let found: DiscoveryFile[];
    try {
      found = discover(home, (problem) => this.problem(problem));
    } catch (err) {
      this.problem(`cannot read ${join(home, 'hubs')}: ${(err as Error).message}`);
      found = [];
    }
    const live = new Set<string>();
    let changed = false;
    for (const hub of found) {
      if (!isLoopbackUrl(hub.url)) {
        this.problem(`ignoring hub ${hub.hubId}: its address ${hub.url} is not on this machine`);
        continue;
      }
      live.add(hub.hubId);
      if (this.connections.has(hub.hubId)) continue;
      const ref: HubRef = {
        hubId: hub.hubId,
        name: hub.name,
        url: hub.url,
        remote: false,
        cwd: hub.cwd,
        pid: hub.pid,
      };
      const client = (this.options.createClient ?? ((h) => new HubClient(h)))(hub);
      this.connections.set(hub.hubId, new HubConnection(ref, client, this.host));
      this.options.log?.(`connecting to ${hub.name} (pid ${hub.pid}) at ${hub.url}`);
      changed = true;
    }
    if (this.connectRemotes(live)) changed = true;
    for (const [hubId, connection] of this.connections) {
      if (live.has(hubId)) continue;
      connection.dispose();
      this.connections.delete(hubId);
      this.options.log?.(
        connection.hub.remote
          ? `disconnected from the remote hub ${connection.hub.url}`
          : `${connection.hub.name} (pid ${connection.hub.pid}) has gone`,
      );
      changed = true;
    }
    if (changed) this.emitChange();
  }

  /**
   * Connects to the remote hubs of the settings (each under the id
   * `remote:<url>`), again when its token changed; marks them in `live`.
   * Returns whether a connection was opened.
   */
  private connectRemotes(live: Set<string>): boolean {
    let changed = false;
    let remotes: readonly RemoteHubSource[] = [];
    try {
      remotes = this.options.remoteHubs?.() ?? [];
    } catch (err) {
      this.problem(`cannot read the remote hubs: ${(err as Error).message}`);
    }
    for (const remote of remotes) {
      const hubId = `remote:${remote.url}`;
      if (!remote.token) {
        this.problem(
          `no token saved for the remote hub ${remote.url}: run "hitloop: Connect to a Remote Hub…"`,
        );
        continue;
      }
      live.add(hubId);
      const existing = this.connections.get(hubId);
      if (existing && existing.credential === remote.token && existing.hub.name === remote.name)
        continue;
      existing?.dispose();
      const ref: HubRef = { hubId, name: remote.name, url: remote.url, remote: true };
      const client = (this.options.createRemoteClient ?? ((h) => new HubClient(h)))({
        url: remote.url,
        token: remote.token,
      });
      this.connections.set(hubId, new HubConnection(ref, client, this.host, remote.token));
      this.options.log?.(
        `connecting to the remote hub ${remote.name} at ${remote.url}${remote.insecure ? ' (plain http, allowed by allowInsecure)' : ''}`,
      );
      changed = true;
    }
    return changed;
  }

  /** Settings or workspace folders changed: look again and re-filter what is shown. */
  reconfigure(): void {
    this.rescan();
    this.emitChange();
  }

  /** Lists every hub again (a manual refresh): reconnects each stream at once. */
  refresh(): void {
    this.rescan();
    for (const connection of this.connections.values()) connection.reconnect();
  }

  snapshot(): HubsSnapshot {
    const scope = this.options.scope?.() ?? 'workspace';
    const folders = this.options.workspaceFolders?.() ?? [];
    const connections = [...this.connections.values()];
    const { pending, hiddenByScope, perHub } = mergePending(
      connections.map((c) => ({
        hub: c.hub,
        pending: c.pending.values(),
        live: c.state === 'live',
      })),
      { scope, folders },
    );
    const hubs: HubStatus[] = connections.map((c) => ({
      ...c.hub,
      state: c.state,
      ...(c.lastError ? { lastError: c.lastError } : {}),
      inScope: scope === 'all' || c.hub.remote || inWorkspace(c.hub.cwd, folders),
      pendingCount: perHub.get(c.hub.hubId) ?? 0,
    }));
    return { pending, hiddenByScope, hubs, scope, home: this.home };
  }

  /**
   * A pending approval by id, whatever the scope, from the hub the list shows
   * it through (`hubPreference`): with a shared store that may be another hub
   * than `hubId`, the one a card or command named.
   */
  findPending(hubId: string, id: string): PendingItem | undefined {
    const sources: PendingSource[] = [];
    const named = this.connections.get(hubId);
    // The named hub first, so that it wins a tie.
    for (const c of named ? [named, ...this.connections.values()] : this.connections.values()) {
      const approval = c.pending.get(id);
      if (approval) sources.push({ hub: c.hub, pending: [approval], live: c.state === 'live' });
    }
    return dedupeByApproval(sources)[0];
  }

  hub(hubId: string): HubRef | undefined {
    return this.connections.get(hubId)?.hub;
  }

  /** The current record from its hub (pending or not). */
  async get(hubId: string, id: string): Promise<PendingItem> {
    const connection = this.require(hubId);
    return { hub: connection.hub, approval: await connection.client.get(id) };
  }

  /**
   * Sends a decision through the hub the list shows the approval through
   * (any hub on the approval's store can decide it; the first decision wins
   * there), or through `hubId` when no hub lists it as pending. Throws
   * HubRequestError (409, 422, ...) on refusal.
   */
  async decide(hubId: string, id: string, body: DecideRequest): Promise<ApprovalRecord> {
    const chosen = this.findPending(hubId, id);
    const connection = chosen ? this.require(chosen.hub.hubId) : this.require(hubId);
    const record = await connection.client.decide(id, body);
    // The SSE event will say the same; removing now keeps the list honest at once.
    this.settle(id);
    return record;
  }

  /** Recent decisions across hubs (deduplicated: hubs may share a store), newest first. */
  async history(limit = 200): Promise<PendingItem[]> {
    const scope = this.options.scope?.() ?? 'workspace';
    const folders = this.options.workspaceFolders?.() ?? [];
    const lists = await Promise.all(
      [...this.connections.values()].map(async (c): Promise<PendingSource> => {
        const live = c.state === 'live';
        try {
          return { hub: c.hub, pending: await c.client.history(limit), live };
        } catch {
          return { hub: c.hub, pending: [], live };
        }
      }),
    );
    const when = (a: ApprovalRecord) => Date.parse(a.decision?.decidedAt ?? a.createdAt) || 0;
    return dedupeByApproval(lists)
      .filter(
        (i) => scope === 'all' || i.hub.remote || inWorkspace(i.approval.cwd ?? i.hub.cwd, folders),
      )
      .sort((a, b) => when(b.approval) - when(a.approval))
      .slice(0, limit);
  }

  /** Remembered rules across hubs (each once), newest first. */
  async rules(): Promise<HubRule[]> {
    const lists = await Promise.all(
      [...this.connections.values()].map(async (c) => {
        try {
          return (await c.client.rules()).map((rule) => ({ hub: c.hub, rule }));
        } catch {
          return [];
        }
      }),
    );
    const byId = new Map<string, HubRule>();
    for (const item of lists.flat()) if (!byId.has(item.rule.id)) byId.set(item.rule.id, item);
    return [...byId.values()].sort((a, b) => (a.rule.createdAt < b.rule.createdAt ? 1 : -1));
  }

  async revokeRule(hubId: string, ruleId: string): Promise<void> {
    await this.require(hubId).client.revokeRule(ruleId);
    this.emitRules();
  }

  /** Problems worth showing once (unreadable discovery files, foreign addresses). */
  private problem(message: string): void {
    if (this.problems.has(message)) return;
    this.problems.add(message);
    this.options.log?.(message);
  }

  private require(hubId: string): HubConnection {
    const connection = this.connections.get(hubId);
    if (!connection) {
      throw new Error(
        'that hitloop process is no longer running, so the request can no longer be answered',
      );
    }
    return connection;
  }

  /** Drops a settled approval from every connection, and remembers that it settled. */
  private settle(id: string): void {
    this.settledIds.delete(id);
    this.settledIds.add(id);
    if (this.settledIds.size > 5_000) {
      const oldest = this.settledIds.values().next().value;
      if (oldest !== undefined) this.settledIds.delete(oldest);
    }
    let changed = false;
    for (const connection of this.connections.values())
      if (connection.pending.delete(id)) changed = true;
    if (changed) this.emitChange();
  }

  private readonly host: ConnectionHost = {
    changed: () => this.emitChange(),
    requested: (hub, approval) => {
      // Hubs sharing a store both announce it: one notification per approval,
      // through the hub the list shows it through.
      for (const c of this.connections.values())
        if (c.hub.hubId !== hub.hubId && c.pending.has(approval.id)) return;
      const item = this.findPending(hub.hubId, approval.id) ?? { hub, approval };
      const scope = this.options.scope?.() ?? 'workspace';
      const folders = this.options.workspaceFolders?.() ?? [];
      if (
        scope === 'workspace' &&
        !item.hub.remote &&
        !inWorkspace(approval.cwd ?? item.hub.cwd, folders)
      )
        return;
      for (const listener of this.requestListeners) listener(item);
    },
    settled: (id) => this.settle(id),
    isSettled: (id) => this.settledIds.has(id),
    rulesChanged: () => this.emitRules(),
    // A dropped stream often means the process died: look again soon, so its
    // discovery file is cleaned up and its requests vanish.
    lost: () => this.scheduleRescan(200),
    backoff: (attempt) => (this.options.backoff ?? backoffDelay)(attempt),
  };

  private emitChange(): void {
    for (const listener of this.changeListeners) listener();
  }

  private emitRules(): void {
    for (const listener of this.ruleListeners) listener();
  }

  private scheduleRescan(ms: number): void {
    if (this.rescanTimer || !this.started) return;
    this.rescanTimer = setTimeout(() => {
      this.rescanTimer = undefined;
      this.rescan();
    }, ms);
    this.rescanTimer.unref?.();
  }

  private ensureWatch(dir: string): void {
    if (this.options.watch === false || this.watchedDir === dir) return;
    this.watcher?.close();
    this.watcher = undefined;
    this.watchedDir = dir;
    try {
      this.watcher = watch(dir, () => this.scheduleRescan(50));
      this.watcher.on('error', () => {
        // The poll keeps discovery going; watching again is tried on the next scan.
        this.watcher?.close();
        this.watcher = undefined;
        this.watchedDir = undefined;
      });
      this.watcher.unref?.();
    } catch {
      // The folder may not exist yet (discoverHubs creates it); the poll covers it.
      this.watchedDir = undefined;
    }
  }
}
