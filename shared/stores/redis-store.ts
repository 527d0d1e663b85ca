import { createHash, randomUUID } from 'node:crypto';
// Types only: `redis` itself is loaded by `fromConnString`, so importing
// hitloop does not load a Redis client in processes that never use one.
import type { RedisClientOptions, RedisClientType } from 'redis';
import { z } from 'zod';
import { ApprovalRecord, ApprovalStatus, HubPresence, RememberedRule } from '../hub/protocol.js';
import { backoffDelay } from '../util/backoff.js';
import { safeJson } from '../util/safe-json.js';
import {
  type ApprovalFilter,
  type ApprovalStore,
  awaitsOwner,
  ChangeFanout,
  matchesFilter,
  newestFirst,
  oldestFirst,
  reclaimed,
  type Settlement,
  type SettleResult,
  type StoreChange,
} from './approval-store.js';

/** Options of {@link RedisApprovalStore}. */
export interface RedisStoreOptions {
  /** Prefix of every key and of the change channel; default `hitloop:`. */
  prefix?: string;
  /** How long a settled record stays in Redis; default 7 days. Pending records never expire. */
  ttlSeconds?: number;
  /** Warnings: unreadable records (skipped) and connection errors. Default: stderr. */
  onInvalid?: (message: string) => void;
}

/** A change announced with PUBLISH; anyone who can connect can publish, so it is parsed. */
const ChangePayload = z.discriminatedUnion('type', [
  z.object({ type: z.literal('put'), id: z.string().min(1), source: z.string() }),
  z.object({ type: z.literal('settled'), id: z.string().min(1), source: z.string() }),
  z.object({ type: z.literal('rules'), source: z.string() }),
]);

const DEFAULT_TTL_SECONDS = 7 * 24 * 3600;
/** Every this many writes, index entries of expired records are swept. */
const SWEEP_EVERY = 200;

// The record hash holds the JSON (`data`) beside the fields the scripts need
// (`status`, `thread`, `delivered`) and a version `v` for compare-and-set. The
// JSON itself is never decoded in Lua: cjson would rewrite numbers and turn
// empty arrays into objects, changing the arguments a reviewer approved.
//
// KEYS[1] record hash, KEYS[2] created index
// ARGV: prefix, id, expected version ('*' any, '' must not exist), data,
//       status, thread, delivered, score, ttl, channel, payload ('' none)
const WRITE_RECORD = `
local key, created = KEYS[1], KEYS[2]
local p, id, expected = ARGV[1], ARGV[2], ARGV[3]
local v = redis.call('HGET', key, 'v')
if expected ~= '*' then
  if expected == '' then
    if v then return 0 end
  elseif v ~= expected then
    return 0
  end
end
local old = redis.call('HMGET', key, 'status', 'thread')
if old[1] then redis.call('SREM', p .. 'approvals:status:' .. old[1], id) end
if old[2] and old[2] ~= '' then redis.call('SREM', p .. 'approvals:thread:' .. old[2], id) end
local status, thread = ARGV[5], ARGV[6]
redis.call('HSET', key, 'data', ARGV[4], 'status', status, 'thread', thread,
  'delivered', ARGV[7], 'v', tostring((tonumber(v) or 0) + 1))
redis.call('SADD', p .. 'approvals:status:' .. status, id)
if thread ~= '' then redis.call('SADD', p .. 'approvals:thread:' .. thread, id) end
redis.call('ZADD', created, ARGV[8], id)
if status == 'pending' then
  redis.call('PERSIST', key)
elseif redis.call('TTL', key) < 0 then
  -- The clock starts at settlement; later writes (markDelivered) keep it.
  redis.call('EXPIRE', key, ARGV[9])
end
if ARGV[11] ~= '' then redis.call('PUBLISH', ARGV[10], ARGV[11]) end
return 1
`;

