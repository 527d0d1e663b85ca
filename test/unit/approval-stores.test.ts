import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openSqlite } from '../../shared/sqlite/open.js';
import { MemoryApprovalStore } from '../../shared/stores/memory-store.js';
import { SqliteApprovalStore } from '../../shared/stores/sqlite-store.js';
import { approvalStoreConformance, pendingRecord } from '../conformance/approval-store.spec.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const dir = makeTempDir('hitloop-store-');
let n = 0;

approvalStoreConformance('memory', {
  make: async () => new MemoryApprovalStore(),
  // One process: hubs share the store object itself.
  peer: async (store) => store,
});
const files = new WeakMap<object, string>();
approvalStoreConformance('sqlite', {
  make: async () => {
    const file = join(dir, `s${n++}.db`);
    const store = new SqliteApprovalStore(file);
    files.set(store, file);
    return store;
  },
  peer: async (store) => new SqliteApprovalStore(files.get(store)!),
});

describe('SqliteApprovalStore specifics', () => {
  it('creates its file readable only by the user', async () => {
    const file = join(dir, 'perm', 'approvals.db');
    const store = new SqliteApprovalStore(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'perm')).mode & 0o077).toBe(0);
    await store.close();
  });

  it('skips rows that do not parse, with a warning, instead of failing', async () => {
    const file = join(dir, 'corrupt.db');
    const warnings: string[] = [];
    const store = new SqliteApprovalStore(file, { onInvalid: (m) => warnings.push(m) });
    const good = pendingRecord();
    await store.put(good);
    const raw = openSqlite(file);
    raw
      .prepare(
        "INSERT INTO approvals (id, hub_id, status, server, tool, created_at, data) VALUES ('bad', 'h', 'pending', NULL, 't', '2030-01-01', '{not json')",
      )
      .run();
    raw.close();
    expect((await store.list()).map((r) => r.id)).toEqual([good.id]);
    expect(warnings.join()).toContain('bad');
    await store.close();
  });

  it('shares decisions between two connections (two processes) on one file', async () => {
    const file = join(dir, 'shared.db');
    const a = new SqliteApprovalStore(file);
    const b = new SqliteApprovalStore(file);
    const r = pendingRecord();
    await a.put(r);
    expect((await b.settle(r.id, { status: 'expired', statusReason: 'test' })).ok).toBe(true);
    expect((await a.settle(r.id, { status: 'approved' })).ok).toBe(false);
    expect((await a.get(r.id))?.status).toBe('expired');
    await a.close();
    await b.close();
  });

  it('opens a store file written by an earlier version and adds the new columns', async () => {
    const file = join(dir, 'old-layout.db');
    const raw = openSqlite(file);
    raw.exec(`CREATE TABLE approvals (id TEXT PRIMARY KEY, hub_id TEXT NOT NULL, status TEXT NOT NULL,
      server TEXT, tool TEXT NOT NULL, created_at TEXT NOT NULL, data TEXT NOT NULL)`);
    const old = pendingRecord();
    raw
      .prepare('INSERT INTO approvals VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(old.id, old.hubId, old.status, old.server, old.tool, old.createdAt, JSON.stringify(old));
    raw.close();
    const store = new SqliteApprovalStore(file);
    expect(await store.get(old.id)).toEqual(old);
    const threaded = pendingRecord({ threadId: 'T' });
    await store.put(threaded);
    expect((await store.listPending('T')).map((r) => r.id)).toEqual([threaded.id]);
    await store.close();
  });
});
