import { randomUUID } from 'node:crypto';
import { type AddressInfo, connect, createServer } from 'node:net';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { openApprovalStore, StoreOpenError } from '../../shared/stores/open-store.js';
import { PostgresApprovalStore } from '../../shared/stores/postgres-store.js';
import { approvalStoreConformance, pendingRecord } from '../conformance/approval-store.spec.js';

// A real server (trust auth in CI); override with HITLOOP_TEST_POSTGRES_URL.
const URL = process.env.HITLOOP_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

async function probe(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: URL, connectionTimeoutMillis: 2000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message || String(err) : String(err);
  } finally {
    await client.end().catch(() => {});
  }
}

const unavailable = await probe();
if (unavailable)
  process.stderr.write(
    `approval-stores-postgres: skipped, PostgreSQL not reachable at ${URL} (${unavailable})\n`,
  );

// Each store gets a schema of its own, dropped when the file is done.
const schemas = new Set<string>();
const schemaOf = new WeakMap<object, string>();
function freshSchema(): string {
  const schema = `hitloop_t_${randomUUID().replace(/-/g, '').slice(0, 16)}`;
  schemas.add(schema);
  return schema;
}
async function makeStore(
  options: { schema?: string; onInvalid?: (m: string) => void; reconnectDelayMs?: number } = {},
): Promise<PostgresApprovalStore> {
  const schema = options.schema ?? freshSchema();
  const store = PostgresApprovalStore.fromConnString(URL, { ...options, schema });
  await store.setup();
  schemaOf.set(store, schema);
  return store;
}

afterAll(async () => {
  if (unavailable || schemas.size === 0) return;
  const admin = new pg.Client({ connectionString: URL });
  await admin.connect();
  for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await admin.end();
});

