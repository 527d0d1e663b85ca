import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decideAll } from '../../extension/src/actions.js';
import {
  type HubClientLike,
  HubConnections,
  type HubRef,
  hubPreference,
  mergePending,
} from '../../extension/src/hub-connections.js';
import { toSnapshotMessage } from '../../extension/src/views.js';
import { ApprovalHub } from '../../shared/hub/approval-hub.js';
import { HubClient } from '../../shared/hub/hub-client.js';
import { MemoryApprovalStore } from '../../shared/stores/memory-store.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { record, until } from './helpers.js';

// Team mode: several hubs on one approval store, each listing all of it.

const local: HubRef = {
  hubId: 'local-1',
  name: 'hitloop proxy',
  url: 'http://127.0.0.1:1',
  remote: false,
  cwd: '/work/project',
  pid: 7,
};
const other: HubRef = { ...local, hubId: 'local-2', pid: 8 };
const team: HubRef = {
  hubId: 'remote:https://hub.example',
  name: 'team',
  url: 'https://hub.example',
  remote: true,
};
const all = { scope: 'all' as const, folders: [] };

describe('one approval listed by several hubs', () => {
  it('prefers a live connection, then the hub that asked, then a team hub', () => {
    const a = record({ hubId: 'local-1' });
    expect(hubPreference(local, a, true)).toBe(6);
    expect(hubPreference(team, a, true)).toBe(5);
    expect(hubPreference(other, a, true)).toBe(4);
    expect(hubPreference(local, a, false)).toBe(2);
    expect(hubPreference(team, a, false)).toBe(1);
    expect(hubPreference(other, a, false)).toBe(0);
    // A remote hub never owns: its id is not a process's.
    expect(hubPreference(team, record({ hubId: team.hubId }), true)).toBe(5);

    const pick = (...sources: Parameters<typeof mergePending>[0]) =>
      mergePending(sources, all).pending.map((p) => p.hub.hubId);
    // The owner wins whichever order the hubs come in.
    expect(pick({ hub: team, pending: [a] }, { hub: local, pending: [a] })).toEqual(['local-1']);
    expect(pick({ hub: local, pending: [a] }, { hub: team, pending: [a] })).toEqual(['local-1']);
    // An owner that is reconnecting loses to a live hub on the same store.
    expect(
      pick({ hub: local, pending: [a], live: false }, { hub: team, pending: [a], live: true }),
    ).toEqual([team.hubId]);
    // Neither owns it: a live one, the team hub before another process's hub.
    const b = record({ hubId: 'laptop-of-bob' });
    expect(
      pick(
        { hub: other, pending: [b], live: false },
        { hub: local, pending: [b] },
        { hub: team, pending: [b] },
      ),
    ).toEqual([team.hubId]);
    expect(pick({ hub: team, pending: [b], live: false }, { hub: local, pending: [b] })).toEqual([
      'local-1',
    ]);
    // Equal standing: the first listed.
    expect(pick({ hub: other, pending: [b] }, { hub: local, pending: [b] })).toEqual(['local-2']);
  });

  it('counts each approval once: in the list, per hub, and in the snapshot', () => {
    const mine = record({ hubId: 'local-1', cwd: '/work/project' });
    const bobs = record({ hubId: 'laptop-of-bob', cwd: '/home/bob' });
    const elsewhere = record({ hubId: 'local-1', cwd: '/other' });
    const merged = mergePending(
      [
        { hub: team, pending: [mine, bobs, elsewhere] },
        { hub: local, pending: [mine, elsewhere] },
      ],
      { scope: 'workspace', folders: ['/work/project'] },
    );
    expect(merged.pending.map((p) => p.approval.id).sort()).toEqual([mine.id, bobs.id].sort());
    expect(merged.hiddenByScope).toBe(1);
    // Per hub: attributed once, hidden ones included (2 + 1 = 2 shown + 1 hidden).
    expect(Object.fromEntries(merged.perHub)).toEqual({ 'local-1': 2, [team.hubId]: 1 });
  });
});

