import { randomBytes, randomUUID } from 'node:crypto';
import type { Decision } from '../models/decision.js';
import type { ApprovalStore } from '../stores/approval-store.js';
import { argsHash } from '../util/canonical-json.js';
import { announceHub, discoverHubs, hitloopHome } from './discovery.js';
import { type HubServer, startHubServer } from './hub-http.js';
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
  readonly token = randomBytes(32).toString('base64url');
  readonly name: string;
  readonly startedAt = new Date().toISOString();
  private server: HubServer | undefined;
  private removeDiscovery: (() => void) | undefined;
  private readonly listeners = new Set<(event: HubEvent) => void>();
  private readonly waiters = new Map<string, Set<(record: ApprovalRecord) => void>>();
  private readonly validators = new Map<string, Validator>();
  private readonly onExit = () => this.removeDiscovery?.();

  constructor(private readonly options: ApprovalHubOptions) {
    this.name = options.name ?? 'hitloop';
  }

  get store(): ApprovalStore {
    return this.options.store;
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

  /** Starts the HTTP API, expires what dead processes left pending, and announces the hub. */
  async start(): Promise<void> {
    this.server = await startHubServer(this, {
      maxBodyBytes: this.options.maxBodyBytes ?? 1024 * 1024,
    });
    await this.expireOrphans();
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
    for (const record of await this.store.list({ status: ['pending'], hubId: this.hubId })) {
      await this.settleAndEmit(record.id, {
        status: 'expired',
        statusReason: 'the process that asked is shutting down',
      });
    }
    this.removeDiscovery?.();
    process.off('exit', this.onExit);
    await this.server?.close();
  }

  subscribe(listener: (event: HubEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Publishes a pending approval. `validate` checks edited arguments (the tool's inputSchema). */
  async publish(record: ApprovalRecord, validate?: Validator): Promise<void> {
    if (validate) this.validators.set(record.id, validate);
    await this.store.put(record);
    this.emit({ type: 'requested', approval: record });
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

  /** Applies a reviewer's decision; the first one wins. */
  async decide(id: string, body: DecideRequest): Promise<DecideResult> {
    const record = await this.store.get(id);
    if (!record)
      return { ok: false, status: 404, code: 'not_found', message: `no approval with id ${id}` };
    if (record.status !== 'pending') {
      return {
        ok: false,
        status: 409,
        code: 'already_decided',
        message: `approval ${id} is already ${record.status}`,
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
    const edited =
      body.editedArgs && argsHash(body.editedArgs) !== record.argsHash
        ? body.editedArgs
        : undefined;
    const decision: Decision = {
      actionId: id,
      approved: body.approve,
      reason: body.reason ?? '',
      decidedBy: body.decidedBy ?? 'hub:reviewer',
      latencyMs: Math.max(0, Date.now() - Date.parse(record.createdAt)),
      tags: body.remember ? [`remember:${body.remember}`] : [],
      argsHash: edited ? argsHash(edited) : record.argsHash,
      decidedAt: new Date().toISOString(),
      ...(edited ? { editedArgs: edited } : {}),
    };
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
        message: `approval ${id} is already ${now?.status ?? 'decided'}`,
      };
    }
    if (body.remember) await this.remember(result, body, decision);
    return { ok: true, record: result };
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
    decision: Decision,
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
    const result = await this.store.settle(id, settlement);
    if (!result.ok) return undefined;
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

  /**
   * A request whose process died can no longer be answered: the agent's call
   * went with it. Such requests are marked expired with the reason, never
   * silently dropped.
   */
  private async expireOrphans(): Promise<void> {
    const live = new Set(discoverHubs(this.options.home ?? hitloopHome()).map((h) => h.hubId));
    live.add(this.hubId);
    for (const record of await this.store.list({ status: ['pending'], limit: 100_000 })) {
      if (live.has(record.hubId)) continue;
      await this.settleAndEmit(record.id, {
        status: 'expired',
        statusReason:
          'the process that asked is no longer running, so the call can no longer be answered',
      });
    }
  }
}
