import { describe, expect, it } from 'vitest';
import type { HubRef, RemoteHubRef } from '../../extension/src/hub-connections.js';
import { FromWebview, ToWebview } from '../../extension/src/protocol.js';
import {
  argsPreview,
  hasDiff,
  remoteDiffRefusal,
  toDetail,
  toHubStatus,
  toSnapshotMessage,
  toSummary,
} from '../../extension/src/views.js';
import { record } from './helpers.js';

const hash = 'a'.repeat(64);
const hub: HubRef = {
  hubId: 'hub-1',
  name: 'hitloop proxy',
  cwd: '/work/project',
  pid: 42,
  url: 'http://127.0.0.1:1',
  remote: false,
};

describe('webview protocol: messages from the webview', () => {
  it('accepts each well-formed message', () => {
    const ok: unknown[] = [
      { type: 'ready' },
      { type: 'refresh' },
      { type: 'openDetail', ref: { hubId: 'h', id: 'i' }, focus: 'reject' },
      {
        type: 'decide',
        requestId: 'r1',
        items: [{ hubId: 'h', id: 'i', argsHash: hash }],
        approve: true,
        editedArgs: { path: 'x' },
        remember: 'workspace',
      },
      {
        type: 'decide',
        requestId: 'r2',
        items: [
          { hubId: 'h', id: 'i', argsHash: hash },
          { hubId: 'h', id: 'j', argsHash: hash },
        ],
        approve: false,
        reason: 'no',
      },
      { type: 'showDiff', ref: { hubId: 'h', id: 'i' }, editedArgs: { a: 1 } },
      { type: 'loadHistory' },
      { type: 'loadRules' },
      { type: 'revokeRule', requestId: 'r3', hubId: 'h', ruleId: 'rule' },
      { type: 'selection', items: [{ hubId: 'h', id: 'i' }] },
      { type: 'viewing' },
      { type: 'setScope', scope: 'all' },
      { type: 'runCommand', command: 'hitloop.routeWorkspaceServers' },
    ];
    for (const message of ok)
      expect(FromWebview.safeParse(message).success, JSON.stringify(message)).toBe(true);
  });

  it('refuses what the host must never act on', () => {
    const bad: unknown[] = [
      { type: 'nope' },
      'ready',
      null,
      // edited arguments apply to one approval, when approving
      {
        type: 'decide',
        requestId: 'r',
        items: [
          { hubId: 'h', id: 'i', argsHash: hash },
          { hubId: 'h', id: 'j', argsHash: hash },
        ],
        approve: true,
        editedArgs: {},
      },
      {
        type: 'decide',
        requestId: 'r',
        items: [{ hubId: 'h', id: 'i', argsHash: hash }],
        approve: false,
        editedArgs: {},
      },
      // a decision must name the hash of the arguments reviewed
      { type: 'decide', requestId: 'r', items: [{ hubId: 'h', id: 'i' }], approve: true },
      {
        type: 'decide',
        requestId: 'r',
        items: [{ hubId: 'h', id: 'i', argsHash: 'x' }],
        approve: true,
      },
      { type: 'decide', requestId: 'r', items: [], approve: true },
      {
        type: 'decide',
        requestId: 'r',
        items: [{ hubId: 'h', id: 'i', argsHash: hash }],
        approve: true,
        remember: 'forever',
      },
      {
        type: 'decide',
        requestId: 'r',
        items: [{ hubId: 'h', id: 'i', argsHash: hash }],
        approve: 'yes',
      },
      // only the empty state's commands can be run
      { type: 'runCommand', command: 'workbench.action.terminal.sendSequence' },
      // unknown keys are refused (strict)
      { type: 'ready', html: '<img>' },
      { type: 'openDetail', ref: { hubId: 'h', id: 'i', extra: 1 } },
      { type: 'setScope', scope: 'everything' },
      { type: 'openDetail', ref: { hubId: '', id: 'i' } },
    ];
    for (const message of bad)
      expect(FromWebview.safeParse(message).success, JSON.stringify(message)).toBe(false);
  });
});

