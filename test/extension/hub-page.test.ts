import { Window } from 'happy-dom';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  decidedBy,
  decisionBody,
  decisionProblem,
  fragmentWithoutToken,
  NAME_KEY,
  newestFirst,
  TOKEN_KEY,
  tokenFromFragment,
} from '../../extension/webview/hub-page/core.js';
import type { HubPage as HubPageType } from '../../extension/webview/hub-page/page.js';
import { PageApproval, PageHubError, PageHubEvent } from '../../extension/webview/hub-page/wire.js';
import { ApprovalHub } from '../../shared/hub/approval-hub.js';
import { HubClient } from '../../shared/hub/hub-client.js';
import { ApprovalRecord, HubErrorBody, HubEvent } from '../../shared/hub/protocol.js';
import { MemoryApprovalStore } from '../../shared/stores/memory-store.js';
import { argsHash } from '../../shared/util/canonical-json.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { record, until } from './helpers.js';

const HASH = 'a'.repeat(64);

describe('the approval page: token from the link', () => {
  it('reads #token=… and leaves other fragment parameters', () => {
    expect(tokenFromFragment('#token=abc-DEF_123')).toBe('abc-DEF_123');
    expect(tokenFromFragment('token=abc')).toBe('abc');
    expect(tokenFromFragment('#x=1&token=abc')).toBe('abc');
    expect(tokenFromFragment('#token=a%2Bb')).toBe('a+b');
    expect(tokenFromFragment('')).toBeUndefined();
    expect(tokenFromFragment('#')).toBeUndefined();
    expect(tokenFromFragment('#token=')).toBeUndefined();
    expect(tokenFromFragment('#other=1')).toBeUndefined();
    expect(fragmentWithoutToken('#token=abc')).toBe('');
    expect(fragmentWithoutToken('#token=abc&x=1')).toBe('#x=1');
    expect(fragmentWithoutToken('')).toBe('');
  });
});

describe('the approval page: decisions', () => {
  it('binds the hash, names the reviewer as mobile[:name], drops an empty reason', () => {
    expect(decisionBody({ approve: true, argsHash: HASH })).toEqual({
      approve: true,
      argsHash: HASH,
      decidedBy: 'mobile',
    });
    expect(
      decisionBody({ approve: false, argsHash: HASH, reason: '  wrong file ', name: ' alice ' }),
    ).toEqual({ approve: false, argsHash: HASH, reason: 'wrong file', decidedBy: 'mobile:alice' });
    expect(decisionBody({ approve: false, argsHash: HASH, reason: '   ' })).not.toHaveProperty(
      'reason',
    );
    expect(decidedBy('a\u202Eb\u200B\nc')).toBe('mobile:abc');
    expect(decidedBy('x'.repeat(500))).toHaveLength('mobile:'.length + 100);
  });

  it('words refusals and says when to list again', () => {
    expect(
      decisionProblem(409, { code: 'already_decided', message: 'x is approved' }),
    ).toMatchObject({ refresh: true, signedOut: false });
    expect(decisionProblem(409, { code: 'args_changed', message: '' }).message).toMatch(
      /arguments changed/,
    );
    expect(decisionProblem(401, undefined)).toMatchObject({ signedOut: true });
    expect(
      decisionProblem(400, { code: 'invalid_body', message: 'bad', details: ['reason: too long'] })
        .message,
    ).toBe('The hub refused the decision: bad (reason: too long)');
    expect(decisionProblem(502, undefined).message).toBe('The hub answered HTTP 502.');
  });

  it('sorts newest first', () => {
    const a = { id: 'a', createdAt: '2026-01-01T00:00:00Z' };
    const b = { id: 'b', createdAt: '2026-01-01T00:01:00Z' };
    expect([a, b].sort(newestFirst).map((x) => x.id)).toEqual(['b', 'a']);
  });
});

