import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  describeFailure,
  HubConnections,
  type HubRef,
  mergePending,
  type RemoteHubSource,
} from '../../extension/src/hub-connections.js';
import {
  isLoopbackHost,
  normalizeHubUrl,
  parseRemoteHubs,
  tokenKey,
  withoutRemoteHub,
  withRemoteHub,
} from '../../extension/src/remote-hubs.js';
import { ApprovalHub } from '../../shared/hub/approval-hub.js';
import { HubRequestError } from '../../shared/hub/hub-client.js';
import { MemoryApprovalStore } from '../../shared/stores/memory-store.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { record, until } from './helpers.js';

describe('hitloop.remoteHubs: reading the setting', () => {
  it('normalises URLs: lower-case host, no trailing slash, base path kept', () => {
    expect(normalizeHubUrl('https://Hub.Example:8700/')).toEqual({
      ok: true,
      url: 'https://hub.example:8700',
      insecure: false,
    });
    expect(normalizeHubUrl(' https://hub.example/hitloop/// ')).toMatchObject({
      url: 'https://hub.example/hitloop',
    });
    expect(normalizeHubUrl('https://hub.example:443')).toMatchObject({
      url: 'https://hub.example',
    });
  });

  it('allows plain http only on loopback, unless allowInsecure', () => {
    expect(normalizeHubUrl('http://127.0.0.1:8700')).toMatchObject({ ok: true, insecure: false });
    expect(normalizeHubUrl('http://localhost:8700')).toMatchObject({ ok: true });
    expect(normalizeHubUrl('http://[::1]:8700')).toMatchObject({ ok: true });
    const refused = normalizeHubUrl('http://hub.example:8700');
    expect(refused.ok).toBe(false);
    expect(!refused.ok && refused.message).toMatch(/allowInsecure/);
    expect(normalizeHubUrl('http://hub.example:8700', true)).toEqual({
      ok: true,
      url: 'http://hub.example:8700',
      insecure: true,
    });
    expect(normalizeHubUrl('http://127.0.0.1.evil.example', false).ok).toBe(false);
    expect(isLoopbackHost('127.1.2.3')).toBe(true);
    expect(isLoopbackHost('10.0.0.1')).toBe(false);
  });

  it('refuses other schemes, credentials in the URL, queries and fragments', () => {
    for (const bad of [
      'ftp://hub.example',
      'file:///etc/passwd',
      'https://alice:secret@hub.example',
      'https://hub.example/?token=x',
      'https://hub.example/#token=x',
      'hub.example:8700',
      'not a url',
    ])
      expect(normalizeHubUrl(bad).ok, bad).toBe(false);
  });

  it('skips invalid entries with a warning and keeps the rest', () => {
    const warnings: string[] = [];
    const hubs = parseRemoteHubs(
      [
        { url: 'https://hub.example:8700/', name: ' team ' },
        'https://other.example',
        { url: 'http://hub.example:9000' },
        { url: 'http://lab.example:9000', allowInsecure: true },
        { url: 'https://hub.example:8700' },
        { name: 'no url' },
        { url: 'https://x.example', name: 3 },
        { url: 'https://y.example', allowInsecure: 'yes' },
        42,
        null,
      ],
      (m) => warnings.push(m),
    );
    expect(hubs).toEqual([
      { url: 'https://hub.example:8700', name: 'team', insecure: false },
      { url: 'https://other.example', name: 'other.example', insecure: false },
      { url: 'http://lab.example:9000', name: 'lab.example:9000', insecure: true },
    ]);
    expect(warnings).toHaveLength(7);
    expect(warnings[0]).toMatch(/remoteHubs\[2\].*plain http/);
    expect(warnings[1]).toMatch(/remoteHubs\[4\].*listed twice/);
    expect(warnings.slice(2).every((w) => w.includes('ignored'))).toBe(true);
    expect(parseRemoteHubs(undefined)).toEqual([]);
    const notList: string[] = [];
    expect(parseRemoteHubs({ url: 'https://hub.example' }, (m) => notList.push(m))).toEqual([]);
    expect(notList).toHaveLength(1);
  });

  it('adds and removes entries by normalised URL, keeping what it cannot read', () => {
    const raw = [{ url: 'https://hub.example/' }, { note: 'hand-written' }];
    expect(withRemoteHub(raw, { url: 'https://hub.example', name: 'team' })).toEqual([
      { note: 'hand-written' },
      { url: 'https://hub.example', name: 'team' },
    ]);
    expect(withRemoteHub(undefined, { url: 'http://lab.example', allowInsecure: true })).toEqual([
      { url: 'http://lab.example', allowInsecure: true },
    ]);
    expect(withoutRemoteHub(raw, 'https://hub.example')).toEqual([{ note: 'hand-written' }]);
    expect(withoutRemoteHub(['HTTPS://HUB.EXAMPLE'], 'https://hub.example')).toEqual([]);
    expect(tokenKey('https://hub.example')).toBe('hitloop.remoteHub.token:https://hub.example');
  });
});