describe('webview protocol: messages to the webview', () => {
  it('round-trips what the host builds from hub records', () => {
    const a = record({
      rationale: 'r'.repeat(1000),
      args: { path: 'x\u202Ey', content: '<img src=x>' },
    });
    const message = toSnapshotMessage(
      {
        pending: [{ hub, approval: a }],
        hubs: [{ ...hub, state: 'live', inScope: true, pendingCount: 1 }],
        hiddenByScope: 0,
        scope: 'workspace',
        home: '/home/me/.hitloop',
      },
      'none',
    );
    const parsed = ToWebview.parse(message);
    expect(parsed.type).toBe('snapshot');
    const summary = toSummary({ hub, approval: a });
    expect(summary.rationale.length).toBe(300);
    expect(summary.rationale.endsWith('…')).toBe(true);
    expect(summary.argsPreview).toContain('⟦U+202E RLO⟧');
    expect(summary.argsPreview).not.toContain('\u202E');
    expect(summary.diffAvailable).toBe(true);
    const detail = ToWebview.parse({ type: 'detail', item: toDetail({ hub, approval: a }, true) });
    expect(detail.type === 'detail' && detail.item.approval.args).toEqual(a.args);
  });

  it('refuses malformed messages', () => {
    expect(ToWebview.safeParse({ type: 'snapshot', pending: 'x' }).success).toBe(false);
    expect(ToWebview.safeParse({ type: 'detail', item: { approval: {} } }).success).toBe(false);
    expect(
      ToWebview.safeParse({ type: 'result', requestId: 'r', ok: 'yes', message: '' }).success,
    ).toBe(false);
    expect(ToWebview.safeParse({ type: 'eval', code: 'alert(1)' }).success).toBe(false);
  });

  it('cuts the one-line preview visibly, never silently', () => {
    const preview = argsPreview({ content: 'x'.repeat(1000) }, 50);
    expect(preview).toHaveLength(50);
    expect(preview.endsWith('…')).toBe(true);
    expect(argsPreview({ a: 1 })).toBe('{"a":1}');
  });
});

describe('webview protocol: remote hubs', () => {
  const team: RemoteHubRef = {
    hubId: 'remote:https://hub.example',
    name: 'team',
    url: 'https://hub.example',
    remote: true,
  };
  const status = { state: 'live' as const, inScope: true, pendingCount: 0 };

  it('describes a remote hub by its flag and URL, a local one by its directory and pid', () => {
    expect(toHubStatus({ ...team, ...status })).toEqual({
      hubId: team.hubId,
      name: 'team',
      remote: true,
      url: 'https://hub.example',
      ...status,
    });
    expect(toHubStatus({ ...hub, ...status })).toEqual({
      hubId: 'hub-1',
      name: 'hitloop proxy',
      remote: false,
      cwd: '/work/project',
      pid: 42,
      ...status,
    });
    const message = toSnapshotMessage(
      {
        pending: [],
        hubs: [
          { ...team, ...status },
          { ...hub, ...status },
        ],
        hiddenByScope: 0,
        scope: 'all',
        home: '/h',
      },
      'none',
    );
    expect(ToWebview.safeParse(message).success).toBe(true);
  });

  it('refuses hub statuses that mix the two kinds (the old pid 0 and URL-as-cwd encoding)', () => {
    const snapshotWith = (h: Record<string, unknown>) => ({
      type: 'snapshot',
      pending: [],
      hubs: [{ hubId: 'x', name: 'x', state: 'live', inScope: true, pendingCount: 0, ...h }],
      hiddenByScope: 0,
      scope: 'all',
      home: '/h',
      defaultRemember: 'none',
      now: new Date().toISOString(),
    });
    expect(ToWebview.safeParse(snapshotWith({ remote: true, url: 'https://h' })).success).toBe(
      true,
    );
    for (const bad of [
      { remote: true, url: 'https://h', cwd: 'https://h', pid: 0 },
      { remote: true },
      { remote: false, cwd: '/w' },
      { remote: false, cwd: '/w', pid: 0 },
      { cwd: '/w', pid: 3 },
    ])
      expect(ToWebview.safeParse(snapshotWith(bad)).success, JSON.stringify(bad)).toBe(false);
  });

  it('turns "Show diff" off for approvals that came through a remote hub', () => {
    const write = record({ cwd: '/work/project' });
    expect(hasDiff(hub, write)).toBe(true);
    expect(hasDiff(team, write)).toBe(false);
    // What the "Show diff" command says if invoked anyway.
    expect(remoteDiffRefusal(hub, write)).toBeUndefined();
    expect(remoteDiffRefusal(team, write)).toBe(
      'no diff for requests from the remote hub team (https://hub.example): write_file would change a file on another machine, which this editor cannot open',
    );
    expect(toSummary({ hub: team, approval: write }).diffAvailable).toBe(false);
    const detail = toDetail({ hub: team, approval: write }, true);
    expect(detail).toMatchObject({ hubRemote: true, diffAvailable: false, actionable: true });
    expect(detail).not.toHaveProperty('hubCwd');
    expect(ToWebview.safeParse({ type: 'detail', item: detail }).success).toBe(true);
    expect(toDetail({ hub, approval: write }, true)).toMatchObject({
      hubRemote: false,
      hubCwd: '/work/project',
      diffAvailable: true,
    });
  });
});