describe('the approval page: its zod/mini wire schemas agree with the protocol', () => {
  it('reads every field it shows exactly as the protocol does', () => {
    const full = record({
      exposedName: 'fs__write_file',
      toolDescription: 'writes',
      rationale: 'because',
      client: { name: 'agent', version: '1' },
      expiresAt: '2026-01-01T01:00:00.000Z',
      status: 'approved',
      decision: {
        actionId: 'x',
        approved: true,
        reason: 'ok',
        decidedBy: 'mobile:alice',
        decidedVia: 'hub-token',
        latencyMs: 5,
        tags: [],
        decidedAt: '2026-01-01T00:00:09.000Z',
      },
      statusReason: 'done',
    });
    const classic = ApprovalRecord.parse(full);
    const mini = PageApproval.parse(full);
    for (const [key, value] of Object.entries(mini)) {
      if (key === 'decision') continue;
      expect(value, key).toEqual(classic[key as keyof typeof classic]);
    }
    expect(mini.decision).toEqual({
      approved: true,
      reason: 'ok',
      decidedBy: 'mobile:alice',
      decidedVia: 'hub-token',
      decidedAt: '2026-01-01T00:00:09.000Z',
    });
    for (const key of Object.keys(PageApproval.def.shape))
      expect(Object.keys(ApprovalRecord.shape), key).toContain(key);
  });

  it('accepts every event the protocol defines and refuses what it refuses', () => {
    const approval = record();
    const events: HubEvent[] = [
      { type: 'requested', approval },
      { type: 'decided', approval: { ...approval, status: 'rejected' } },
      { type: 'withdrawn', id: approval.id, reason: 'cancelled' },
      { type: 'expired', id: approval.id, reason: 'timeout' },
      {
        type: 'rule_added',
        rule: {
          id: 'r',
          scope: 'always',
          effect: 'allow',
          tool: 't',
          createdAt: 'now',
          createdBy: 'me',
        },
      },
      { type: 'rule_revoked', id: 'r' },
    ];
    for (const event of events) {
      expect(HubEvent.safeParse(event).success).toBe(true);
      expect(PageHubEvent.safeParse(event).success, event.type).toBe(true);
    }
    const bad = [
      { type: 'requested', approval: { ...approval, argsHash: 'nothex' } },
      { type: 'requested', approval: { ...approval, args: 'not an object' } },
      { type: 'requested', approval: { ...approval, riskClass: 'extreme' } },
      { type: 'unknown' },
    ];
    for (const event of bad) {
      expect(HubEvent.safeParse(event).success).toBe(false);
      expect(PageHubEvent.safeParse(event).success).toBe(false);
    }
    const error = { error: { code: 'args_changed', message: 'm', details: ['d'] } };
    expect(HubErrorBody.parse(error)).toEqual(PageHubError.parse(error));
  });
});