describe('local and remote hubs together', () => {
  const local: HubRef = {
    hubId: 'local-1',
    name: 'hitloop proxy',
    cwd: '/work/project',
    pid: 7,
    url: 'http://127.0.0.1:1',
    remote: false,
  };
  const remote: HubRef = {
    hubId: 'remote:https://hub.example',
    name: 'team',
    url: 'https://hub.example',
    remote: true,
  };

  it('shows remote requests whatever the workspace, and the owner’s copy of shared ones', () => {
    const mine = record({ hubId: 'local-1', cwd: '/work/project' });
    const elsewhereLocal = record({ hubId: 'local-1', cwd: '/other' });
    const teammate = record({ hubId: 'laptop-of-bob', cwd: '/home/bob/app' });
    // The local proxy also uses the team store: the central hub lists its request too.
    const merged = mergePending(
      [
        { hub: remote, pending: [mine, teammate] },
        { hub: local, pending: [mine, elsewhereLocal] },
      ],
      { scope: 'workspace', folders: ['/work/project'] },
    );
    expect(merged.pending.map((p) => [p.approval.id, p.hub.hubId])).toEqual([
      [teammate.id, remote.hubId],
      [mine.id, 'local-1'],
    ]);
    expect(merged.hiddenByScope).toBe(1);
  });

  it('words a refused token with the hub’s URL', () => {
    expect(
      describeFailure(new HubRequestError(401, 'unauthorized', 'bad'), 'https://hub.example'),
    ).toBe('token rejected by https://hub.example');
    expect(describeFailure(new Error('ECONNREFUSED'), 'https://hub.example')).toBe('ECONNREFUSED');
  });
});

