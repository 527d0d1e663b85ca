// @vitest-environment happy-dom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { RemoteHubRef } from '../../extension/src/hub-connections.js';
import type { FromWebview, ToWebview } from '../../extension/src/protocol.js';
import { toDetail, toSummary } from '../../extension/src/views.js';
import {
  ApprovalsApp,
  checkJsonObject,
  formatAge,
  formatCountdown,
} from '../../extension/webview/app.js';
import { JsonPager, jsonTokens, utf8Length } from '../../extension/webview/json-view.js';
import type { ApprovalRecord } from '../../shared/hub/protocol.js';
import { localHub, record, snapshotMessage } from './helpers.js';

const hub = localHub;
const NOW = Date.parse('2026-01-01T00:10:00.000Z');

let root: HTMLElement;
let sent: FromWebview[];
let app: ApprovalsApp;

const $ = (testid: string, within: ParentNode = root) =>
  within.querySelector<HTMLElement>(`[data-testid="${testid}"]`);
const $$ = (testid: string, within: ParentNode = root) => [
  ...within.querySelectorAll<HTMLElement>(`[data-testid="${testid}"]`),
];
const last = <T extends FromWebview['type']>(type: T) =>
  sent.filter((m): m is Extract<FromWebview, { type: T }> => m.type === type).at(-1);

function snapshot(
  pending: ApprovalRecord[],
  extra: Partial<Extract<ToWebview, { type: 'snapshot' }>> = {},
) {
  app.receive(snapshotMessage(hub, pending, new Date(NOW), extra));
}

function detail(approval: ApprovalRecord, actionable = true) {
  app.receive({ type: 'detail', item: toDetail({ hub, approval }, actionable) });
}

function answer(ok: boolean, message: string, details?: string[]) {
  const request = sent.filter((m) => 'requestId' in m).at(-1) as { requestId: string };
  app.receive({
    type: 'result',
    requestId: request.requestId,
    ok,
    message,
    ...(details ? { details } : {}),
  });
}

const key = (el: Element, k: string) =>
  el.dispatchEvent(new KeyboardEvent('keydown', { key: k, bubbles: true, cancelable: true }));

const flush = () => new Promise((r) => setTimeout(r, 0));

beforeEach(() => {
  document.body.innerHTML = '<main id="app"></main>';
  root = document.getElementById('app')!;
  sent = [];
  app = new ApprovalsApp(root, { postMessage: (m) => sent.push(m) }, { now: () => NOW });
});
afterEach(() => app.dispose());