// Drops index entries whose record has expired (checked again here, so a
// record written meanwhile keeps its entries). ARGV: prefix, thread ('' none), ids...
const FORGET = `
local p, thread = ARGV[1], ARGV[2]
local statuses = {${ApprovalStatus.options.map((s) => `'${s}'`).join(', ')}}
local n = 0
for i = 3, #ARGV do
  local id = ARGV[i]
  if redis.call('EXISTS', p .. 'approval:' .. id) == 0 then
    redis.call('ZREM', p .. 'approvals:created', id)
    for _, s in ipairs(statuses) do redis.call('SREM', p .. 'approvals:status:' .. s, id) end
    if thread ~= '' then redis.call('SREM', p .. 'approvals:thread:' .. thread, id) end
    n = n + 1
  end
end
return n
`;

// KEYS: rules hash, order zset, seq counter. ARGV: id, json, channel, payload.
const ADD_RULE = `
local seq = redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], seq, ARGV[1])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return seq
`;

// KEYS: rules hash, order zset. ARGV: id, channel, payload.
const REMOVE_RULE = `
local n = redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if n > 0 then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return n
`;

type Client = RedisClientType;

/**
 * A team store in Redis: every hitloop process that uses the same server and
 * key prefix shares pending approvals, remembered rules and hub heartbeats.
 * Each record is a hash (`<prefix>approval:<id>`) holding its JSON; a sorted
 * set by creation time and sets per status and thread index it. Writes are
 * Lua scripts that compare a version and publish the change in the same
 * step, so `settle` and `registerPending` are atomic across processes.
 * Settled records expire after `ttlSeconds`; pending ones never do.
 *
 * A single Redis server (or a primary with replicas) is supported, not
 * Redis Cluster: the scripts touch index keys they compute.
 *
 * @example
 * const store = await RedisApprovalStore.fromConnString('redis://cache.internal:6379', { prefix: 'team-a:' });
 * const hub = new ApprovalHub({ store });
 */
export class RedisApprovalStore implements ApprovalStore {
  readonly name = 'redis';
  readonly instanceId = randomUUID();
  readonly prefix: string;
  readonly ttlSeconds: number;
  private readonly client: Client;
  private readonly ownsClient: boolean;
  private readonly channel: string;
  private readonly onInvalid: (message: string) => void;
  private readonly changes = new ChangeFanout();
  private subscriber: Client | undefined;
  private subscribing: Promise<void> | undefined;
  private readonly shas = new Map<string, string>();
  private writes = 0;
  private closed = false;

  /**
   * @param client a connected node-redis client. Passed in, it stays the
   *   caller's (not closed by `close()`); `fromConnString` makes one the store owns.
   */
  constructor(client: Client, options: RedisStoreOptions & { ownsClient?: boolean } = {}) {
    this.client = client;
    this.ownsClient = options.ownsClient ?? false;
    this.prefix = options.prefix ?? 'hitloop:';
    this.ttlSeconds = options.ttlSeconds ?? DEFAULT_TTL_SECONDS;
    if (!Number.isInteger(this.ttlSeconds) || this.ttlSeconds < 1)
      throw new Error(`ttlSeconds must be a positive whole number, got ${this.ttlSeconds}`);
    this.channel = `${this.prefix}changes`;
    this.onInvalid = options.onInvalid ?? ((m) => process.stderr.write(`hitloop: warn: ${m}\n`));
    // node-redis emits 'error' on every failed (re)connect; with no listener
    // Node would crash the process.
    if (client.listenerCount('error') === 0)
      logErrors(client, 'Redis approval store', this.onInvalid);
  }

  /**
   * Connects to `url` and returns a store that owns the connection. Fails
   * (instead of retrying forever) when the first connection cannot be made;
   * after that the client reconnects by itself.
   *
   * @example
   * const store = await RedisApprovalStore.fromConnString('redis://127.0.0.1:6379', { ttlSeconds: 86400 });
   */
  static async fromConnString(
    url: string,
    options: RedisStoreOptions & { connectTimeoutMs?: number } = {},
  ): Promise<RedisApprovalStore> {
    const { createClient } = await import('redis');
    let ready = false;
    const clientOptions: RedisClientOptions = {
      url,
      socket: {
        connectTimeout: options.connectTimeoutMs ?? 5000,
        // Before the first connection a failure is final (the caller learns
        // the URL is wrong); afterwards, back off and keep trying.
        reconnectStrategy: (retries, cause) =>
          ready ? backoffDelay(retries, { initialMs: 50, maxMs: 5000 }) : cause,
      },
    };
    const client = createClient(clientOptions) as unknown as Client;
    const onInvalid = options.onInvalid ?? ((m) => process.stderr.write(`hitloop: warn: ${m}\n`));
    // The first failure reaches the caller through connect(); nothing to log yet.
    const quiet = () => {};
    client.on('error', quiet);
    await client.connect();
    ready = true;
    client.off('error', quiet);
    logErrors(client, 'Redis approval store', onInvalid);
    return new RedisApprovalStore(client, { ...options, onInvalid, ownsClient: true });
  }

