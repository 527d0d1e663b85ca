import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { createClient } from 'redis';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryApprovalStore } from '../../shared/stores/memory-store.js';
import { maskStoreUrl, openApprovalStore, StoreOpenError } from '../../shared/stores/open-store.js';
import { RedisApprovalStore } from '../../shared/stores/redis-store.js';
import { SqliteApprovalStore } from '../../shared/stores/sqlite-store.js';
import { approvalStoreConformance, pendingRecord } from '../conformance/approval-store.spec.js';
import { makeTempDir } from '../helpers/temp-dir.js';

// A real server; override with HITLOOP_TEST_REDIS_URL.
const URL = process.env.HITLOOP_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

async function probe(): Promise<string | undefined> {
  const client = createClient({
    url: URL,
    socket: { connectTimeout: 2000, reconnectStrategy: false },
  });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message || String(err) : String(err);
  } finally {
    if (client.isOpen) client.destroy();
  }
}

const unavailable = await probe();
if (unavailable)
  process.stderr.write(
    `approval-stores-redis: skipped, Redis not reachable at ${URL} (${unavailable})\n`,
  );

// Each store gets a key prefix of its own; its keys are deleted when the file is done.
const prefixes = new Set<string>();
function freshPrefix(): string {
  const prefix = `hitloop-test:${randomUUID().slice(0, 12)}:`;
  prefixes.add(prefix);
  return prefix;
}
async function makeStore(
  options: { prefix?: string; ttlSeconds?: number; onInvalid?: (m: string) => void } = {},
): Promise<RedisApprovalStore> {
  const store = await RedisApprovalStore.fromConnString(URL, {
    ...options,
    prefix: options.prefix ?? freshPrefix(),
  });
  await store.setup();
  return store;
}

/** A plain client to look at (or tamper with) what the store wrote. */
async function raw() {
  const client = createClient({ url: URL });
  client.on('error', () => {});
  await client.connect();
  return client;
}

afterAll(async () => {
  if (unavailable || prefixes.size === 0) return;
  const client = await raw();
  for (const prefix of prefixes)
    for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 }))
      if (keys.length) await client.del(keys);
  client.destroy();
});

describe.skipIf(!!unavailable)('Redis approval store', () => {
  approvalStoreConformance('redis', {
    make: () => makeStore(),
    // Another process: its own connection over the same prefix.
    peer: async (store) => makeStore({ prefix: (store as RedisApprovalStore).prefix }),
  });

  it('lets exactly one of 50 concurrent settlements win across two connections', async () => {
    const a = await makeStore();
    const b = await makeStore({ prefix: a.prefix });
    const r = pendingRecord();
    await a.put(r);
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        (i % 2 ? a : b).settle(r.id, { status: 'approved', statusReason: `#${i}` }),
      ),
    );
    const winners = results.filter((x) => x.ok);
    expect(winners).toHaveLength(1);
    expect(results.filter((x) => !x.ok && x.reason === 'not_pending')).toHaveLength(49);
    expect((await b.get(r.id))?.statusReason).toBe(
      winners[0]!.ok ? winners[0]!.record.statusReason : '',
    );
    await a.close();
    await b.close();
  });

  it('expires settled records after ttlSeconds and keeps pending ones', async () => {
    const store = await makeStore({ ttlSeconds: 60 });
    const client = await raw();
    const r = pendingRecord({ threadId: 'T' });
    await store.put(r);
    const key = `${store.prefix}approval:${r.id}`;
    expect(await client.ttl(key)).toBe(-1);
    await store.settle(r.id, { status: 'approved' });
    const ttl = await client.ttl(key);
    expect(ttl).toBeGreaterThan(50);
    expect(ttl).toBeLessThanOrEqual(60);
    // Delivery later does not restart the clock.
    await client.expire(key, 30);
    await store.markDelivered(r.id, new Date().toISOString());
    expect(await client.ttl(key)).toBeLessThanOrEqual(30);
    // Once expired, the record and its index entries are gone.
    await client.del(key);
    expect(await store.list()).toEqual([]);
    expect(await store.list({ status: ['approved'] })).toEqual([]);
    expect(await store.listPending('T')).toEqual([]);
    expect(await client.zCard(`${store.prefix}approvals:created`)).toBe(0);
    expect(await client.sCard(`${store.prefix}approvals:status:approved`)).toBe(0);
    client.destroy();
    await store.close();
  });

  it('lists newest first across pages of the creation index', async () => {
    const store = await makeStore();
    const records = Array.from({ length: 250 }, (_, i) =>
      pendingRecord({
        // Pairs share a timestamp, so ordering within a tie (by id) is exercised too.
        createdAt: new Date(Date.UTC(2026, 0, 1) + Math.floor(i / 2) * 1000).toISOString(),
        server: i % 5 === 0 ? 'git' : 'fs',
      }),
    );
    for (const r of records) await store.put(r);
    const expected = new MemoryApprovalStore();
    for (const r of records) await expected.put(r);
    for (const filter of [{ limit: 101 }, { limit: 7, server: 'git' }, {}, { limit: 1 }])
      expect((await store.list(filter)).map((r) => r.id)).toEqual(
        (await expected.list(filter)).map((r) => r.id),
      );
    await store.close();
  });

  it('keeps receiving changes after its subscriber connection is killed', async () => {
    const warnings: string[] = [];
    const store = await makeStore({ onInvalid: (m) => warnings.push(m) });
    const other = await makeStore({ prefix: store.prefix });
    const seen: string[] = [];
    const stop = store.watch((c) => {
      if (c.type !== 'rules') seen.push(c.id);
    });
    const client = await raw();
    const name = `hitloop-watch-${store.instanceId}`;
    const subscriberId = async () => {
      const line = (await client.clientList()).find((c) => c.name === name && c.sub > 0);
      return line?.id;
    };
    const wait = async (predicate: () => Promise<boolean> | boolean) => {
      const until = Date.now() + 5000;
      while (!(await predicate())) {
        if (Date.now() > until) throw new Error('condition not met in time');
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await wait(async () => (await subscriberId()) !== undefined);
    const first = await subscriberId();
    await client.sendCommand(['CLIENT', 'KILL', 'ID', String(first)]);
    await wait(async () => {
      const id = await subscriberId();
      return id !== undefined && id !== first;
    });
    const r = pendingRecord();
    await other.put(r);
    await wait(() => seen.includes(r.id));
    expect(warnings.length).toBeGreaterThanOrEqual(1);
    stop();
    // Nobody watches: the subscriber connection is closed.
    await wait(async () => (await subscriberId()) === undefined);
    client.destroy();
    await other.close();
    await store.close();
  });

  it('skips records that do not parse, with a warning, instead of failing', async () => {
    const warnings: string[] = [];
    const store = await makeStore({ onInvalid: (m) => warnings.push(m) });
    const good = pendingRecord();
    await store.put(good);
    const client = await raw();
    await client.hSet(`${store.prefix}approval:bad`, {
      data: '{not json',
      status: 'pending',
      v: '1',
    });
    await client.sAdd(`${store.prefix}approvals:status:pending`, 'bad');
    await client.zAdd(`${store.prefix}approvals:created`, { score: Date.now(), value: 'bad' });
    client.destroy();
    expect((await store.list()).map((r) => r.id)).toEqual([good.id]);
    expect((await store.list({ status: ['pending'] })).map((r) => r.id)).toEqual([good.id]);
    expect(warnings.join()).toContain('bad');
    await store.close();
  });

  it('keeps arguments byte for byte (no JSON rewriting in Lua)', async () => {
    const store = await makeStore();
    const r = pendingRecord({ args: { empty: [], obj: {}, big: Number.MAX_SAFE_INTEGER, f: 0.1 } });
    await store.put(r);
    await store.settle(r.id, { status: 'approved' });
    expect((await store.get(r.id))?.args).toEqual(r.args);
    await store.close();
  });
});