describe('the Approvals webview', () => {
  it('says ready, then shows a helpful empty state when no proxy runs', () => {
    expect(sent[0]).toEqual({ type: 'ready' });
    snapshot([], { hubs: [] });
    const empty = $('empty-state')!;
    expect(empty.textContent).toContain('No hitloop proxy is running');
    expect(empty.textContent).toContain('hitloop proxy --http');
    expect(empty.textContent).toContain('/home/me/.hitloop/hubs');
    $('refresh-button', empty)!.click();
    expect(last('refresh')).toEqual({ type: 'refresh' });
    $('route-servers', empty)!.click();
    expect(last('runCommand')).toEqual({
      type: 'runCommand',
      command: 'hitloop.routeWorkspaceServers',
    });
    $('open-walkthrough', empty)!.click();
    expect(last('runCommand')).toEqual({ type: 'runCommand', command: 'hitloop.openWalkthrough' });
  });

  it('says when other workspaces have requests, and offers to show them', () => {
    snapshot([], { hiddenByScope: 3 });
    expect($('empty-state')!.textContent).toContain('Nothing waits for approval');
    expect($('hidden-by-scope')!.textContent).toContain('3 requests from other workspaces');
    $('show-all-workspaces')!.click();
    expect(last('setScope')).toEqual({ type: 'setScope', scope: 'all' });
  });

  it('lists pending requests in the order given (newest first) with risk, reason, age and countdown', () => {
    const newer = record({
      riskClass: 'high',
      policyReason: 'writes outside the sandbox',
      rationale: 'the user asked for a summary file',
      createdAt: new Date(NOW - 90_000).toISOString(),
      expiresAt: new Date(NOW + 125_000).toISOString(),
    });
    const older = record({
      tool: 'edit_file',
      createdAt: new Date(NOW - 3 * 3600_000).toISOString(),
    });
    snapshot([newer, older]);
    const items = $$('approval-item');
    expect(items.map((i) => i.dataset.approvalId)).toEqual([newer.id, older.id]);
    expect($('risk-badge', items[0])!.textContent).toBe('high');
    expect(items[0]!.textContent).toContain('writes outside the sandbox');
    expect(items[0]!.textContent).toContain('the user asked for a summary file');
    expect(items[0]!.textContent).toContain('1m ago');
    expect($('countdown', items[0])!.textContent).toBe('times out in 2:05');
    expect(items[1]!.textContent).toContain('3h ago');
    expect($('tab-pending')!.textContent).toContain('2');
  });

  it('renders hostile arguments as inert, visible text', () => {
    const alert = vi.fn();
    (window as unknown as { alert: unknown }).alert = alert;
    const hostile = record({
      tool: '<img src=x onerror=alert(1)>',
      server: '</script><script>alert(2)</script>',
      policyReason: '<b onmouseover=alert(3)>bold</b>',
      rationale: 'see \u202Egnp.exe',
      toolDescription: '<iframe src="javascript:alert(4)">',
      args: {
        path: '/tmp/\u202Etxt.exe',
        content: '<img src=x onerror=alert(1)></script><script>alert(5)</script>',
        '<svg onload=alert(6)>': 'key\u200Bwith zero width',
      },
    });
    snapshot([hostile]);
    detail(hostile);
    const all = root.textContent ?? '';
    for (const tag of ['img', 'script', 'iframe', 'svg', 'b'])
      expect(root.querySelectorAll(tag)).toHaveLength(0);
    for (const el of root.querySelectorAll('*'))
      for (const attr of el.getAttributeNames())
        expect(attr.startsWith('on'), `${el.tagName} ${attr}`).toBe(false);
    expect(all).toContain('<img src=x onerror=alert(1)>');
    expect(all).toContain('</script><script>alert(2)</script>');
    const args = $('args-view')!.textContent ?? '';
    expect(args).toContain('<img src=x onerror=alert(1)></script><script>alert(5)</script>');
    expect(args).toContain('⟦U+202E RLO⟧');
    expect(args).toContain('⟦U+200B ZWSP⟧');
    // No raw bidi or zero-width character reaches the page where arguments are shown.
    expect(args).not.toMatch(/[\u202E\u200B]/);
    expect($('item-preview')!.textContent).not.toMatch(/[\u202E\u200B]/);
    // Nor anywhere else: the rationale's override is shown as a marker too.
    expect(all).not.toMatch(/[\u202E\u200B]/);
    expect(all).toContain('see ⟦U+202E RLO⟧gnp.exe');
    expect($('hidden-warning')!.textContent).toContain('U+202E RLO in path');
    expect(alert).not.toHaveBeenCalled();
  });

  it('shows the complete arguments, highlighted, with the hash, long payloads paged explicitly', () => {
    const big = 'line\n'.repeat(1000) + 'x'.repeat(150_000); // 155,000 characters: three pages
    const a = record({ args: { n: 1, ok: true, none: null, path: '/tmp/big.txt', content: big } });
    detail(a);
    const view = $('args-view')!;
    const more = $('args-more') as HTMLButtonElement;
    expect(view.querySelector('.j-key')!.textContent).toBe('"n"');
    expect(view.querySelector('.j-number')!.textContent).toBe('1');
    expect($('args-hash')!.textContent).toBe(a.argsHash);
    const total = utf8Length(JSON.stringify(a.args, null, 2));
    expect($('approval-detail')!.textContent).toContain(`(${total.toLocaleString('en-US')} bytes)`);
    const shown = () =>
      utf8Length(
        [...view.childNodes]
          .filter((n) => !(n instanceof HTMLElement && n.classList.contains('j-break')))
          .map((n) => n.textContent)
          .join(''),
      );
    expect(shown()).toBeLessThan(total);
    expect(more.hidden).toBe(false);
    expect(more.textContent).toBe(`Show ${(total - shown()).toLocaleString('en-US')} more bytes`);
    let clicks = 0;
    while (!more.hidden && clicks < 10) {
      more.click();
      clicks++;
    }
    expect(clicks).toBe(2);
    // Everything, nothing cut: the text minus the reading line breaks is the JSON.
    const text = [...view.childNodes]
      .filter((n) => !(n instanceof HTMLElement && n.classList.contains('j-break')))
      .map((n) => n.textContent)
      .join('');
    expect(text).toBe(JSON.stringify(a.args, null, 2));
    // \n escapes are followed by a visual line break, so file content reads as lines.
    expect(view.querySelectorAll('.j-break').length).toBe(1000);
  });

  it('approves and rejects with a reason, bound to the hash shown, and goes back to the list', async () => {
    const a = record();
    snapshot([a]);
    detail(a);
    expect(last('viewing')).toEqual({ type: 'viewing', ref: { hubId: hub.hubId, id: a.id } });
    ($('remember-select') as HTMLSelectElement).value = 'workspace';
    $('approve-button')!.click();
    expect(last('decide')).toMatchObject({
      items: [{ hubId: hub.hubId, id: a.id, argsHash: a.argsHash }],
      approve: true,
      remember: 'workspace',
    });
    answer(true, '1 request approved');
    await flush();
    expect($('approval-detail')).toBeNull();
    expect($('flash')!.textContent).toContain('approved');

    detail(a);
    ($('reject-reason') as HTMLInputElement).value = 'wrong file';
    $('reject-button')!.click();
    expect(last('decide')).toMatchObject({ approve: false, reason: 'wrong file' });
    answer(false, 'approval x is already approved');
    await flush();
    expect($('decision-error')!.hidden).toBe(false);
    expect($('decision-error')!.textContent).toContain('already approved');
  });

  it('edits: checks JSON syntax here, shows the hub’s schema errors (422), and sends the edit', async () => {
    const a = record({ inputSchema: { type: 'object', properties: { path: { type: 'string' } } } });
    detail(a);
    $('edit-button')!.click();
    const textarea = $('edit-textarea') as HTMLTextAreaElement;
    expect(JSON.parse(textarea.value)).toEqual(a.args);
    textarea.value = '{"path": ';
    textarea.dispatchEvent(new Event('input'));
    expect($('edit-errors')!.hidden).toBe(false);
    expect($('edit-errors')!.textContent).toContain('Not valid JSON');
    const before = sent.length;
    $('edit-save')!.click();
    expect(sent.length).toBe(before); // nothing sent while it does not parse
    textarea.value = '[1, 2]';
    textarea.dispatchEvent(new Event('input'));
    expect($('edit-errors')!.textContent).toContain('must be a JSON object');
    textarea.value = '{"path": 3, "content": "new\u202E"}';
    textarea.dispatchEvent(new Event('input'));
    expect($('edit-errors')!.hidden).toBe(true);
    expect($('edit-hidden-warning')!.textContent).toContain('U+202E RLO');
    $('edit-save')!.click();
    expect(last('decide')).toMatchObject({
      approve: true,
      editedArgs: { path: 3, content: 'new\u202E' },
    });
    answer(false, "the edited arguments do not match the tool's input schema", [
      'path: expected string, received number',
    ]);
    await flush();
    expect($('edit-errors')!.textContent).toContain("do not match the tool's input schema");
    expect($$('error-details')[0]!.textContent).toContain('path: expected string, received number');
    expect($('schema-view')!.textContent).toContain('"properties"');
  });

  it('selects several and approves or rejects them together', async () => {
    const items = [record(), record(), record()];
    snapshot(items);
    const boxes = $$('select-checkbox') as HTMLInputElement[];
    boxes[0]!.click();
    boxes[2]!.click();
    expect(last('selection')!.items.map((i) => i.id)).toEqual([items[0]!.id, items[2]!.id]);
    expect($('bulk-approve')!.textContent).toContain('Approve 2');
    ($('bulk-reason') as HTMLInputElement).value = 'not now';
    $('bulk-reject')!.click();
    expect(last('decide')).toMatchObject({
      approve: false,
      reason: 'not now',
      items: [
        { id: items[0]!.id, argsHash: items[0]!.argsHash },
        { id: items[2]!.id, argsHash: items[2]!.argsHash },
      ],
    });
    answer(true, '2 requests rejected');
    await flush();
    expect(last('selection')!.items).toEqual([]);
    expect($('flash')!.textContent).toBe('2 requests rejected');
  });

  it('works from the keyboard: arrows, Enter, Space, a and r', () => {
    const items = [record(), record(), record()];
    snapshot(items);
    const first = $$('approval-item')[0]!;
    first.focus();
    key(first, 'ArrowDown');
    expect(document.activeElement).toBe($$('approval-item')[1]);
    key(document.activeElement!, 'Enter');
    expect(last('openDetail')).toEqual({
      type: 'openDetail',
      ref: { hubId: hub.hubId, id: items[1]!.id },
    });
    key(document.activeElement!, 'End');
    expect(document.activeElement).toBe($$('approval-item')[2]);
    key(document.activeElement!, 'r');
    expect(last('openDetail')).toEqual({
      type: 'openDetail',
      ref: { hubId: hub.hubId, id: items[2]!.id },
      focus: 'reject',
    });
    key(document.activeElement!, 'Home');
    key(document.activeElement!, 'a');
    expect(last('decide')).toMatchObject({
      approve: true,
      items: [{ id: items[0]!.id, argsHash: items[0]!.argsHash }],
    });
    key(document.activeElement!, ' ');
    expect(last('selection')!.items.map((i) => i.id)).toEqual([items[0]!.id]);
  });

  it('in the detail: a approves, r goes to the reason, Enter there rejects, Escape goes back', async () => {
    const a = record();
    snapshot([a]);
    app.receive({ type: 'detail', item: toDetail({ hub, approval: a }, true), focus: 'reject' });
    expect(document.activeElement).toBe($('reject-reason'));
    const reason = $('reject-reason') as HTMLInputElement;
    key(reason, 'a'); // typing, not a shortcut
    expect(last('decide')).toBeUndefined();
    reason.value = 'nope';
    key(reason, 'Enter');
    expect(last('decide')).toMatchObject({ approve: false, reason: 'nope' });
    answer(false, 'hub unreachable');
    await flush();
    reason.blur();
    key($('approval-detail')!, 'a');
    expect(last('decide')).toMatchObject({ approve: true });
    key($('approval-detail')!, 'Escape');
    expect($('approval-detail')).toBeNull();
    expect(last('viewing')).toEqual({ type: 'viewing' });
  });

  it('marks an open request decided elsewhere and disables its buttons', () => {
    const a = record();
    snapshot([a]);
    detail(a);
    snapshot([]);
    expect($('detail-status')!.hidden).toBe(false);
    expect($('detail-status')!.textContent).toContain('no longer pending');
    expect(($('approve-button') as HTMLButtonElement).disabled).toBe(true);
    expect(($('reject-button') as HTMLButtonElement).disabled).toBe(true);
  });

  it('offers Show diff for file writes only', () => {
    const write = record();
    detail(write);
    $('diff-button')!.click();
    expect(last('showDiff')).toEqual({ type: 'showDiff', ref: { hubId: hub.hubId, id: write.id } });
    detail(record({ tool: 'send_email', args: { to: 'a@b.c' } }));
    expect($('diff-button')).toBeNull();
  });

  it('stays light with 1,000 pending: one page rendered, more on request', () => {
    const many = Array.from({ length: 1000 }, () => record());
    snapshot(many);
    expect($$('approval-item')).toHaveLength(100);
    expect($('show-more')!.textContent).toBe('Show 100 more (900 not shown)');
    $('show-more')!.click();
    expect($$('approval-item')).toHaveLength(200);
    // Arrowing past the last rendered item renders the next page.
    const items = $$('approval-item');
    items[199]!.focus();
    key(items[199]!, 'ArrowDown');
    expect($$('approval-item')).toHaveLength(300);
  });

  it('shows history and rules, and revokes a rule after a confirming second click', async () => {
    $('tab-history')!.click();
    expect(last('loadHistory')).toEqual({ type: 'loadHistory' });
    app.receive({
      type: 'history',
      items: [
        {
          hubId: hub.hubId,
          hubName: hub.name,
          id: 'h1',
          tool: 'write_file',
          server: 'fs',
          status: 'rejected',
          riskClass: 'medium',
          reason: 'wrong file',
          decidedBy: 'vscode:alice',
          edited: false,
          createdAt: new Date(NOW - 60_000).toISOString(),
          decidedAt: new Date(NOW - 30_000).toISOString(),
        },
      ],
    });
    const item = $('history-item')!;
    expect(item.textContent).toContain('rejected');
    expect(item.textContent).toContain('wrong file');
    expect(item.textContent).toContain('vscode:alice');
    item.click();
    expect(last('openDetail')).toEqual({ type: 'openDetail', ref: { hubId: hub.hubId, id: 'h1' } });

    $('tab-rules')!.click();
    expect(last('loadRules')).toEqual({ type: 'loadRules' });
    app.receive({
      type: 'rules',
      items: [
        {
          hubId: hub.hubId,
          hubName: hub.name,
          rule: {
            id: 'rule-1',
            scope: 'always',
            effect: 'allow',
            server: 'fs',
            tool: 'read_file',
            createdAt: new Date(NOW).toISOString(),
            createdBy: 'vscode:alice',
          },
        },
      ],
    });
    expect($('rule-item')!.textContent).toContain('read_file');
    $('revoke-button')!.click();
    expect(last('revokeRule')).toBeUndefined();
    $('revoke-button')!.click();
    expect(last('revokeRule')).toMatchObject({ hubId: hub.hubId, ruleId: 'rule-1' });
    answer(true, 'rule revoked');
    await flush();
    expect($('flash')!.textContent).toContain('revoked');
  });

  it('drops messages that do not match the protocol', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    app.receive({ type: 'snapshot', pending: '<img src=x onerror=alert(1)>' });
    app.receive({ type: 'detail', item: { approval: { tool: '<script>' } } });
    app.receive('hello');
    expect(root.querySelectorAll('img, script')).toHaveLength(0);
    expect(warn).toHaveBeenCalledTimes(3);
    warn.mockRestore();
  });
});