// The page in a DOM (happy-dom) against a real hub over real HTTP. The DOM is
// a manual happy-dom Window rather than the vitest environment, so `fetch`
// stays Node's: the page then talks to the hub as a same-origin browser would
// (no Origin header), which the hub accepts before and after it serves the page.
describe('the approval page against a real hub', () => {
  let hub: ApprovalHub;
  let win: Window;
  let page: HubPageType | undefined;
  let session: Map<string, string>;
  let local: Map<string, string>;
  let replaced: string[];
  let root: HTMLElement;

  const storage = (map: Map<string, string>) => ({
    getItem: (k: string) => map.get(k) ?? null,
    setItem: (k: string, v: string) => void map.set(k, v),
    removeItem: (k: string) => void map.delete(k),
  });
  const $ = (testid: string, within: ParentNode = root) =>
    within.querySelector<HTMLElement>(`[data-testid="${testid}"]`);
  const cardFor = (id: string) =>
    root.querySelector<HTMLElement>(`[data-testid="hub-card"][data-approval-id="${id}"]`);
  const waitCard = async (id: string): Promise<HTMLElement> =>
    (await until(() => cardFor(id), 5000, `the card of ${id}`)) as HTMLElement;

  beforeEach(async () => {
    hub = new ApprovalHub({
      store: new MemoryApprovalStore(),
      name: 'team hub',
      announce: false,
      home: makeTempDir('hitloop-page-'),
    });
    await hub.start();
    win = new Window({ url: 'http://127.0.0.1/' });
    (globalThis as { document?: unknown }).document = win.document;
    root = win.document.createElement('div') as unknown as HTMLElement;
    win.document.body.appendChild(root as never);
    session = new Map();
    local = new Map();
    replaced = [];
  });

  afterEach(async () => {
    page?.stop();
    page = undefined;
    await hub.stop();
    await win.happyDOM.close();
    delete (globalThis as { document?: unknown }).document;
  });

  async function open(
    hash: string,
    fetchImpl: typeof fetch = (input, init) => fetch(input, init),
  ): Promise<HubPageType> {
    const { HubPage } = await import('../../extension/webview/hub-page/page.js');
    page = new HubPage(root, {
      fetch: fetchImpl,
      base: hub.url,
      session: storage(session),
      local: storage(local),
      location: { hash, pathname: '/', search: '' },
      replaceUrl: (url) => replaced.push(url),
      pollMs: 100,
      retryMs: () => 60_000,
    });
    page.start();
    return page;
  }

  it('takes the token from the link, hides it, shows hostile arguments inert and visible, and approves', async () => {
    local.set(NAME_KEY, 'alice');
    const p = await open(`#token=${hub.token}`);
    expect(replaced).toEqual(['/']);
    expect(session.get(TOKEN_KEY)).toBe(hub.token);
    await until(() => p.state === 'live', 5000, 'live stream');
    await until(() => $('empty-state') && !$('empty-state')!.hidden, 5000, 'empty state');
    expect($('hub-name')!.textContent).toBe('team hub');

    const args = {
      path: '/tmp/\u202Etxt.exe',
      content: '<img src=x onerror=alert(1)></script><script>alert(2)</script>',
      'key\u200Bwith zero width': true,
    };
    const hostile = record({
      hubId: hub.hubId,
      tool: '<b>write_file</b>',
      policyReason: '<script>alert(3)</script>',
      args,
      argsHash: argsHash(args),
    });
    const waiting = hub.waitFor(hostile.id);
    await hub.publish(hostile);
    const card = await waitCard(hostile.id);
    expect($('card-preview', card)!.textContent).toContain('⟦U+202E RLO⟧');
    expect($('card-preview', card)!.textContent).not.toMatch(/[\u202E\u200B]/);
    // Collapsed until tapped: the decision buttons sit with the full arguments.
    expect($('card-actions', card)!.closest('[hidden]')).not.toBeNull();
    $('card-toggle', card)!.click();
    expect($('card-actions', card)!.closest('[hidden]')).toBeNull();
    const view = $('args-view', card)!.textContent ?? '';
    expect(view).toContain('<img src=x onerror=alert(1)></script><script>alert(2)</script>');
    expect(view).toContain('⟦U+202E RLO⟧');
    expect(view).toContain('⟦U+200B ZWSP⟧');
    expect(view).not.toMatch(/[\u202E\u200B]/);
    expect($('args-hash', card)!.textContent).toBe(hostile.argsHash);
    expect($('hidden-warning', card)!.textContent).toContain('U+202E RLO in path');
    for (const tag of ['img', 'script', 'b']) expect(root.querySelectorAll(tag)).toHaveLength(0);
    expect(card.textContent).toContain('<b>write_file</b>');

    $('approve-button', card)!.click();
    const settled = await waiting;
    expect(settled.status).toBe('approved');
    expect(settled.decision?.decidedBy).toBe('mobile:alice');
    // The name is the page's claim; the token is what authenticated it.
    expect(settled.decision?.decidedVia).toBe('hub-token');
    await until(() => !cardFor(hostile.id), 5000, 'the card to go');
    expect($('flash')!.textContent).toContain('approved');
  });

  it('rejects with a reason', async () => {
    const p = await open(`#token=${hub.token}`);
    await until(() => p.state === 'live', 5000, 'live stream');
    const a = record({ hubId: hub.hubId });
    const waiting = hub.waitFor(a.id);
    await hub.publish(a);
    const card = await waitCard(a.id);
    $('card-toggle', card)!.click();
    ($('reject-reason', card) as HTMLInputElement).value = 'wrong file';
    $('reject-button', card)!.click();
    const settled = await waiting;
    expect(settled.status).toBe('rejected');
    expect(settled.decision).toMatchObject({ reason: 'wrong file', decidedBy: 'mobile' });
  });

  it('refuses to approve arguments that changed under the card, says so and shows the new ones', async () => {
    const p = await open(`#token=${hub.token}`);
    await until(() => p.state === 'live', 5000, 'live stream');
    const a = record({ hubId: hub.hubId });
    await hub.publish(a);
    const card = await waitCard(a.id);
    $('card-toggle', card)!.click();
    // Changed in the store without an event: the card still shows the old arguments.
    const args = { path: '/etc/passwd', content: 'x' };
    await hub.store.put({ ...a, args, argsHash: argsHash(args) });
    $('approve-button', card)!.click();
    await until(() => $('flash')!.textContent?.includes('arguments changed'), 5000, 'the refusal');
    await until(
      () =>
        cardFor(a.id)
          ?.querySelector('[data-testid="args-view"]')
          ?.textContent?.includes('/etc/passwd'),
      5000,
      'the new arguments',
    );
    const fresh = await waitCard(a.id);
    expect($('decision-error', fresh)!.textContent).toMatch(/changed/);
    expect((await hub.store.get(a.id))?.status).toBe('pending');
  });

  it('says "already decided" when someone else was first', async () => {
    const p = await open(`#token=${hub.token}`);
    await until(() => p.state === 'live', 5000, 'live stream');
    const a = record({ hubId: hub.hubId });
    await hub.publish(a);
    const card = await waitCard(a.id);
    $('card-toggle', card)!.click();
    // Decided through the store directly (another hub sharing it): no event reaches this page.
    await hub.store.settle(a.id, {
      status: 'approved',
      decision: {
        actionId: a.id,
        approved: true,
        reason: '',
        decidedBy: 'vscode:bob',
        latencyMs: 1,
        tags: [],
      },
    });
    $('reject-button', card)!.click();
    await until(() => $('flash')!.textContent?.includes('Someone else decided'), 5000, 'refusal');
    await until(() => !cardFor(a.id), 5000, 'the card to go');
    expect((await hub.store.get(a.id))?.decision?.decidedBy).toBe('vscode:bob');
  });

  it('says who decided elsewhere, and how they were authenticated', async () => {
    const p = await open(`#token=${hub.token}`);
    await until(() => p.state === 'live', 5000, 'live stream');
    const a = record({ hubId: hub.hubId });
    await hub.publish(a);
    await waitCard(a.id);
    await new HubClient({ url: hub.url, token: hub.token }).decide(a.id, {
      approve: true,
      argsHash: a.argsHash,
      decidedBy: 'cli:bob',
    });
    await until(() => !cardFor(a.id), 5000, 'the card to go');
    expect($('flash')!.textContent).toContain('was approved by cli:bob (via hub-token)');
  });

  it('shows the "open the link" message for a wrong token, and for none', async () => {
    const p = await open('#token=wrong-token-wrong-token');
    await until(() => p.state === 'signed-out', 5000, 'signed out');
    expect($('auth-message')!.hidden).toBe(false);
    expect($('auth-message')!.textContent).toContain('hitloop serve');
    expect(session.has(TOKEN_KEY)).toBe(false);
    p.stop();

    let calls = 0;
    const none = await open('', async (input, init) => {
      calls++;
      return fetch(input, init);
    });
    expect(none.state).toBe('signed-out');
    expect($('auth-message')!.textContent).toContain('hitloop serve');
    expect(calls).toBe(0);
  });

  it('falls back to polling when the stream fails, and says so', async () => {
    const p = await open(`#token=${hub.token}`, async (input, init) => {
      if (String(input).endsWith('/v1/events')) throw new TypeError('stream blocked by a proxy');
      return fetch(input, init);
    });
    await until(() => p.state === 'polling', 5000, 'polling');
    expect($('connection-state')!.textContent).toMatch(/Polling every 3 s/);
    const a = record({ hubId: hub.hubId });
    await hub.publish(a);
    await until(() => cardFor(a.id), 5000, 'the card by polling');
    await hub.withdraw(a.id, 'the agent gave up');
    await until(() => !cardFor(a.id), 5000, 'the card to go by polling');
  });

  it('the client the CLI uses sees the decision the page made (same wire)', async () => {
    const p = await open(`#token=${hub.token}`);
    await until(() => p.state === 'live', 5000, 'live stream');
    const a = record({ hubId: hub.hubId });
    await hub.publish(a);
    const card = await waitCard(a.id);
    $('card-toggle', card)!.click();
    $('approve-button', card)!.click();
    const client = new HubClient({ url: hub.url, token: hub.token });
    await until(() => !cardFor(a.id), 5000, 'the card to go');
    expect((await client.get(a.id)).decision?.decidedBy).toBe('mobile');
  });
});