describe.skipIf(!!unavailable)('PostgreSQL approval store', () => {
  approvalStoreConformance('postgres', {
    make: () => makeStore(),
    // Another process: its own pool over the same schema.
    peer: async (store) => makeStore({ schema: schemaOf.get(store)! }),
  });

  async function waitFor(predicate: () => boolean, ms = 5000): Promise<void> {
    const until = Date.now() + ms;
    while (!predicate()) {
      if (Date.now() > until) throw new Error('condition not met in time');
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  it('lets exactly one of 50 concurrent settlements win across two pools', async () => {
    const a = await makeStore();
    const b = await makeStore({ schema: a.schema });
    const r = pendingRecord();
    await a.put(r);
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        (i % 2 ? a : b).settle(r.id, {
          status: i % 3 ? 'approved' : 'rejected',
          statusReason: `#${i}`,
        }),
      ),
    );
    const winners = results.filter((x) => x.ok);
    expect(winners).toHaveLength(1);
    const losers = results.filter((x) => !x.ok);
    expect(losers.every((x) => !x.ok && x.reason === 'not_pending')).toBe(true);
    const stored = await b.get(r.id);
    expect(stored?.statusReason).toBe(winners[0]!.ok ? winners[0]!.record.statusReason : '');
    await a.close();
    await b.close();
  });

  it('keeps listening after its LISTEN connection is terminated', async () => {
    const warnings: string[] = [];
    const store = await makeStore({ onInvalid: (m) => warnings.push(m), reconnectDelayMs: 50 });
    const other = await makeStore({ schema: store.schema });
    const seen: string[] = [];
    const stop = store.watch((c) => {
      if (c.type !== 'rules') seen.push(c.id);
    });
    const admin = new pg.Client({ connectionString: URL });
    await admin.connect();
    const listenQuery = `LISTEN "${store.schema}_changes"`;
    const backends = async () =>
      (
        await admin.query<{ pid: number }>(
          'SELECT pid FROM pg_stat_activity WHERE query = $1 AND datname = current_database()',
          [listenQuery],
        )
      ).rows.map((r) => r.pid);
    const until = Date.now() + 5000;
    let pids = await backends();
    while (pids.length === 0 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 20));
      pids = await backends();
    }
    expect(pids).toHaveLength(1);
    await admin.query('SELECT pg_terminate_backend($1)', [pids[0]]);
    // A new backend listens, not the terminated one.
    let again: number[] = [];
    while (Date.now() < until + 5000) {
      again = await backends();
      if (again.length === 1 && again[0] !== pids[0]) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(again).toHaveLength(1);
    expect(again[0]).not.toBe(pids[0]);
    const r = pendingRecord();
    await other.put(r);
    await waitFor(() => seen.includes(r.id));
    expect(warnings.filter((w) => w.includes('lost the connection'))).toHaveLength(1);
    stop();
    // Nobody watches: no listening connection is held (closing it takes a moment).
    let left = await backends();
    for (let i = 0; i < 100 && left.length; i++) {
      await new Promise((r) => setTimeout(r, 20));
      left = await backends();
    }
    expect(left).toEqual([]);
    await admin.end();
    await other.close();
    await store.close();
  });

  it('survives a connection cut while it starts to LISTEN (no double release, no crash)', async () => {
    // A TCP relay to PostgreSQL that drops any connection sending LISTEN.
    const target = new globalThis.URL(URL);
    const relay = createServer((c) => {
      const s = connect(Number(target.port || 5432), target.hostname);
      c.on('data', (d) => {
        if (!d.includes('LISTEN')) return void s.write(d);
        c.destroy();
        s.destroy();
      });
      s.on('data', (d) => c.write(d));
      for (const x of [c, s]) x.on('error', () => {});
      c.on('close', () => s.destroy());
      s.on('close', () => c.destroy());
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', () => r()));
    const viaRelay = new globalThis.URL(URL);
    viaRelay.host = `127.0.0.1:${(relay.address() as AddressInfo).port}`;
    const schema = freshSchema();
    const warnings: string[] = [];
    const store = PostgresApprovalStore.fromConnString(viaRelay.toString(), {
      schema,
      onInvalid: (m) => warnings.push(m),
      reconnectDelayMs: 50,
    });
    const crashes: unknown[] = [];
    const onCrash = (err: unknown) => crashes.push(err);
    process.on('unhandledRejection', onCrash);
    try {
      await store.setup();
      const stop = store.watch(() => {});
      await new Promise((r) => setTimeout(r, 600));
      stop();
      expect(crashes).toEqual([]);
      expect(warnings.join('\n')).toContain('lost the connection that listens for changes');
      // The store still works for everything but listening.
      const r = pendingRecord();
      await store.put(r);
      expect((await store.get(r.id))?.id).toBe(r.id);
    } finally {
      process.off('unhandledRejection', onCrash);
      await store.close();
      relay.close();
    }
  });

  it('delivers its own changes to its own listeners, naming itself as the source', async () => {
    const store = await makeStore();
    const sources: string[] = [];
    const stop = store.watch((c) => sources.push(c.source));
    await new Promise((r) => setTimeout(r, 150));
    await store.addRule({
      id: randomUUID(),
      scope: 'always',
      effect: 'allow',
      tool: 't',
      createdAt: new Date().toISOString(),
      createdBy: 'x',
    });
    await waitFor(() => sources.length > 0);
    expect(sources).toEqual([store.instanceId]);
    stop();
    await store.close();
  });

  it('skips rows that do not parse, with a warning, instead of failing', async () => {
    const warnings: string[] = [];
    const store = await makeStore({ onInvalid: (m) => warnings.push(m) });
    const good = pendingRecord();
    await store.put(good);
    const admin = new pg.Client({ connectionString: URL });
    await admin.connect();
    await admin.query(
      `INSERT INTO "${store.schema}".approvals (id, hub_id, status, tool, created_at, data)
       VALUES ('bad', 'h', 'pending', 't', '2030-01-01', '{"id": 7}')`,
    );
    await admin.end();
    expect((await store.list()).map((r) => r.id)).toEqual([good.id]);
    expect(await store.get('bad')).toBeUndefined();
    expect(warnings.join()).toContain('bad');
    await store.close();
  });

  it('setup is idempotent and safe to run from several processes at once', async () => {
    const schema = freshSchema();
    const stores = Array.from({ length: 4 }, () =>
      PostgresApprovalStore.fromConnString(URL, { schema }),
    );
    await Promise.all(stores.map((s) => s.setup()));
    await stores[0]!.setup();
    const r = pendingRecord();
    await stores[1]!.put(r);
    expect(await stores[2]!.get(r.id)).toEqual(r);
    await Promise.all(stores.map((s) => s.close()));
  });

  it('leaves a pool it was given open', async () => {
    const pool = new pg.Pool({ connectionString: URL });
    const store = new PostgresApprovalStore(pool, { schema: freshSchema() });
    await store.setup();
    await store.close();
    expect((await pool.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one).toBe(1);
    await pool.end();
  });

  it('refuses text with a NUL character with a clear error (JSONB cannot hold it)', async () => {
    const store = await makeStore();
    const r = pendingRecord({ args: { content: 'a\u0000b' } });
    await expect(store.put(r)).rejects.toThrow(/cannot keep text containing the NUL character/);
    expect(await store.get(r.id)).toBeUndefined();
    await store.close();
  });

  it('rejects a schema name that would need quoting', () => {
    expect(() => PostgresApprovalStore.fromConnString(URL, { schema: 'a"; DROP' })).toThrow(
      /invalid PostgreSQL schema name/,
    );
  });

  it('openApprovalStore opens postgres:// and postgresql:// URLs, tables created', async () => {
    const schema = freshSchema();
    for (const url of [URL, URL.replace(/^postgres:/, 'postgresql:')]) {
      const store = await openApprovalStore(url, { schema });
      expect(store.name).toBe('postgres');
      const r = pendingRecord();
      await store.put(r);
      expect((await store.get(r.id))?.id).toBe(r.id);
      await store.close();
    }
  });

  it('openApprovalStore takes the schema from ?schema=', async () => {
    const schema = freshSchema();
    const store = await openApprovalStore(`${URL}?schema=${schema}`);
    expect(store).toBeInstanceOf(PostgresApprovalStore);
    expect((store as PostgresApprovalStore).schema).toBe(schema);
    await store.close();
  });

  it('openApprovalStore names the masked URL and the fix when nothing listens', async () => {
    const bad = 'postgres://alice:s3cret@127.0.0.1:1/test';
    const err = await openApprovalStore(bad).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreOpenError);
    const message = (err as Error).message;
    expect(message).toContain('postgres://alice:****@127.0.0.1:1/test');
    expect(message).not.toContain('s3cret');
    expect(message).toMatch(/is PostgreSQL running/);
    expect(message).toMatch(/ECONNREFUSED/);
  });

  it('openApprovalStore explains a missing database', async () => {
    const url = new globalThis.URL(URL);
    url.pathname = `/no_such_db_${randomUUID().slice(0, 8)}`;
    const err = await openApprovalStore(url.toString()).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/no such database.*create the database/);
  });
});
