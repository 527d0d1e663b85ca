import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decideAll } from '../../extension/src/actions.js';
import {
  backoffDelay,
  type HubClientLike,
  HubConnections,
  type HubRef,
  mergePending,
} from '../../extension/src/hub-connections.js';
import { inWorkspace, isInside, isLoopbackUrl } from '../../extension/src/workspace-filter.js';
import { ApprovalHub } from '../../shared/hub/approval-hub.js';
import type { ApprovalRecord, DiscoveryFile, HubEvent } from '../../shared/hub/protocol.js';
import { MemoryApprovalStore } from '../../shared/stores/memory-store.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { record, until } from './helpers.js';

const hubRef = (hubId: string, cwd = '/work/project'): HubRef => ({
  hubId,
  name: `hub ${hubId}`,
  cwd,
  pid: 1,
  url: 'http://127.0.0.1:1',
  remote: false,
});

describe('workspace filtering', () => {
  it('matches a folder and what lies inside it, not a sibling with the same prefix', () => {
    expect(isInside('/work/app', '/work/app')).toBe(true);
    expect(isInside('/work/app/src/x', '/work/app/')).toBe(true);
    expect(isInside('/work/application', '/work/app')).toBe(false);
    expect(isInside('/work', '/work/app')).toBe(false);
    expect(isInside('C:\\Work\\App\\src', 'c:\\work\\app', 'win32')).toBe(
      process.platform === 'win32',
    );
    expect(isInside('/Work/App', '/work/app', 'darwin')).toBe(true);
    expect(isInside('/Work/App', '/work/app', 'linux')).toBe(false);
  });

  it('shows requests whose workspace cannot be known', () => {
    expect(inWorkspace(undefined, ['/work/app'])).toBe(true);
    expect(inWorkspace('/elsewhere', [])).toBe(true);
    expect(inWorkspace('/elsewhere', ['/work/app', '/work/lib'])).toBe(false);
    expect(inWorkspace('/work/lib/pkg', ['/work/app', '/work/lib'])).toBe(true);
  });

  it('connects only to loopback addresses', () => {
    expect(isLoopbackUrl('http://127.0.0.1:4000')).toBe(true);
    expect(isLoopbackUrl('http://127.8.9.10:4000')).toBe(true);
    expect(isLoopbackUrl('http://localhost:4000')).toBe(true);
    expect(isLoopbackUrl('http://[::1]:4000')).toBe(true);
    expect(isLoopbackUrl('http://10.0.0.1:4000')).toBe(false);
    expect(isLoopbackUrl('http://127.0.0.1.evil.example')).toBe(false);
    expect(isLoopbackUrl('file:///etc/passwd')).toBe(false);
    expect(isLoopbackUrl('not a url')).toBe(false);
  });
});

describe('mergePending', () => {
  it('merges hubs newest first, each approval once, the owning hub winning', () => {
    const a = hubRef('a');
    const b = hubRef('b');
    const older = record({ hubId: 'a', createdAt: '2026-01-01T00:00:00.000Z' });
    const newer = record({ hubId: 'b', createdAt: '2026-01-01T00:05:00.000Z' });
    // Hubs sharing one store list each other's records; only the owner can answer.
    const merged = mergePending(
      [
        { hub: b, pending: [older, newer] },
        { hub: a, pending: [older] },
      ],
      { scope: 'all', folders: [] },
    );
    expect(merged.pending.map((p) => [p.approval.id, p.hub.hubId])).toEqual([
      [newer.id, 'b'],
      [older.id, 'a'],
    ]);
  });

  it('filters to the workspace by the request cwd, else the hub cwd, and counts the rest', () => {
    const inside = record({ hubId: 'a', cwd: '/work/project/pkg' });
    const outside = record({ hubId: 'a', cwd: '/other' });
    const noCwd = record({ hubId: 'b', cwd: undefined });
    const merged = mergePending(
      [
        { hub: hubRef('a'), pending: [inside, outside] },
        { hub: hubRef('b', '/other'), pending: [noCwd] },
      ],
      { scope: 'workspace', folders: ['/work/project'] },
    );
    expect(merged.pending.map((p) => p.approval.id)).toEqual([inside.id]);
    expect(merged.hiddenByScope).toBe(2);
    const all = mergePending([{ hub: hubRef('a'), pending: [inside, outside] }], {
      scope: 'all',
      folders: ['/work/project'],
    });
    expect(all.pending).toHaveLength(2);
  });

  it('drops anything not pending', () => {
    const done = record({ hubId: 'a', status: 'approved' });
    expect(
      mergePending([{ hub: hubRef('a'), pending: [done] }], { scope: 'all', folders: [] }).pending,
    ).toEqual([]);
  });
});