  /** Checks the connection; there is nothing to create (keys appear on first write). */
  async setup(): Promise<void> {
    await this.client.ping();
  }

  private recordKey(id: string): string {
    return `${this.prefix}approval:${id}`;
  }

  private get createdKey(): string {
    return `${this.prefix}approvals:created`;
  }

  private statusKey(status: string): string {
    return `${this.prefix}approvals:status:${status}`;
  }

  private threadKey(threadId: string): string {
    return `${this.prefix}approvals:thread:${threadId}`;
  }

  /** EVALSHA, loading the script once per server (it may have restarted and lost it). */
  private async script(source: string, keys: string[], args: string[]): Promise<unknown> {
    let sha = this.shas.get(source);
    if (!sha) {
      sha = createHash('sha1').update(source).digest('hex');
      this.shas.set(source, sha);
    }
    try {
      return await this.client.evalSha(sha, { keys, arguments: args });
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return await this.client.eval(source, { keys, arguments: args });
    }
  }

  /** Writes a record if its version is still `expected`; false when someone else wrote first. */
  private async write(
    record: ApprovalRecord,
    expected: string,
    change: StoreChange | undefined,
  ): Promise<boolean> {
    const written = await this.script(
      WRITE_RECORD,
      [this.recordKey(record.id), this.createdKey],
      [
        this.prefix,
        record.id,
        expected,
        JSON.stringify(record),
        record.status,
        record.threadId ?? '',
        record.deliveredAt === undefined ? '0' : '1',
        String(scoreOf(record)),
        String(this.ttlSeconds),
        this.channel,
        change ? JSON.stringify(change) : '',
      ],
    );
    if (++this.writes % SWEEP_EVERY === 0) void this.sweep().catch(() => {});
    return written === 1;
  }

  /** The record and its version, or undefined (absent or unreadable). */
  private async read(id: string): Promise<{ record: ApprovalRecord; v: string } | undefined> {
    const [data, v] = await this.client.hmGet(this.recordKey(id), ['data', 'v']);
    if (data == null || v == null) return undefined;
    const record = this.parse(String(data), id);
    return record && { record, v: String(v) };
  }

  async put(record: ApprovalRecord): Promise<void> {
    await this.write(record, '*', { type: 'put', id: record.id, source: this.instanceId });
  }

  async get(id: string): Promise<ApprovalRecord | undefined> {
    return (await this.read(id))?.record;
  }

  async list(filter: ApprovalFilter = {}): Promise<ApprovalRecord[]> {
    const limit = filter.limit ?? 1000;
    if (filter.status) {
      // Status sets are small for `pending` (the common query) and bounded
      // by the TTL for the others.
      const ids = filter.status.length
        ? (await this.client.sUnion(filter.status.map((s) => this.statusKey(s)))).map(String)
        : [];
      const records = await this.fetch(ids);
      return records
        .filter((r) => matchesFilter(r, filter))
        .sort(newestFirst)
        .slice(0, limit);
    }
    // No status: walk the creation index newest first, a page at a time,
    // until `limit` matches are found and every record that could sort
    // before the last of them (same or later time) has been seen.
    const page = Math.min(Math.max(limit, 100), 1000);
    const found = new Map<string, ApprovalRecord>();
    for (let offset = 0; ; ) {
      const entries = await this.client.zRangeWithScores(this.createdKey, '+inf', '-inf', {
        BY: 'SCORE',
        REV: true,
        LIMIT: { offset, count: page },
      });
      if (entries.length === 0) break;
      offset += entries.length;
      for (const r of await this.fetch(entries.map((e) => String(e.value))))
        if (matchesFilter(r, filter)) found.set(r.id, r);
      if (found.size >= limit) {
        const sorted = [...found.values()].sort(newestFirst);
        const last = sorted[limit - 1];
        const lastScore = entries[entries.length - 1]!.score;
        if (last && lastScore < scoreOf(last)) break;
      }
    }
    return [...found.values()].sort(newestFirst).slice(0, limit);
  }

