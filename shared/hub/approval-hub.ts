import { randomBytes, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { DecisionChannel, RecordedDecision } from '../models/decision.js';
import type { ApprovalStore, StoreChange } from '../stores/approval-store.js';
import { argsHash } from '../util/canonical-json.js';
import { unshowableReason } from '../util/faithful-args.js';
import { announceHub, discoverHubs, hitloopHome } from './discovery.js';
import { type HubServer, type HubServerOptions, startHubServer } from './hub-http.js';
import { LivenessView } from './liveness.js';
import {
  type ApprovalRecord,
  type DecideRequest,
  HUB_API_VERSION,
  type HubErrorCode,
  type HubEvent,
  type HubInfo,
  type RememberedRule,
} from './protocol.js';

export interface ApprovalHubOptions {
  store: ApprovalStore;
  /** Shown to reviewers, e.g. "hitloop proxy". */
  name?: string;
  home?: string;
  /** Write a discovery file so the CLI and the VS Code extension find this hub. Default true. */
  announce?: boolean;
  /** Package version reported by /v1/info. */
  version?: string;
  log?: (message: string) => void;
  maxBodyBytes?: number;
  /**
   * Where the HTTP API listens. Default 127.0.0.1 on a random port. A
   * non-loopback host is for team mode (`hitloop serve`); the token is
   * required either way.
   */
  listen?: { host: string; port: number };
  /** The bearer token; default random. `hitloop serve` passes a persisted one. */
  token?: string;
  /** Serve the mobile approval page at `/` (team mode). Default false. */
  page?: boolean;
  /** Origins the page is reached at besides the hub's Host (a TLS reverse proxy's). */
  pageOrigins?: readonly string[];
  /** Extra request handler tried before the API (e.g. webhook callbacks). */
  extraRoutes?: HubServerOptions['extraRoutes'];
  /** Unread bytes after which an event-stream client is dropped. Default 1 MiB. */
  maxStreamBufferBytes?: number;
  /** Heartbeat interval into the store. Default 10 s. */
  heartbeatMs?: number;
  /**
   * How long requests of a process that died stay answerable, so a restarted
   * process with the same thread id can take them back. Default 120 s.
   */
  resumeWindowMs?: number;
  /** How often orphaned and overdue requests are looked for. Default 30 s. */
  sweepMs?: number;
  /** How often awaited requests are re-read, in case a change notice was lost. Default 5 s. */
  recheckMs?: number;
  /**
   * Also stream the requests and decisions of other processes sharing the
   * store (a team hub does). Default false: each process's hub streams its
   * own, so a client connected to several local hubs hears each event once.
   */
  relayStoreEvents?: boolean;
}

/** The result of a decision attempt, mapped to HTTP by the server. */
export type DecideResult =
  | { ok: true; record: ApprovalRecord }
  | { ok: false; status: 404 | 409 | 422; code: HubErrorCode; message: string; details?: string[] };

type Validator = (args: Record<string, unknown>) => string[];

/**
 * A process's approval hub: pending requests persisted in an ApprovalStore,
 * an HTTP API on 127.0.0.1 (random port, random bearer token) with an SSE
 * event stream, and a discovery file. The first decision wins; a decision is
 * refused unless it names the hash of the arguments it approves.
 *
 * @example
 * const hub = new ApprovalHub({ store: new SqliteApprovalStore(file), name: 'hitloop proxy' });
 * await hub.start();
 * const backend = new HubBackend(hub);
 */
export class ApprovalHub {
  readonly hubId = randomUUID();
  readonly token: string;
  readonly name: string;
  readonly startedAt = new Date().toISOString();
  private server: HubServer | undefined;
  private removeDiscovery: (() => void) | undefined;
  private readonly listeners = new Set<(event: HubEvent) => void>();
  private readonly waiters = new Map<string, Set<(record: ApprovalRecord) => void>>();
  private readonly validators = new Map<string, Validator>();
  /** Requests taken back after a restart, by `server\0tool\0argsHash`, awaiting the agent's retry. */
  private readonly recovered = new Map<string, string>();
  private unwatch: (() => void) | undefined;
  private timers: NodeJS.Timeout[] = [];
  /** Store changes this hub made and announced itself, awaiting their echo. */
  private readonly selfMade = new Map<string, number>();
  private readonly onExit = () => this.removeDiscovery?.();

  constructor(private readonly options: ApprovalHubOptions) {
    this.name = options.name ?? 'hitloop';
    this.token = options.token ?? randomBytes(32).toString('base64url');
  }

  get store(): ApprovalStore {
    return this.options.store;
  }

  /**
   * Event-stream clients connected now and the bytes they have not read yet.
   *
   * @example
   * const { clients, bufferedBytes } = hub.streamStats();
   */
  streamStats(): { clients: number; bufferedBytes: number } {
    return this.server?.streamStats() ?? { clients: 0, bufferedBytes: 0 };
  }

  get url(): string {
    if (!this.server) throw new Error('the approval hub is not started');
    return this.server.url;
  }

  info(): HubInfo {
    return {
      hubId: this.hubId,
      name: this.name,
      pid: process.pid,
      cwd: process.cwd(),
      version: this.options.version ?? '0.0.0',
      apiVersion: HUB_API_VERSION,
      startedAt: this.startedAt,
    };
  }

  /**
   * Starts the HTTP API, watches the store for other processes' changes,
   * starts the heartbeat, expires what dead processes left pending, and
   * announces the hub.
   */
  async start(): Promise<void> {
    this.server = await startHubServer(this, {
      maxBodyBytes: this.options.maxBodyBytes ?? 1024 * 1024,
      host: this.options.listen?.host ?? '127.0.0.1',
      port: this.options.listen?.port ?? 0,
      page: this.options.page ?? false,
      ...(this.options.pageOrigins ? { pageOrigins: this.options.pageOrigins } : {}),
      ...(this.options.extraRoutes ? { extraRoutes: this.options.extraRoutes } : {}),
      ...(this.options.maxStreamBufferBytes !== undefined
        ? { maxStreamBufferBytes: this.options.maxStreamBufferBytes }
        : {}),
      ...(this.options.log ? { log: this.options.log } : {}),
    });
    this.unwatch = this.store.watch((change) => this.onStoreChange(change));
    await this.beat();
    const every = (ms: number, fn: () => Promise<unknown>) => {
      const t = setInterval(() => {
        fn().catch((err: unknown) =>
          this.options.log?.(`hub: ${err instanceof Error ? err.message : String(err)}`),
        );
      }, ms);
      t.unref();
      this.timers.push(t);
    };
    every(this.options.heartbeatMs ?? 10_000, () => this.beat());
    // Notices sent while a store's listen connection was down are lost; a
    // slow re-read of what this hub waits for makes sure nobody waits forever.
    every(this.options.recheckMs ?? 5_000, () => this.recheckWaiters());
    every(this.options.sweepMs ?? 30_000, () => this.sweep());
    await this.sweep();
    if (this.options.announce !== false) {
      this.removeDiscovery = announceHub(
        {
          apiVersion: HUB_API_VERSION,
          hubId: this.hubId,
          name: this.name,
          pid: process.pid,
          url: this.server.url,
          token: this.token,
          cwd: process.cwd(),
          startedAt: this.startedAt,
        },
        this.options.home ?? hitloopHome(),
      );
      process.once('exit', this.onExit);
    }
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    // Requests with a thread id stay answerable for the resume window: a
    // restart (systemd sends SIGTERM) takes them back. The rest can no longer
    // be answered once this process is gone.
    let resumable = 0;
    for (const record of await this.store.list({ status: ['pending'], hubId: this.hubId })) {
      if (record.threadId) {
        resumable++;
        continue;
      }
      await this.settleAndEmit(record.id, {
        status: 'expired',
        statusReason: 'the process that asked is shutting down',
      });
    }
    this.unwatch?.();
    this.unwatch = undefined;
    // The last heartbeat dates the end of this process for the resume window.
    if (resumable) await this.beat().catch(() => undefined);
    else await this.store.removeHub(this.hubId).catch(() => undefined);
    this.removeDiscovery?.();
    process.off('exit', this.onExit);
    await this.server?.close();
  }

  /**
   * Takes back what an earlier run of this thread left behind: requests still
   * pending become this hub's again (their cards stay up), and decisions made
   * while the process was away are kept for the agent's retry of the same
   * call (`takeRecovered`). Returns what was recovered.
   *
   * @example
   * await hub.start();
   * const back = await hub.recover('proxy:build-box');
   */
  async recover(threadId: string, windowMs = 600_000): Promise<ApprovalRecord[]> {
    const out: ApprovalRecord[] = [];
    const expiresAt = new Date(Date.now() + windowMs).toISOString();
    const view = await this.liveness();
    for (const record of await this.store.listPending(threadId)) {
      // Another live process with the same thread id (two editor windows on
      // one config) keeps its own requests.
      if (record.hubId !== this.hubId && view.deadSince(record.hubId) === undefined) continue;
      const current =
        record.status === 'pending'
          ? await this.announcing(`put:${record.id}`, () =>
              this.store.registerPending({ ...record, hubId: this.hubId, expiresAt }),
            )
          : record;
      this.recovered.set(recoveryKey(current.server, current.tool, current.argsHash), current.id);
      if (current.status === 'pending') this.emit({ type: 'requested', approval: current });
      out.push(current);
    }
    return out;
  }

  /** The id of a recovered request for exactly this call, if any (each is taken once). */
  takeRecovered(server: string | undefined, tool: string, hash: string): string | undefined {
    const key = recoveryKey(server, tool, hash);
    const id = this.recovered.get(key);
    if (id !== undefined) this.recovered.delete(key);
    return id;
  }

  /** Marks that the asker received the decision, so a restart does not replay it. */
  async delivered(id: string): Promise<void> {
    await this.store.markDelivered(id, new Date().toISOString());
  }

  subscribe(listener: (event: HubEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Publishes a pending approval. `validate` checks edited arguments (the tool's inputSchema). */
  async publish(record: ApprovalRecord, validate?: Validator): Promise<void> {
    // The gate refuses these first; this guards callers that publish directly,
    // since a stored record read back through zod would lose such keys.
    const unshowable = unshowableReason(record.args, undefined, `approval ${record.id}`);
    if (unshowable) throw new Error(`not published: ${unshowable}`);
    if (validate) this.validators.set(record.id, validate);
    await this.announcing(`put:${record.id}`, () => this.store.put(record));
    this.emit({ type: 'requested', approval: record });
  }

  /**
   * Runs a store write whose change this hub announces itself, so the echo
   * of that change from the store is not announced twice. Other writes
   * through the same store object (a webhook callback in `hitloop serve`)
   * are announced when their echo arrives.
   */
  private async announcing<T>(key: string, write: () => Promise<T>): Promise<T> {
    // Echoes arrive only while the hub watches the store.
    if (!this.unwatch) return write();
    this.selfMade.set(key, (this.selfMade.get(key) ?? 0) + 1);
    try {
      return await write();
    } catch (err) {
      this.consumeSelfMade(key);
      throw err;
    }
  }

  private consumeSelfMade(key: string): boolean {
    const n = this.selfMade.get(key);
    if (!n) return false;
    if (n === 1) this.selfMade.delete(key);
    else this.selfMade.set(key, n - 1);
    return true;
  }

  /** Resolves when the approval leaves `pending` (decided, withdrawn or expired). */
  waitFor(id: string): Promise<ApprovalRecord> {
    return new Promise((resolve) => {
      const set = this.waiters.get(id) ?? new Set();
      this.waiters.set(id, set);
      set.add(resolve);
      // It may have been settled before we started waiting.
      void this.store.get(id).then((r) => {
        if (r && r.status !== 'pending') this.wake(r);
      });
    });
  }

  /**
   * Applies a reviewer's decision; the first one wins. `via` is how the
   * caller authenticated (the HTTP API passes `hub-token`); it is recorded
   * as `decision.decidedVia`, apart from the `decidedBy` the body asserts.
   */
  async decide(
    id: string,
    body: DecideRequest,
    via: DecisionChannel = 'in-process',
  ): Promise<DecideResult> {
    const record = await this.store.get(id);
    if (!record)
      return { ok: false, status: 404, code: 'not_found', message: `no approval with id ${id}` };
    if (record.status === 'expired' || record.status === 'withdrawn') {
      // Keep the decision for the record (never dropped), but it cannot apply.
      const keep = !record.lateDecision && body.argsHash === record.argsHash;
      if (keep)
        await this.announcing(`put:${id}`, () =>
          this.store.put({ ...record, lateDecision: this.decisionFor(record, body, via) }),
        );
      const closed = `approval ${id} had already ${record.status === 'expired' ? 'expired' : 'been withdrawn'}${record.statusReason ? ` (${record.statusReason})` : ''}`;
      return {
        ok: false,
        status: 409,
        code: 'already_decided',
        message: keep
          ? `${closed}; your decision was recorded but not applied`
          : `${closed}; nothing was applied${record.lateDecision ? ` (a late decision by ${record.lateDecision.decidedBy} is already on record)` : ''}`,
      };
    }
    if (record.status !== 'pending') {
      return {
        ok: false,
        status: 409,
        code: 'already_decided',
        message: `approval ${id} is already ${record.status}${decidedByText(record)}`,
      };
    }
    if (body.argsHash !== record.argsHash) {
      return {
        ok: false,
        status: 409,
        code: 'args_changed',
        message:
          'the decision names other arguments than the request holds; review the current arguments and decide again',
      };
    }
    if (body.editedArgs) {
      const problems = this.validators.get(id)?.(body.editedArgs) ?? [];
      if (problems.length) {
        return {
          ok: false,
          status: 422,
          code: 'invalid_args',
          message: "the edited arguments do not match the tool's input schema",
          details: problems,
        };
      }
    }
    const decision = this.decisionFor(record, body, via);
    if (record.hubId !== this.hubId) {
      // Another process asked: apply the decision only if it can still act on it.
      const view = await this.liveness(1000, record.hubId);
      const state = view.answerable(record);
      if (!state.answerable) {
        const closed = await this.settleAndEmit(id, {
          status: 'expired',
          statusReason: state.reason,
          lateDecision: decision,
        });
        return {
          ok: false,
          status: 409,
          code: 'already_decided',
          message: closed
            ? `approval ${id} expired: ${state.reason}; your decision was recorded but not applied`
            : `approval ${id} was decided elsewhere first`,
        };
      }
    }
    const result = await this.settleAndEmit(id, {
      status: body.approve ? 'approved' : 'rejected',
      decision,
    });
    if (!result) {
      const now = await this.store.get(id);
      return {
        ok: false,
        status: 409,
        code: 'already_decided',
        message: `approval ${id} is already ${now?.status ?? 'decided'}${now ? decidedByText(now) : ''}`,
      };
    }
    if (body.remember) await this.remember(result, body, decision);
    return { ok: true, record: result };
  }

  private decisionFor(
    record: ApprovalRecord,
    body: DecideRequest,
    via: DecisionChannel,
  ): RecordedDecision {
    const edited =
      body.editedArgs && argsHash(body.editedArgs) !== record.argsHash
        ? body.editedArgs
        : undefined;
    return {
      actionId: record.id,
      approved: body.approve,
      reason: body.reason ?? '',
      decidedBy: body.decidedBy ?? 'hub:reviewer',
      decidedVia: via,
      latencyMs: Math.max(0, Date.now() - Date.parse(record.createdAt)),
      tags: body.remember ? [`remember:${body.remember}`] : [],
      argsHash: edited ? argsHash(edited) : record.argsHash,
      decidedAt: new Date().toISOString(),
      ...(edited ? { editedArgs: edited } : {}),
    };
  }

  async withdraw(id: string, reason: string): Promise<ApprovalRecord | undefined> {
    return this.settleAndEmit(id, { status: 'withdrawn', statusReason: reason });
  }

  async expire(id: string, reason: string): Promise<ApprovalRecord | undefined> {
    return this.settleAndEmit(id, { status: 'expired', statusReason: reason });
  }

  /** The remembered rule that answers this request, if any (deny rules first). */
  async matchRule(query: {
    server?: string;
    tool: string;
    args: Record<string, unknown>;
    cwd?: string;
  }): Promise<RememberedRule | undefined> {
    const hash = argsHash(query.args);
    const rules = (await this.store.listRules()).filter(
      (r) =>
        r.tool === query.tool &&
        r.server === query.server &&
        (r.argsHash === undefined || r.argsHash === hash) &&
        (r.scope === 'always' ||
          (r.scope === 'workspace' && r.workspace === (query.cwd ?? process.cwd())) ||
          (r.scope === 'session' && r.hubId === this.hubId)),
    );
    return rules.find((r) => r.effect === 'deny') ?? rules[0];
  }

  async revokeRule(id: string): Promise<boolean> {
    const removed = await this.store.removeRule(id);
    if (removed) this.emit({ type: 'rule_revoked', id });
    return removed;
  }

  private async remember(
    record: ApprovalRecord,
    body: DecideRequest,
    decision: RecordedDecision,
  ): Promise<void> {
    const rule: RememberedRule = {
      id: randomUUID(),
      scope: body.remember!,
      effect: body.approve ? 'allow' : 'deny',
      tool: record.tool,
      createdAt: new Date().toISOString(),
      createdBy: decision.decidedBy,
      sourceApprovalId: record.id,
      ...(record.server ? { server: record.server } : {}),
      ...(body.remember === 'workspace' ? { workspace: record.cwd ?? process.cwd() } : {}),
      ...(body.remember === 'session' ? { hubId: this.hubId } : {}),
    };
    await this.store.addRule(rule);
    this.emit({ type: 'rule_added', rule });
  }

  private async settleAndEmit(
    id: string,
    settlement: Parameters<ApprovalStore['settle']>[1],
  ): Promise<ApprovalRecord | undefined> {
    // Dated here, for every store, so a late reviewer can be told when it closed.
    const dated = { settledAt: new Date().toISOString(), ...settlement };
    const result = await this.announcing(`settled:${id}`, () => this.store.settle(id, dated));
    if (!result.ok) {
      // No change was made, so no echo will come.
      this.consumeSelfMade(`settled:${id}`);
      return undefined;
    }
    this.validators.delete(id);
    const r = result.record;
    if (r.status === 'approved' || r.status === 'rejected')
      this.emit({ type: 'decided', approval: r });
    else if (r.status === 'withdrawn')
      this.emit({ type: 'withdrawn', id, reason: r.statusReason ?? '' });
    else if (r.status === 'expired')
      this.emit({ type: 'expired', id, reason: r.statusReason ?? '' });
    this.wake(r);
    return r;
  }

  private wake(record: ApprovalRecord): void {
    const set = this.waiters.get(record.id);
    if (!set) return;
    this.waiters.delete(record.id);
    for (const resolve of set) resolve(record);
  }

  private emit(event: HubEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.options.log?.(
          `hub event listener failed: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
    }
  }

  // Deciding many requests of other processes in a burst must not cost a
  // store query and a directory scan each: a view is reused for a second.
  private livenessCache: { view: LivenessView; at: number } | undefined;

  private async liveness(maxAgeMs = 0, about?: string): Promise<LivenessView> {
    const cached = this.livenessCache;
    // A hub that started after the view was taken must not look dead.
    if (
      cached &&
      Date.now() - cached.at <= maxAgeMs &&
      (about === undefined || cached.view.knows(about))
    )
      return cached.view;
    const view = await this.freshLiveness();
    this.livenessCache = { view, at: Date.now() };
    return view;
  }

  private async freshLiveness(): Promise<LivenessView> {
    const heartbeatMs = this.options.heartbeatMs ?? 10_000;
    return new LivenessView(
      await this.store.listHubs(),
      discoverHubs(this.options.home ?? hitloopHome()),
      this.hubId,
      {
        staleAfterMs: Math.max(3 * heartbeatMs, 15_000),
        resumeWindowMs: this.options.resumeWindowMs ?? 120_000,
      },
    );
  }

  private async recheckWaiters(): Promise<void> {
    for (const id of [...this.waiters.keys()]) {
      const record = await this.store.get(id);
      if (record && record.status !== 'pending') this.wake(record);
    }
  }

  private async beat(): Promise<void> {
    await this.store.heartbeat({
      hubId: this.hubId,
      name: this.name,
      host: hostname(),
      pid: process.pid,
      startedAt: this.startedAt,
      lastSeen: new Date().toISOString(),
      heartbeatMs: this.options.heartbeatMs ?? 10_000,
      ...(this.server ? { url: this.server.url } : {}),
    });
  }

  /**
   * A request whose process died can no longer be answered, unless that
   * process may still come back for it (a `threadId`, within the resume
   * window). Such requests are marked expired with the reason, never
   * silently dropped; so are this hub's own requests past `expiresAt` that
   * nobody waits for.
   */
  async sweep(): Promise<void> {
    const view = await this.liveness();
    const now = Date.now();
    // Heartbeats of hubs gone for a day only slow the view down.
    for (const presence of await this.store.listHubs())
      if (now - Date.parse(presence.lastSeen) > 86_400_000)
        await this.store.removeHub(presence.hubId);
    for (const record of await this.store.list({ status: ['pending'], limit: 100_000 })) {
      if (record.hubId === this.hubId) {
        if (
          !this.waiters.has(record.id) &&
          record.expiresAt !== undefined &&
          Date.parse(record.expiresAt) < now
        )
          await this.settleAndEmit(record.id, {
            status: 'expired',
            statusReason: 'nobody retried this call before its approval window closed',
          });
        continue;
      }
      const state = view.answerable(record);
      if (!state.answerable)
        await this.settleAndEmit(record.id, { status: 'expired', statusReason: state.reason });
    }
  }

  // Another process (or another store object in this one) changed the store:
  // wake whoever waits here, and tell this hub's clients what changed.
  private onStoreChange(change: StoreChange): void {
    if (change.type === 'rules') return;
    // Changes this hub made were announced when they were made; anything
    // else, even through the same store object, is news.
    const fromElsewhere =
      change.source !== this.store.instanceId ||
      !this.consumeSelfMade(`${change.type}:${change.id}`);
    // A hub that does not relay cares only about what it waits for; reading
    // every other change would cost a query each.
    if (!this.waiters.has(change.id) && (!fromElsewhere || !this.options.relayStoreEvents)) return;
    void this.store
      .get(change.id)
      .then((record) => {
        if (!record) return;
        // A hub streams its own requests' fate, wherever decided; a team hub
        // streams everything on the store.
        const announce =
          fromElsewhere && (this.options.relayStoreEvents === true || record.hubId === this.hubId);
        if (record.status !== 'pending') {
          this.wake(record);
          if (!announce) return;
          this.validators.delete(record.id);
          if (record.status === 'approved' || record.status === 'rejected')
            this.emit({ type: 'decided', approval: record });
          else if (record.status === 'withdrawn')
            this.emit({ type: 'withdrawn', id: record.id, reason: record.statusReason ?? '' });
          else this.emit({ type: 'expired', id: record.id, reason: record.statusReason ?? '' });
        } else if (announce && change.type === 'put') {
          this.emit({ type: 'requested', approval: record });
        }
      })
      .catch((err: unknown) =>
        this.options.log?.(
          `hub: could not read approval ${change.id}: ${err instanceof Error ? err.message : String(err)}`,
        ),
      );
  }
}

function recoveryKey(server: string | undefined, tool: string, hash: string): string {
  return `${server ?? ''}\0${tool}\0${hash}`;
}

/**
 * Who made the decision that stands, for "already approved by …" answers.
 *
 * @example decidedByText(record) // ' by cli:alice (via hub-token)'
 */
function decidedByText(record: ApprovalRecord): string {
  const d = record.decision;
  if (!d) return '';
  return ` by ${d.decidedBy}${d.decidedVia ? ` (via ${d.decidedVia})` : ''}`;
}