describe('backoffDelay', () => {
  it('doubles from 500 ms to a 30 s ceiling, with jitter', () => {
    expect(backoffDelay(0, () => 0.5)).toBe(500);
    expect(backoffDelay(1, () => 0.5)).toBe(1000);
    expect(backoffDelay(5, () => 0.5)).toBe(16_000);
    expect(backoffDelay(6, () => 0.5)).toBe(30_000);
    expect(backoffDelay(100, () => 0.5)).toBe(30_000);
    expect(backoffDelay(0, () => 0)).toBe(400);
    expect(backoffDelay(0, () => 1)).toBe(600);
  });
});

describe('HubConnections against real hubs', () => {
  let home: string;
  let hubs: ApprovalHub[];
  let connections: HubConnections;
  const logs: string[] = [];

  async function startHub(name: string): Promise<ApprovalHub> {
    const hub = new ApprovalHub({ store: new MemoryApprovalStore(), home, name });
    await hub.start();
    hubs.push(hub);
    return hub;
  }

  beforeEach(() => {
    home = makeTempDir('hitloop-ext-');
    hubs = [];
    logs.length = 0;
  });

  afterEach(async () => {
    connections?.dispose();
    for (const hub of hubs) await hub.stop().catch(() => undefined);
  });

  function connect(
    options: { scope?: 'all' | 'workspace'; folders?: string[]; poll?: number } = {},
  ) {
    connections = new HubConnections({
      home: () => home,
      scope: () => options.scope ?? 'all',
      workspaceFolders: () => options.folders ?? [],
      pollIntervalMs: options.poll ?? 100,
      backoff: () => 20,
      log: (m) => logs.push(m),
    });
    connections.start();
    return connections;
  }

  const live = () => connections.snapshot().hubs.filter((h) => h.state === 'live').length;

  it('finds every hub, lists what is pending, and follows new requests and decisions', async () => {
    const one = await startHub('one');
    const two = await startHub('two');
    const early = record({ hubId: one.hubId });
    await one.publish(early);
    connect();
    await until(() => live() === 2, 5000, 'two live hubs');
    expect(connections.snapshot().pending.map((p) => p.approval.id)).toEqual([early.id]);

    const requested: string[] = [];
    connections.onDidRequest((item) => requested.push(item.approval.id));
    const later = record({
      hubId: two.hubId,
      createdAt: new Date(Date.now() + 1000).toISOString(),
    });
    await two.publish(later);
    await until(() => connections.snapshot().pending.length === 2, 5000, 'the new request');
    expect(connections.snapshot().pending[0]!.approval.id).toBe(later.id);
    expect(connections.snapshot().pending[0]!.hub.name).toBe('two');
    expect(requested).toEqual([later.id]);

    // Decided elsewhere (the CLI): the SSE event removes it.
    await one.decide(early.id, { approve: false, argsHash: early.argsHash, reason: 'no' });
    await until(() => connections.snapshot().pending.length === 1, 5000, 'the decision event');

    // Decided here: through the hub that asked, bound to the arguments' hash.
    const outcome = await decideAll(
      connections,
      [{ hubId: two.hubId, id: later.id, argsHash: later.argsHash }],
      {
        approve: true,
      },
    );
    expect(outcome.failures).toEqual([]);
    expect(connections.snapshot().pending).toEqual([]);
    const stored = await two.store.get(later.id);
    expect(stored?.status).toBe('approved');
    expect(stored?.decision?.decidedBy).toMatch(/^vscode:/);
  });

  it("reports the hub's refusals: already decided (409), changed arguments, invalid edits (422)", async () => {
    const hub = await startHub('one');
    const a = record({ hubId: hub.hubId });
    const b = record({ hubId: hub.hubId });
    await hub.publish(a);
    await hub.publish(b, (args) =>
      typeof args.path === 'string' ? [] : ['path: expected a string'],
    );
    connect();
    await until(() => connections.snapshot().pending.length === 2, 5000, 'two pending');
    const stale = await decideAll(
      connections,
      [{ hubId: hub.hubId, id: a.id, argsHash: 'f'.repeat(64) }],
      {
        approve: true,
      },
    );
    expect(stale.failures[0]?.code).toBe('args_changed');
    const invalid = await decideAll(
      connections,
      [{ hubId: hub.hubId, id: b.id, argsHash: b.argsHash }],
      {
        approve: true,
        editedArgs: { path: 3 },
      },
    );
    expect(invalid.failures[0]?.code).toBe('invalid_args');
    expect(invalid.failures[0]?.details).toEqual(['path: expected a string']);
    await hub.decide(a.id, { approve: true, argsHash: a.argsHash });
    const late = await decideAll(
      connections,
      [{ hubId: hub.hubId, id: a.id, argsHash: a.argsHash }],
      {
        approve: false,
      },
    );
    expect(late.failures[0]?.code).toBe('already_decided');
  });

  it('drops a hub that stops, and picks up one that starts (the discovery folder is watched)', async () => {
    const one = await startHub('one');
    await one.publish(record({ hubId: one.hubId }));
    connect({ poll: 60_000 }); // only fs.watch can notice in time
    await until(() => connections.snapshot().pending.length === 1, 5000, 'the first hub');
    await one.stop();
    await until(() => connections.snapshot().hubs.length === 0, 5000, 'the hub to go');
    expect(connections.snapshot().pending).toEqual([]);
    const two = await startHub('two');
    await until(() => live() === 1, 5000, 'the restarted hub');
    expect(connections.snapshot().hubs[0]!.hubId).toBe(two.hubId);
  });

  it('filters to the workspace folders and counts what it hides', async () => {
    const hub = await startHub('one');
    await hub.publish(record({ hubId: hub.hubId, cwd: '/work/project' }));
    await hub.publish(record({ hubId: hub.hubId, cwd: '/somewhere/else' }));
    connect({ scope: 'workspace', folders: ['/work/project'] });
    await until(() => connections.snapshot().hiddenByScope === 1, 5000, 'the filtered list');
    expect(connections.snapshot().pending).toHaveLength(1);
  });

  it('merges history and rules across hubs', async () => {
    const hub = await startHub('one');
    const a = record({ hubId: hub.hubId });
    await hub.publish(a);
    connect();
    await until(() => connections.snapshot().pending.length === 1, 5000, 'pending');
    await decideAll(connections, [{ hubId: hub.hubId, id: a.id, argsHash: a.argsHash }], {
      approve: true,
      remember: 'always',
    });
    const history = await connections.history();
    expect(history.map((h) => [h.approval.id, h.approval.status])).toEqual([[a.id, 'approved']]);
    const rules = await connections.rules();
    expect(rules).toHaveLength(1);
    expect(rules[0]!.rule).toMatchObject({ tool: 'write_file', effect: 'allow', scope: 'always' });
    await connections.revokeRule(rules[0]!.hub.hubId, rules[0]!.rule.id);
    expect(await connections.rules()).toEqual([]);
  });

  it('ignores a discovery file that points away from this machine', async () => {
    const file: DiscoveryFile = {
      apiVersion: 1,
      hubId: 'foreign',
      name: 'x',
      pid: process.pid,
      url: 'http://192.0.2.1:9',
      token: 't'.repeat(32),
      cwd: '/',
      startedAt: new Date().toISOString(),
    };
    connect();
    writeFileSync(join(home, 'hubs', 'foreign.json'), JSON.stringify(file), { mode: 0o600 });
    connections.rescan();
    expect(connections.snapshot().hubs).toEqual([]);
    expect(logs.join('\n')).toContain('not on this machine');
  });
});

