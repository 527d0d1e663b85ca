import { hostname } from 'node:os';
import { processAlive } from './discovery.js';
import type { ApprovalRecord, DiscoveryFile, HubPresence } from './protocol.js';

/** How a hub judges whether the process that asked for an approval can still act on it. */
export interface LivenessOptions {
  /** A heartbeat older than this means the hub is gone. */
  staleAfterMs: number;
  /**
   * How long a dead asker's requests that carry a `threadId` stay answerable,
   * waiting for the process to restart and take them back.
   */
  resumeWindowMs: number;
}

/** The answer for one request. */
export type Answerability =
  | { answerable: true; ownerAlive: boolean }
  | { answerable: false; reason: string };

/**
 * A snapshot of which hubs are alive, built from local discovery files and
 * the heartbeats in a shared store. On this machine a heartbeat from a pid
 * that no longer exists means dead at once; elsewhere only staleness tells.
 *
 * @example
 * const live = new LivenessView(await store.listHubs(), discoverHubs(), hub.hubId, opts);
 * if (!live.answerable(record).answerable) await hub.expire(record.id, '...');
 */
export class LivenessView {
  private readonly presences = new Map<string, HubPresence>();
  private readonly local = new Set<string>();
  private readonly host = hostname();

  constructor(
    presences: readonly HubPresence[],
    discovered: readonly DiscoveryFile[],
    private readonly selfId: string,
    private readonly options: LivenessOptions,
    private readonly now = Date.now(),
  ) {
    for (const p of presences) this.presences.set(p.hubId, p);
    for (const d of discovered) this.local.add(d.hubId);
  }

  /** Whether this view has heard of the hub at all (a heartbeat or a discovery file). */
  knows(hubId: string): boolean {
    return hubId === this.selfId || this.local.has(hubId) || this.presences.has(hubId);
  }

  /**
   * When the hub died (ms since epoch), or undefined while it is alive.
   * `since` is when it was last known to act (a request's creation): a hub
   * this view has not heard of counts as alive for a stale period after it,
   * since it may have started after the view was taken.
   */
  deadSince(hubId: string, since?: number): number | undefined {
    if (hubId === this.selfId || this.local.has(hubId)) return undefined;
    const p = this.presences.get(hubId);
    if (!p) {
      if (since === undefined || Number.isNaN(since)) return Number.NEGATIVE_INFINITY;
      return this.now - since > this.options.staleAfterMs ? since : undefined;
    }
    const lastSeen = Date.parse(p.lastSeen);
    if (p.host === this.host && !processAlive(p.pid)) return lastSeen;
    const staleAfter = p.heartbeatMs
      ? Math.max(3 * p.heartbeatMs, this.options.staleAfterMs)
      : this.options.staleAfterMs;
    return this.now - lastSeen > staleAfter ? lastSeen : undefined;
  }

  answerable(record: ApprovalRecord): Answerability {
    const dead = this.deadSince(record.hubId, Date.parse(record.createdAt));
    if (dead === undefined) return { answerable: true, ownerAlive: true };
    if (!record.threadId)
      return {
        answerable: false,
        reason:
          'the process that asked is no longer running, so the call can no longer be answered',
      };
    if (this.now - dead <= this.options.resumeWindowMs)
      return { answerable: true, ownerAlive: false };
    return {
      answerable: false,
      reason: `the process that asked stopped and did not come back within ${Math.round(this.options.resumeWindowMs / 1000)} s to take the request back`,
    };
  }
}