describe('webview helpers', () => {
  it('formats ages and countdowns', () => {
    expect(formatAge(2000)).toBe('just now');
    expect(formatAge(42_000)).toBe('42s ago');
    expect(formatAge(3 * 60_000)).toBe('3m ago');
    expect(formatAge(50 * 3600_000)).toBe('2d ago');
    expect(formatCountdown(0)).toBe('timed out');
    expect(formatCountdown(598_100)).toBe('times out in 9:59');
    expect(formatCountdown(3_723_000)).toBe('times out in 1:02:03');
  });

  it('checks edited JSON', () => {
    expect(checkJsonObject('{"a":1}')).toEqual({ ok: true, value: { a: 1 } });
    expect(checkJsonObject('null').ok).toBe(false);
    expect(checkJsonObject('{').ok).toBe(false);
  });

  it('tokenises JSON exactly, hidden characters as markers', () => {
    const value = { 'k\u200B': ['a"b\\n', 1.5, false, null, {}, []], s: '\u0007bell' };
    const tokens = jsonTokens(value);
    const text = tokens
      .filter((t) => t.kind !== 'break')
      .map((t) => t.text)
      .join('');
    expect(text).toBe(JSON.stringify(value, null, 2).replace('\u200B', '⟦U+200B ZWSP⟧'));
    expect(tokens.find((t) => t.kind === 'hidden')?.text).toBe('⟦U+200B ZWSP⟧');
    // An escaped backslash followed by n is not a line break.
    expect(tokens.filter((t) => t.kind === 'break')).toHaveLength(0);
  });

  it('pages by characters without splitting surrogate pairs', () => {
    const pre = document.createElement('pre');
    const pager = new JsonPager(jsonTokens({ s: '😀'.repeat(10) }), pre, 8);
    while (!pager.done) pager.render();
    expect(pre.textContent).toBe(JSON.stringify({ s: '😀'.repeat(10) }, null, 2));
    expect(pager.remainingBytes).toBe(0);
    for (const span of pre.querySelectorAll('span'))
      expect(span.textContent).not.toMatch(/[\uD800-\uDBFF]$/);
  });
});