/** A scripted hub client: each connection's list and event stream, and when it drops. */
class ScriptedClient implements HubClientLike {
  lists = 0;
  streams = 0;
  pending: ApprovalRecord[] = [];
  /** Events sent right after a stream opens, before the list returns. */
  duringList: HubEvent[] = [];
  private emit: ((e: HubEvent) => void) | undefined;
  private drop: (() => void) | undefined;
  failNext = 0;

  async listPending() {
    this.lists++;
    const snapshot = [...this.pending];
    for (const event of this.duringList.splice(0)) this.emit?.(event);
    return snapshot;
  }
  async history() {
    return [];
  }
  async get(id: string) {
    const found = this.pending.find((p) => p.id === id);
    if (!found) throw new Error('not found');
    return found;
  }
  async decide(): Promise<ApprovalRecord> {
    throw new Error('not used');
  }
  async rules() {
    return [];
  }
  async revokeRule() {}
  async events(onEvent: (e: HubEvent) => void, signal?: AbortSignal, onOpen?: () => void) {
    this.streams++;
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('connect ECONNREFUSED');
    }
    this.emit = onEvent;
    onOpen?.();
    await new Promise<void>((resolve) => {
      this.drop = resolve;
      signal?.addEventListener('abort', () => resolve());
    });
  }
  send(event: HubEvent) {
    this.emit?.(event);
  }
  /** The hub restarts its stream (or the network blips). */
  dropStream() {
    this.drop?.();
  }
}