describe('HubConnections with a remote hub (a real hub over HTTP)', () => {
  let home: string;
  let central: ApprovalHub;
  let localHub: ApprovalHub | undefined;
  let connections: HubConnections;
  let sources: RemoteHubSource[];
  const logs: string[] = [];

  // Proxies on other machines, alive as far as the team store can tell: they
  // heartbeat into it (the central hub expires requests of dead askers).
  async function otherMachine(store: MemoryApprovalStore, hubId: string): Promise<void> {
    const now = new Date().toISOString();
    await store.heartbeat({
      hubId,
      name: 'hitloop proxy',
      host: `${hubId}.example`,
      pid: 4242,
      startedAt: now,
      lastSeen: now,
    });
  }

  beforeEach(async () => {
    home = makeTempDir('hitloop-remote-');
    const store = new MemoryApprovalStore();
    await otherMachine(store, 'laptop-of-bob');
    await otherMachine(store, 'desktop-of-carol');
    central = new ApprovalHub({
      store,
      name: 'team hub',
      announce: false,
      home: makeTempDir('hitloop-central-'),
    });
    await central.start();
    logs.length = 0;
    sources = [];
  });

  afterEach(async () => {
    connections?.dispose();
    await central.stop().catch(() => undefined);
    await localHub?.stop().catch(() => undefined);
    localHub = undefined;
  });

  function connect(folders: string[] = ['/work/project']) {
    connections = new HubConnections({
      home: () => home,
      scope: () => 'workspace',
      workspaceFolders: () => folders,
      pollIntervalMs: 100,
      watch: false,
      backoff: () => 50,
      remoteHubs: () => sources,
      log: (m) => logs.push(m),
    });
    connections.start();
  }

  it('lists every process’s requests from the central hub, live, beside the local hubs, and decides', async () => {
    localHub = new ApprovalHub({ store: new MemoryApprovalStore(), home, name: 'local proxy' });
    await localHub.start();
    sources = [{ url: central.url, name: 'team', insecure: false, token: central.token }];
    const listed = record({ hubId: 'laptop-of-bob', cwd: '/home/bob/app' });
    await central.publish(listed);
    connect();
    const remoteId = `remote:${central.url}`;
    await until(
      () => connections.snapshot().hubs.filter((h) => h.state === 'live').length === 2,
      5000,
      'both hubs live',
    );
    const hubs = connections.snapshot().hubs;
    expect(hubs.find((h) => h.hubId === remoteId)).toMatchObject({
      name: 'team',
      url: central.url,
      remote: true,
      inScope: true,
    });
    expect(hubs.find((h) => h.hubId === remoteId)).not.toHaveProperty('cwd');
    expect(hubs.find((h) => h.hubId === remoteId)).not.toHaveProperty('pid');
    expect(hubs.find((h) => h.hubId === localHub!.hubId)?.name).toBe('local proxy');
    // Found by listing, outside the workspace: shown, since it came from the central hub.
    await until(() => connections.findPending(remoteId, listed.id), 5000, 'the listed request');

    const requested: string[] = [];
    connections.onDidRequest((item) => requested.push(item.approval.id));
    const live = record({ hubId: 'desktop-of-carol', cwd: '/srv/carol' });
    await central.publish(live);
    await until(() => requested.includes(live.id), 5000, 'the live request');
    const mine = record({ hubId: localHub.hubId, cwd: '/work/project/src' });
    await localHub.publish(mine);
    await until(
      () => connections.snapshot().pending.length === 3,
      5000,
      'three pending across both hubs',
    );
    expect(connections.snapshot().pending.map((p) => p.hub.hubId)).toEqual([
      localHub.hubId,
      remoteId,
      remoteId,
    ]);

    const waiting = central.waitFor(live.id);
    await connections.decide(remoteId, live.id, {
      approve: true,
      argsHash: live.argsHash,
      decidedBy: 'vscode:alice',
    });
    expect((await waiting).decision?.decidedBy).toBe('vscode:alice');
    expect(connections.findPending(remoteId, live.id)).toBeUndefined();
  });

  it('reports a rejected token as "token rejected by <url>", and reconnects with a new token', async () => {
    sources = [{ url: central.url, name: 'team', insecure: false, token: 'not-the-token' }];
    connect();
    const remoteId = `remote:${central.url}`;
    await until(
      () =>
        connections.snapshot().hubs.find((h) => h.hubId === remoteId)?.lastError ===
        `token rejected by ${central.url}`,
      5000,
      'the token error',
    );
    expect(connections.snapshot().hubs[0]?.state).toBe('retrying');
    sources = [{ ...sources[0]!, token: central.token }];
    connections.rescan();
    await until(
      () => connections.snapshot().hubs.find((h) => h.hubId === remoteId)?.state === 'live',
      5000,
      'live with the new token',
    );
    expect(connections.snapshot().hubs).toHaveLength(1);
  });

  it('skips a remote hub with no saved token (saying so once), and drops one removed from the settings', async () => {
    sources = [{ url: 'https://hub.example', name: 'team', insecure: false, token: undefined }];
    connect();
    connections.rescan();
    connections.rescan();
    expect(connections.snapshot().hubs).toEqual([]);
    expect(logs.filter((l) => l.includes('no token saved for the remote hub'))).toHaveLength(1);

    sources = [{ url: central.url, name: 'team', insecure: false, token: central.token }];
    connections.rescan();
    await until(() => connections.snapshot().hubs[0]?.state === 'live', 5000, 'live');
    sources = [];
    connections.rescan();
    expect(connections.snapshot().hubs).toEqual([]);
    expect(logs.some((l) => l.startsWith('disconnected from the remote hub'))).toBe(true);
  });
});