describe('the Approvals webview with a remote hub', () => {
  const team: RemoteHubRef = {
    hubId: 'remote:https://hub.example',
    name: 'team',
    url: 'https://hub.example',
    remote: true,
  };
  const teamStatus = {
    hubId: team.hubId,
    name: team.name,
    remote: true,
    url: team.url,
    state: 'live' as const,
    inScope: true,
    pendingCount: 1,
  };

  it('names remote hubs by their flag and URL, local ones by pid and directory', () => {
    snapshot([], {
      hubs: [
        {
          hubId: hub.hubId,
          name: hub.name,
          remote: false,
          cwd: hub.cwd,
          pid: 7,
          state: 'live',
          inScope: true,
          pendingCount: 0,
        },
        { ...teamStatus, state: 'retrying', lastError: 'token rejected by https://hub.example' },
      ],
    });
    const line = $('hubs-status')!;
    expect(line.textContent).toContain('1 hitloop process');
    expect(line.textContent).toContain('remote hub team');
    expect($('hub-problem')!.textContent).toBe('team: token rejected by https://hub.example');
    expect(line.title).toBe(
      [
        'hitloop proxy (pid 7) in /work/project: live',
        'team at https://hub.example (remote hub): retrying (token rejected by https://hub.example)',
      ].join('\n'),
    );
  });

  it('offers no diff for a request from a remote hub, and says where it was asked', () => {
    const write = record({ hubId: 'laptop-of-bob', cwd: '/home/bob/app' });
    app.receive({
      type: 'snapshot',
      pending: [toSummary({ hub: team, approval: write })],
      hubs: [teamStatus],
      hiddenByScope: 0,
      scope: 'workspace',
      home: '/home/me/.hitloop',
      defaultRemember: 'none',
      now: new Date(NOW).toISOString(),
    });
    app.receive({ type: 'detail', item: toDetail({ hub: team, approval: write }, true) });
    expect($('diff-button')).toBeNull();
    key($('approve-button')!, 'd');
    expect(last('showDiff')).toBeUndefined();
    expect($('card-facts')!.textContent).toContain(
      'team (remote hub), asked in /home/bob/app on another machine',
    );
    // The same write asked by a process on this machine has its diff.
    detail(record());
    expect($('diff-button')).not.toBeNull();
  });

  it('keeps a detail and a checked item when the hub an approval is listed through changes', () => {
    const shared = record();
    snapshot([shared]);
    $$('approval-item')[0]!.querySelector<HTMLInputElement>('input[type="checkbox"]')!.click();
    expect(last('selection')?.items).toEqual([{ hubId: hub.hubId, id: shared.id }]);
    detail(shared);
    // Now listed through the team hub (the local hub reconnects, say): same approval.
    const base = {
      type: 'snapshot' as const,
      hiddenByScope: 0,
      scope: 'workspace' as const,
      home: '/home/me/.hitloop',
      defaultRemember: 'none' as const,
      now: new Date(NOW).toISOString(),
    };
    app.receive({
      ...base,
      pending: [toSummary({ hub: team, approval: shared })],
      hubs: [teamStatus],
    });
    expect($('detail-status')!.hidden).toBe(true);
    expect(last('selection')?.items).toEqual([{ hubId: team.hubId, id: shared.id }]);
    // Gone from every hub: now it is stale.
    app.receive({ ...base, pending: [], hubs: [teamStatus] });
    expect($('detail-status')!.hidden).toBe(false);
  });
});