describe('HubConnections reconnecting', () => {
  const hubFile: DiscoveryFile = {
    apiVersion: 1,
    hubId: 'h1',
    name: 'scripted',
    pid: process.pid,
    url: 'http://127.0.0.1:9',
    token: 't'.repeat(32),
    cwd: '/work/project',
    startedAt: '2026-01-01T00:00:00Z',
  };
  let connections: HubConnections;
  afterEach(() => connections.dispose());

  function start(client: ScriptedClient, backoffs: number[] = []) {
    connections = new HubConnections({
      home: () => '/nonexistent',
      scope: () => 'all',
      watch: false,
      pollIntervalMs: 60_000,
      discover: () => [hubFile],
      createClient: () => client,
      backoff: (attempt) => {
        backoffs.push(attempt);
        return 10;
      },
    });
    connections.start();
  }

  it('re-lists after the stream drops, so what changed meanwhile is right', async () => {
    const client = new ScriptedClient();
    const first = record({ hubId: 'h1' });
    client.pending = [first];
    start(client);
    await until(() => connections.snapshot().pending.length === 1, 2000, 'first list');
    // While disconnected, the first was decided and another arrived.
    const second = record({ hubId: 'h1' });
    client.pending = [second];
    client.dropStream();
    await until(
      () => client.lists === 2 && connections.snapshot().hubs[0]?.state === 'live',
      2000,
      're-list',
    );
    expect(connections.snapshot().pending.map((p) => p.approval.id)).toEqual([second.id]);
  });

  it('backs off while the hub cannot be reached, then resets', async () => {
    const client = new ScriptedClient();
    client.failNext = 3;
    const backoffs: number[] = [];
    start(client, backoffs);
    await until(
      () => connections.snapshot().hubs[0]?.state === 'live',
      2000,
      'live after failures',
    );
    expect(backoffs).toEqual([0, 1, 2]);
    expect(client.streams).toBe(4);
    client.failNext = 1;
    client.dropStream();
    await until(() => client.streams === 6, 2000, 'reconnect after a drop');
    // the drop itself and the refused attempt: the count starts again from 0
    expect(backoffs.slice(3)).toEqual([0, 1]);
  });

  it('replays events that arrive while listing over the list', async () => {
    const client = new ScriptedClient();
    const a = record({ hubId: 'h1' });
    const b = record({ hubId: 'h1' });
    client.pending = [a];
    // The list was taken before these happened, but they arrive before it returns.
    client.duringList = [
      { type: 'decided', approval: { ...a, status: 'approved' } },
      { type: 'requested', approval: b },
    ];
    start(client);
    await until(() => connections.snapshot().hubs[0]?.state === 'live', 2000, 'live');
    expect(connections.snapshot().pending.map((p) => p.approval.id)).toEqual([b.id]);
  });

  it('ignores records another hub owns, and notifies only for announced requests', async () => {
    const client = new ScriptedClient();
    client.pending = [record({ hubId: 'someone-else' }), record({ hubId: 'h1' })];
    start(client);
    const notified: string[] = [];
    connections.onDidRequest((i) => notified.push(i.approval.id));
    await until(() => connections.snapshot().hubs[0]?.state === 'live', 2000, 'live');
    expect(connections.snapshot().pending).toHaveLength(1);
    expect(notified).toEqual([]);
    const fresh = record({ hubId: 'h1' });
    client.send({ type: 'requested', approval: fresh });
    client.send({ type: 'requested', approval: fresh }); // a duplicate is not news
    expect(notified).toEqual([fresh.id]);
    client.send({ type: 'expired', id: fresh.id, reason: 'timeout' });
    expect(connections.snapshot().pending).toHaveLength(1);
  });

  it('with a team hub on the same store: one notification per approval, settled by either stream', async () => {
    const local = new ScriptedClient();
    const team = new ScriptedClient();
    connections = new HubConnections({
      home: () => '/nonexistent',
      scope: () => 'all',
      watch: false,
      pollIntervalMs: 60_000,
      discover: () => [hubFile],
      createClient: () => local,
      remoteHubs: () => [
        { url: 'https://hub.example', name: 'team', insecure: false, token: 'secret' },
      ],
      createRemoteClient: () => team,
      backoff: () => 10,
    });
    connections.start();
    const notified: string[] = [];
    connections.onDidRequest((i) => notified.push(`${i.hub.hubId} ${i.approval.id}`));
    await until(
      () => connections.snapshot().hubs.every((h) => h.state === 'live'),
      2000,
      'both live',
    );
    // The team hub relays the request first; then the process's own hub announces it.
    const a = record({ hubId: 'h1' });
    team.send({ type: 'requested', approval: a });
    local.send({ type: 'requested', approval: a });
    expect(notified).toEqual([`remote:https://hub.example ${a.id}`]);
    expect(connections.snapshot().pending.map((p) => p.hub.hubId)).toEqual(['h1']);
    expect(connections.snapshot().hubs.map((h) => h.pendingCount)).toEqual([1, 0]);
    // The other order: the owner announces, the team hub's relay is not news.
    const b = record({ hubId: 'h1' });
    local.send({ type: 'requested', approval: b });
    team.send({ type: 'requested', approval: b });
    expect(notified).toEqual([`remote:https://hub.example ${a.id}`, `h1 ${b.id}`]);

    // Decided, as only the team hub says: gone, though listed through the local hub.
    team.send({ type: 'decided', approval: { ...a, status: 'approved' } });
    expect(connections.snapshot().pending.map((p) => p.approval.id)).toEqual([b.id]);
    // Expired, as only the local hub says: gone from the team hub's list too.
    local.send({ type: 'expired', id: b.id, reason: 'timeout' });
    expect(connections.snapshot().pending).toEqual([]);
    expect(connections.snapshot().hubs.map((h) => h.pendingCount)).toEqual([0, 0]);
    // A hub that lists late (a stale list after a reconnect) does not bring them back.
    team.pending = [a, b];
    team.dropStream();
    await until(() => team.lists === 2, 2000, 'the team hub to list again');
    await until(() => connections.snapshot().hubs[1]?.state === 'live', 2000, 'live again');
    expect(connections.snapshot().pending).toEqual([]);
  });

  it('reconnects at once on refresh', async () => {
    const client = new ScriptedClient();
    start(client);
    await until(
      () => client.streams === 1 && connections.snapshot().hubs[0]?.state === 'live',
      2000,
      'live',
    );
    connections.refresh();
    await until(() => client.streams === 2 && client.lists === 2, 2000, 'refresh');
  });
});