/** A real HubClient that notes which hub each decision went through. */
function recording(client: HubClient, hubId: string, decisions: string[]): HubClientLike {
  return {
    listPending: () => client.listPending(),
    history: (limit) => client.history(limit),
    get: (id) => client.get(id),
    decide: (id, body) => {
      decisions.push(`${hubId} ${id}`);
      return client.decide(id, body);
    },
    rules: () => client.rules(),
    revokeRule: (id) => client.revokeRule(id),
    events: (onEvent, signal, onOpen) => client.events(onEvent, signal, onOpen),
  };
}

describe('a local hub and the team hub on one store (two real hubs)', () => {
  let home: string;
  let store: MemoryApprovalStore;
  let localHub: ApprovalHub;
  let central: ApprovalHub;
  let connections: HubConnections;
  let remoteId: string;
  const decisions: string[] = [];

  beforeEach(async () => {
    home = makeTempDir('hitloop-shared-');
    store = new MemoryApprovalStore();
    // A teammate's proxy, alive as far as the store can tell.
    const now = new Date().toISOString();
    await store.heartbeat({
      hubId: 'laptop-of-bob',
      name: 'hitloop proxy',
      host: 'bob.example',
      pid: 4242,
      startedAt: now,
      lastSeen: now,
    });
    // This machine's proxy (announced in `home`) and the team hub, one store object.
    localHub = new ApprovalHub({ store, home, name: 'local proxy' });
    central = new ApprovalHub({
      store,
      name: 'team hub',
      announce: false,
      relayStoreEvents: true,
      home: makeTempDir('hitloop-shared-central-'),
    });
    await localHub.start();
    await central.start();
    remoteId = `remote:${central.url}`;
    decisions.length = 0;
  });

  afterEach(async () => {
    connections?.dispose();
    await localHub.stop().catch(() => undefined);
    await central.stop().catch(() => undefined);
  });

  async function connect(): Promise<void> {
    connections = new HubConnections({
      home: () => home,
      scope: () => 'workspace',
      workspaceFolders: () => ['/work/project'],
      pollIntervalMs: 100,
      watch: false,
      backoff: () => 50,
      createClient: (h) => recording(new HubClient(h), h.hubId, decisions),
      createRemoteClient: (h) => recording(new HubClient(h), remoteId, decisions),
      remoteHubs: () => [{ url: central.url, name: 'team', insecure: false, token: central.token }],
    });
    connections.start();
    await until(
      () =>
        connections.snapshot().hubs.length === 2 &&
        connections.snapshot().hubs.every((h) => h.state === 'live'),
      5000,
      'both hubs live',
    );
  }

  it('lists a shared approval once, through its owner, with one count', async () => {
    const mine = record({ hubId: localHub.hubId, cwd: '/work/project' });
    const bobs = record({ hubId: 'laptop-of-bob', cwd: '/home/bob/app' });
    await localHub.publish(mine);
    await central.publish(bobs);
    // Both hubs list both records (one store): the team hub because it answers
    // for every process, the local hub though it keeps only its own.
    expect((await central.store.list({ status: ['pending'] })).length).toBe(2);
    await connect();
    await until(() => connections.snapshot().pending.length === 2, 5000, 'two pending');
    const snapshot = connections.snapshot();
    expect(snapshot.pending.map((p) => [p.approval.id, p.hub.hubId]).sort()).toEqual(
      [
        [mine.id, localHub.hubId],
        [bobs.id, remoteId],
      ].sort(),
    );
    expect(snapshot.hubs.map((h) => [h.hubId, h.pendingCount]).sort()).toEqual(
      [
        [localHub.hubId, 1],
        [remoteId, 1],
      ].sort(),
    );
    // Whichever hub a card or command names, it resolves to the same copy.
    expect(connections.findPending(remoteId, mine.id)?.hub.hubId).toBe(localHub.hubId);
    expect(connections.findPending(localHub.hubId, bobs.id)?.hub.hubId).toBe(remoteId);
    // Diff only for the approval asked on this machine.
    const message = toSnapshotMessage(snapshot, 'none');
    const diff = Object.fromEntries(message.pending.map((p) => [p.id, p.diffAvailable]));
    expect(diff).toEqual({ [mine.id]: true, [bobs.id]: false });
    expect(message.hubs.find((h) => h.hubId === remoteId)).toEqual({
      hubId: remoteId,
      name: 'team',
      remote: true,
      url: central.url,
      state: 'live',
      inScope: true,
      pendingCount: 1,
    });
  });

  it('removes a card when another hub than the one it was listed through says it was decided', async () => {
    const mine = record({ hubId: localHub.hubId, cwd: '/work/project' });
    const bobs = record({ hubId: 'laptop-of-bob', cwd: '/home/bob/app' });
    await localHub.publish(mine);
    await central.publish(bobs);
    await connect();
    await until(() => connections.snapshot().pending.length === 2, 5000, 'two pending');

    // A teammate approves `mine` on the team hub's page. The card was listed
    // through the local hub; which hubs stream the news depends on how they
    // watch the store (the scripted test in hub-connections.test.ts pins the
    // case where only the other hub does): the card goes either way.
    const done = await central.decide(mine.id, {
      approve: true,
      argsHash: mine.argsHash,
      decidedBy: 'hub-page:carol',
    });
    expect(done.ok).toBe(true);
    await until(
      () => !connections.snapshot().pending.some((p) => p.approval.id === mine.id),
      5000,
      'the card listed through the local hub to go',
    );
    expect(connections.snapshot().pending.map((p) => p.approval.id)).toEqual([bobs.id]);

    // And the other way: the local hub rejects Bob's (listed through the team hub).
    const rejected = await localHub.decide(bobs.id, {
      approve: false,
      argsHash: bobs.argsHash,
      reason: 'no',
      decidedBy: 'cli',
    });
    expect(rejected.ok).toBe(true);
    await until(() => connections.snapshot().pending.length === 0, 5000, 'the list to empty');
    expect(connections.snapshot().hubs.map((h) => h.pendingCount)).toEqual([0, 0]);

    // History: each decision once, through the hub that asked, else the team hub.
    const history = await connections.history();
    expect(history.map((h) => [h.approval.id, h.hub.hubId, h.approval.status]).sort()).toEqual(
      [
        [mine.id, localHub.hubId, 'approved'],
        [bobs.id, remoteId, 'rejected'],
      ].sort(),
    );
  });

  it('decides through the hub the list shows, whichever hub the caller named; the first decision wins', async () => {
    const mine = record({ hubId: localHub.hubId, cwd: '/work/project' });
    const bobs = record({ hubId: 'laptop-of-bob', cwd: '/home/bob/app' });
    await localHub.publish(mine);
    await central.publish(bobs);
    await connect();
    await until(() => connections.snapshot().pending.length === 2, 5000, 'two pending');

    const waiting = localHub.waitFor(mine.id);
    const outcome = await decideAll(
      connections,
      [
        // Named through the "wrong" hub: a stale card, a command argument.
        { hubId: remoteId, id: mine.id, argsHash: mine.argsHash },
        { hubId: localHub.hubId, id: bobs.id, argsHash: bobs.argsHash },
      ],
      { approve: true },
    );
    expect(outcome.failures).toEqual([]);
    expect(decisions.sort()).toEqual([`${localHub.hubId} ${mine.id}`, `${remoteId} ${bobs.id}`]);
    expect((await waiting).status).toBe('approved');
    expect((await store.get(bobs.id))?.status).toBe('approved');
    expect(connections.snapshot().pending).toEqual([]);

    // A second decision through the other hub loses: the store has the first.
    const late = await central.decide(mine.id, {
      approve: false,
      argsHash: mine.argsHash,
      decidedBy: 'hub-page:carol',
    });
    expect(late).toMatchObject({ ok: false, status: 409, code: 'already_decided' });
    expect((await store.get(mine.id))?.status).toBe('approved');
  });
});