  /** Reads records by id (pipelined); ids whose record expired are dropped from the indexes. */
  private async fetch(ids: string[], thread = ''): Promise<ApprovalRecord[]> {
    const rows = await Promise.all(ids.map((id) => this.client.hGet(this.recordKey(id), 'data')));
    const records: ApprovalRecord[] = [];
    const gone: string[] = [];
    rows.forEach((data, i) => {
      const id = ids[i]!;
      if (data == null) gone.push(id);
      else {
        const record = this.parse(String(data), id);
        if (record) records.push(record);
      }
    });
    if (gone.length) await this.script(FORGET, [], [this.prefix, thread, ...gone]);
    return records;
  }

  /** Drops index entries of expired records among the oldest in the creation index. */
  private async sweep(): Promise<void> {
    const cutoff = Date.now() - this.ttlSeconds * 1000;
    const ids = await this.client.zRange(this.createdKey, '-inf', cutoff, {
      BY: 'SCORE',
      LIMIT: { offset: 0, count: 500 },
    });
    if (ids.length) await this.script(FORGET, [], [this.prefix, '', ...ids.map(String)]);
  }

  async settle(id: string, settlement: Settlement): Promise<SettleResult> {
    // Compare-and-set on the version: of concurrent settlements exactly one
    // write lands; the others read again and find the record settled.
    for (;;) {
      const current = await this.read(id);
      if (!current) return { ok: false, reason: 'not_found' };
      if (current.record.status !== 'pending')
        return { ok: false, reason: 'not_pending', record: current.record };
      const next: ApprovalRecord = { ...current.record, ...settlement };
      if (await this.write(next, current.v, { type: 'settled', id, source: this.instanceId }))
        return { ok: true, record: next };
    }
  }

  async listPending(threadId: string): Promise<ApprovalRecord[]> {
    const ids = (await this.client.sMembers(this.threadKey(threadId))).map(String);
    return (await this.fetch(ids, threadId))
      .filter((r) => awaitsOwner(r, threadId))
      .sort(oldestFirst);
  }

  async registerPending(record: ApprovalRecord): Promise<ApprovalRecord> {
    const change: StoreChange = { type: 'put', id: record.id, source: this.instanceId };
    for (;;) {
      const current = await this.read(record.id);
      if (current && current.record.status !== 'pending') return current.record;
      if (!current) {
        // '' = only if absent; an unreadable record is replaced, as in SQLite.
        const exists = await this.client.exists(this.recordKey(record.id));
        if (await this.write(record, exists ? '*' : '', change)) return record;
        continue;
      }
      const next = reclaimed(current.record, record);
      if (await this.write(next, current.v, change)) return next;
    }
  }

  async markDelivered(id: string, at: string): Promise<void> {
    for (;;) {
      const current = await this.read(id);
      if (!current || current.record.deliveredAt !== undefined) return;
      if (await this.write({ ...current.record, deliveredAt: at }, current.v, undefined)) return;
    }
  }

  async addRule(rule: RememberedRule): Promise<void> {
    await this.script(
      ADD_RULE,
      [`${this.prefix}rules`, `${this.prefix}rules:order`, `${this.prefix}rules:seq`],
      [rule.id, JSON.stringify(rule), this.channel, this.changeText({ type: 'rules' })],
    );
  }

  async listRules(): Promise<RememberedRule[]> {
    const ids = (await this.client.zRange(`${this.prefix}rules:order`, 0, -1)).map(String);
    if (!ids.length) return [];
    const rows = await this.client.hmGet(`${this.prefix}rules`, ids);
    const rules: RememberedRule[] = [];
    rows.forEach((data, i) => {
      if (data == null) return;
      const parsed = RememberedRule.safeParse(safeJson(String(data)));
      if (parsed.success) rules.push(parsed.data);
      else this.onInvalid(`ignoring unreadable remembered rule ${ids[i]} in the approval store`);
    });
    return rules;
  }