describe('openApprovalStore', () => {
  it('opens memory, a file path and sqlite:PATH', async () => {
    const memory = await openApprovalStore('memory');
    expect(memory.name).toBe('memory');
    await memory.close();
    // A folder that does not exist yet, inside one that is removed after the test.
    const dir = join(makeTempDir('hitloop-open-'), 'new');
    for (const spec of [`${dir}/a.db`, `sqlite:${dir}/b.db`, `sqlite://${dir}/c.db`]) {
      const store = await openApprovalStore(spec);
      expect(store).toBeInstanceOf(SqliteApprovalStore);
      await store.close();
    }
  });

  it('refuses an unknown scheme, naming it and the accepted forms', async () => {
    const err = await openApprovalStore('mysql://root:pw@localhost/db').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreOpenError);
    expect((err as Error).message).toMatch(
      /mysql:\/\/root:\*\*\*\*@localhost\/db.*unknown store type "mysql:".*postgres:\/\//,
    );
    await expect(openApprovalStore('  ')).rejects.toThrow(/no store given/);
    await expect(openApprovalStore('sqlite:')).rejects.toThrow(/no file after "sqlite:"/);
  });

  it('masks passwords in URLs it shows', () => {
    expect(maskStoreUrl('postgres://alice:s3cret@db:5432/x')).toBe(
      'postgres://alice:****@db:5432/x',
    );
    expect(maskStoreUrl('redis://:pw@cache:6379')).toBe('redis://:****@cache:6379');
    expect(maskStoreUrl('postgres://db/x?password=pw')).toBe('postgres://db/x?password=****');
    expect(maskStoreUrl('/home/a/approvals.db')).toBe('/home/a/approvals.db');
  });

  it('names the masked URL and the fix when no Redis listens', async () => {
    const err = await openApprovalStore('redis://:hunter2@127.0.0.1:1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreOpenError);
    const message = (err as Error).message;
    expect(message).toContain('redis://:****@127.0.0.1:1');
    expect(message).not.toContain('hunter2');
    expect(message).toMatch(/is Redis running/);
  });

  it('refuses a ttl that is not a number of seconds', async () => {
    await expect(openApprovalStore('redis://127.0.0.1:6379?ttl=soon')).rejects.toThrow(
      /ttl=soon is not a number of seconds/,
    );
  });

  it.skipIf(!!unavailable)('takes the prefix and ttl from the URL', async () => {
    const prefix = freshPrefix();
    const store = await openApprovalStore(`${URL}?prefix=${encodeURIComponent(prefix)}&ttl=60`);
    expect(store).toBeInstanceOf(RedisApprovalStore);
    expect((store as RedisApprovalStore).prefix).toBe(prefix);
    expect((store as RedisApprovalStore).ttlSeconds).toBe(60);
    await store.close();
  });

  it.skipIf(!!unavailable)('opens redis:// URLs', async () => {
    const store = await openApprovalStore(URL, { prefix: freshPrefix() });
    expect(store.name).toBe('redis');
    const r = pendingRecord();
    await store.put(r);
    expect(await store.get(r.id)).toEqual(r);
    await store.close();
  });
});