  async removeRule(id: string): Promise<boolean> {
    const removed = await this.script(
      REMOVE_RULE,
      [`${this.prefix}rules`, `${this.prefix}rules:order`],
      [id, this.channel, this.changeText({ type: 'rules' })],
    );
    return Number(removed) > 0;
  }

  private changeText(change: { type: 'rules' }): string {
    return JSON.stringify({ ...change, source: this.instanceId });
  }

  async heartbeat(presence: HubPresence): Promise<void> {
    await this.client.hSet(`${this.prefix}hubs`, presence.hubId, JSON.stringify(presence));
  }

  async listHubs(): Promise<HubPresence[]> {
    const all = await this.client.hGetAll(`${this.prefix}hubs`);
    return Object.entries(all).flatMap(([hubId, data]) => {
      const parsed = HubPresence.safeParse(safeJson(String(data)));
      if (parsed.success) return [parsed.data];
      this.onInvalid(`ignoring unreadable hub heartbeat ${hubId} in the approval store`);
      return [];
    });
  }

  async removeHub(hubId: string): Promise<void> {
    await this.client.hDel(`${this.prefix}hubs`, hubId);
  }

  watch(listener: (change: StoreChange) => void): () => void {
    const off = this.changes.add(listener);
    this.ensureSubscribed();
    return () => {
      off();
      if (this.changes.size === 0) void this.unsubscribe();
    };
  }

  /** Opens the subscriber connection if someone watches and none is open or opening. */
  private ensureSubscribed(): void {
    if (this.closed || this.subscriber || this.subscribing || this.changes.size === 0) return;
    this.subscribing = (async () => {
      // A connection in subscriber mode can run no other command, hence a
      // second one. node-redis reconnects it and subscribes again by itself.
      // Named, so an operator (or a test) can tell it apart in CLIENT LIST.
      const sub = this.client.duplicate({ name: `hitloop-watch-${this.instanceId}` });
      logErrors(sub, 'Redis approval store (change subscriber)', this.onInvalid);
      try {
        await sub.connect();
        await sub.subscribe(this.channel, (message) => {
          const change = ChangePayload.safeParse(safeJson(message));
          if (change.success) this.changes.emit(change.data);
          else this.onInvalid(`ignoring an unreadable change notice on ${this.channel}`);
        });
      } catch (err) {
        sub.destroy();
        this.onInvalid(
          `Redis approval store: cannot subscribe to changes: ${err instanceof Error ? err.message : String(err)}`,
        );
        return;
      }
      if (this.closed || this.changes.size === 0) sub.destroy();
      else this.subscriber = sub;
    })().finally(() => {
      this.subscribing = undefined;
      // Someone may have started watching again while the last one stopped.
      if (!this.subscriber && !this.closed && this.changes.size > 0) this.ensureSubscribed();
    });
  }

  private async unsubscribe(): Promise<void> {
    const sub = this.subscriber;
    this.subscriber = undefined;
    if (sub) sub.destroy();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.subscribing;
    await this.unsubscribe();
    if (this.ownsClient && this.client.isOpen) await this.client.close();
  }

  // Values read from Redis are a trust boundary: anyone with access may have written them.
  private parse(text: string, id: string): ApprovalRecord | undefined {
    const parsed = ApprovalRecord.safeParse(safeJson(text));
    if (parsed.success) return parsed.data;
    this.onInvalid(`ignoring unreadable approval ${id} in the approval store`);
    return undefined;
  }
}

/** The creation index score of a record (ms since the epoch; 0 when not a date). */
function scoreOf(record: ApprovalRecord): number {
  const ms = Date.parse(record.createdAt);
  return Number.isFinite(ms) ? ms : 0;
}

/**
 * Logs a client's connection errors once per outage: node-redis emits one
 * per failed reconnect attempt, which would flood the log.
 */
function logErrors(client: Client, what: string, log: (message: string) => void): void {
  let reported = false;
  client.on('error', (err: unknown) => {
    if (reported) return;
    reported = true;
    log(`${what}: ${err instanceof Error ? err.message : String(err)}; reconnecting`);
  });
  client.on('ready', () => {
    if (reported) log(`${what}: connected again`);
    reported = false;
  });
}
