import { backoffDelay } from '../../../shared/util/backoff.js';
import { safeJson } from '../../../shared/util/safe-json.js';
import { readEventStream } from '../../../shared/util/sse.js';
import { makeVisible } from '../../../shared/util/visible-text.js';
import {
  argumentsSection,
  cardFacts,
  cardTitle,
  formatAge,
  formatCountdown,
  shown,
  toolDescription,
} from '../card.js';
import { append, clear, h } from '../dom.js';
import {
  decisionBody,
  decisionProblem,
  fragmentWithoutToken,
  NAME_KEY,
  NO_TOKEN_MESSAGE,
  newestFirst,
  TOKEN_KEY,
  TOKEN_REJECTED_MESSAGE,
  tokenFromFragment,
} from './core.js';
import { PageApproval, PageApprovalList, PageHubError, PageHubEvent, PageHubInfo } from './wire.js';

type KeyValueStore = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;

/** What the page needs from the browser; tests pass their own. */
export interface HubPageEnv {
  fetch: typeof fetch;
  /** The hub's origin; '' (the default) is the page's own. */
  base?: string;
  /** Holds the token for this tab only. */
  session: KeyValueStore;
  /** Holds the reviewer's name across visits. */
  local: KeyValueStore;
  location: Pick<Location, 'hash' | 'pathname' | 'search'>;
  /** Replaces the address without reloading (history.replaceState). */
  replaceUrl(url: string): void;
  /** Polling interval while the live stream is down. Default 3 s. */
  pollMs?: number;
  /** Delay before the stream is tried again, by attempt. */
  retryMs?: (attempt: number) => number;
  now?: () => number;
}

/** Connection states, shown at the top of the page. */
export type ConnectionState = 'connecting' | 'live' | 'polling' | 'signed-out';

const STATE_TEXT: Record<ConnectionState, string> = {
  connecting: 'Connecting…',
  live: 'Live',
  polling: 'Polling every 3 s (live updates unavailable)',
  'signed-out': 'Not connected',
};

interface CardView {
  approval: PageApproval;
  el: HTMLLIElement;
  body: HTMLElement;
  toggle: HTMLButtonElement;
  error: HTMLElement;
  expanded: boolean;
}

class SignedOut extends Error {}

/**
 * The hub's approval page: the pending requests as the sidebar's cards,
 * approve or reject from a phone, live over the event stream (read with
 * fetch, since EventSource cannot send a bearer token) or, when that fails,
 * by polling. Every response is checked (wire.ts) and rendered as text.
 *
 * @example
 * new HubPage(document.getElementById('app')!, {
 *   fetch: (input, init) => fetch(input, init),
 *   session: sessionStorage,
 *   local: localStorage,
 *   location,
 *   replaceUrl: (url) => history.replaceState(null, '', url),
 * }).start();
 */
export class HubPage {
  state: ConnectionState = 'connecting';
  private token: string | undefined;
  private readonly cards = new Map<string, CardView>();
  /** Ids this page is deciding now: their `decided` event is ours, not news. */
  private readonly deciding = new Set<string>();
  private stream: AbortController | undefined;
  private poller: ReturnType<typeof setInterval> | undefined;
  private clock: ReturnType<typeof setInterval> | undefined;
  private wakeStream: (() => void) | undefined;
  private stopped = false;
  private loaded = false;

  private readonly hubName: HTMLElement;
  private readonly stateLine: HTMLElement;
  private readonly nameInput: HTMLInputElement;
  private readonly flashLine: HTMLElement;
  private readonly authBox: HTMLElement;
  private readonly list: HTMLUListElement;
  private readonly empty: HTMLElement;
  private readonly main: HTMLElement;
  private readonly base: string;
  private readonly now: () => number;

  constructor(
    root: HTMLElement,
    private readonly env: HubPageEnv,
  ) {
    this.base = (env.base ?? '').replace(/\/+$/, '');
    this.now = env.now ?? (() => Date.now());
    this.hubName = h('span', { class: 'hub-name', testid: 'hub-name' });
    this.stateLine = h('span', {
      class: 'conn',
      testid: 'connection-state',
      attrs: { role: 'status', 'aria-live': 'polite' },
    });
    this.nameInput = h('input', {
      testid: 'reviewer-name',
      attrs: {
        type: 'text',
        maxlength: '100',
        placeholder: 'mobile',
        autocomplete: 'nickname',
        'aria-label': 'Your name, recorded with your decisions',
      },
    });
    this.nameInput.value = env.local.getItem(NAME_KEY) ?? '';
    this.nameInput.addEventListener('change', () => {
      const name = this.nameInput.value.trim();
      if (name) env.local.setItem(NAME_KEY, name);
      else env.local.removeItem(NAME_KEY);
    });
    this.flashLine = h('div', {
      class: 'flash',
      testid: 'flash',
      attrs: { role: 'status', 'aria-live': 'polite' },
    });
    this.authBox = h('div', { class: 'auth', testid: 'auth-message', attrs: { role: 'alert' } });
    this.authBox.hidden = true;
    this.list = h('ul', {
      class: 'cards',
      testid: 'card-list',
      attrs: { 'aria-label': 'Pending approvals, newest first' },
    });
    this.empty = h(
      'p',
      { class: 'empty', testid: 'empty-state' },
      'Nothing waits for approval. New requests appear here as they arrive.',
    );
    this.empty.hidden = true;
    const forget = h(
      'button',
      {
        class: 'link',
        testid: 'forget-token',
        onClick: () => {
          env.session.removeItem(TOKEN_KEY);
          this.signOut(NO_TOKEN_MESSAGE);
        },
      },
      'Forget this link',
    );
    this.main = h(
      'main',
      {},
      h(
        'label',
        { class: 'reviewer' },
        h('span', {}, 'Deciding as '),
        this.nameInput,
        h('span', { class: 'muted' }, ' (shown as mobile:<name>)'),
      ),
      this.list,
      this.empty,
      forget,
    );
    clear(root);
    append(
      root,
      h(
        'header',
        { class: 'page-header' },
        h('h1', {}, 'hitloop approvals'),
        this.hubName,
        this.stateLine,
      ),
      this.flashLine,
      this.authBox,
      this.main,
    );
    this.setState('connecting');
  }

  /** Reads the token (from the link, else this tab's storage) and connects. */
  start(): void {
    const fromLink = tokenFromFragment(this.env.location.hash);
    if (fromLink) {
      this.env.session.setItem(TOKEN_KEY, fromLink);
      // Out of the address bar, the history and any screenshot.
      this.env.replaceUrl(
        `${this.env.location.pathname}${this.env.location.search}${fragmentWithoutToken(this.env.location.hash)}`,
      );
    }
    this.token = fromLink ?? this.env.session.getItem(TOKEN_KEY) ?? undefined;
    if (!this.token) return this.signOut(NO_TOKEN_MESSAGE);
    this.clock = setInterval(() => this.tick(), 1000);
    void this.loadInfo();
    void this.runStream();
  }

  stop(): void {
    this.stopped = true;
    this.stream?.abort();
    this.wakeStream?.();
    this.stopPolling();
    if (this.clock) clearInterval(this.clock);
  }

  /** Lists what is pending now and brings the cards in line with it. */
  async refresh(): Promise<void> {
    const res = await this.call('GET', '/v1/approvals?status=pending');
    const parsed = PageApprovalList.safeParse(await res.json());
    if (!parsed.success) throw new Error('the hub sent a list this page does not understand');
    this.setPending(parsed.data.approvals);
  }

  // ---- connection -------------------------------------------------------------

  private async loadInfo(): Promise<void> {
    try {
      const res = await this.call('GET', '/v1/info');
      const info = PageHubInfo.safeParse(await res.json());
      if (info.success) this.hubName.textContent = shown(info.data.name);
    } catch {
      // The name is a nicety; the stream reports real trouble.
    }
  }

  private async runStream(): Promise<void> {
    let attempt = 0;
    while (!this.stopped && this.token) {
      const controller = new AbortController();
      this.stream = controller;
      try {
        const res = await this.call('GET', '/v1/events', undefined, controller.signal);
        if (!res.body) throw new Error('the event stream has no body');
        this.setState('live');
        this.stopPolling();
        attempt = 0;
        // Listed after the stream is open, so nothing in between is missed.
        await this.refresh();
        await this.follow(res.body);
        throw new Error('the event stream ended');
      } catch (err) {
        controller.abort();
        if (this.stopped || err instanceof SignedOut) return;
        this.setState('polling');
        this.startPolling();
        await this.sleep(
          this.env.retryMs?.(attempt) ?? backoffDelay(attempt, { initialMs: 3000, maxMs: 30_000 }),
        );
        attempt++;
      }
    }
  }

  private async follow(body: ReadableStream<Uint8Array>): Promise<void> {
    await readEventStream(body, (message) => {
      const event = PageHubEvent.safeParse(safeJson(message.data));
      if (event.success) this.apply(event.data);
    });
  }

  private apply(event: PageHubEvent): void {
    switch (event.type) {
      case 'requested':
        if (event.approval.status === 'pending') this.upsert(event.approval);
        this.afterChange();
        return;
      case 'decided': {
        const a = event.approval;
        if (this.cards.has(a.id) && !this.deciding.has(a.id))
          this.flash(
            shown(
              `${a.tool} was ${a.status} by ${a.decision?.decidedBy ?? 'someone else'}${a.decision?.decidedVia ? ` (via ${a.decision.decidedVia})` : ''}`,
            ),
          );
        this.remove(a.id);
        this.afterChange();
        return;
      }
      case 'withdrawn':
      case 'expired': {
        const card = this.cards.get(event.id);
        if (card) this.flash(shown(`${card.approval.tool} was ${event.type}: ${event.reason}`));
        this.remove(event.id);
        this.afterChange();
        return;
      }
      default:
        return;
    }
  }

  private startPolling(): void {
    if (this.poller) return;
    const poll = () =>
      this.refresh().catch((err: unknown) => {
        if (!(err instanceof SignedOut))
          this.flash(`Cannot reach the hub: ${(err as Error).message}`, true);
      });
    void poll();
    this.poller = setInterval(poll, this.env.pollMs ?? 3000);
  }

  private stopPolling(): void {
    if (this.poller) clearInterval(this.poller);
    this.poller = undefined;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeStream = done;
    });
  }

  /** A same-origin API call with the bearer token; 401 signs the page out. */
  private async call(
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
    signal?: AbortSignal,
  ): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.token ?? ''}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await this.env.fetch(`${this.base}${path}`, {
      method,
      headers,
      cache: 'no-store',
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      ...(signal ? { signal } : {}),
    });
    if (res.status === 401) {
      this.env.session.removeItem(TOKEN_KEY);
      this.signOut(TOKEN_REJECTED_MESSAGE);
      throw new SignedOut('token rejected');
    }
    if (!res.ok && method === 'GET') {
      const error = PageHubError.safeParse(await res.json().catch(() => undefined));
      throw new Error(error.success ? error.data.error.message : `HTTP ${res.status}`);
    }
    return res;
  }

  private signOut(message: string): void {
    this.token = undefined;
    this.stopped = true;
    this.stream?.abort();
    this.stopPolling();
    if (this.clock) clearInterval(this.clock);
    this.setState('signed-out');
    clear(this.authBox);
    append(this.authBox, h('h2', {}, 'Open the link from hitloop serve'), h('p', {}, message));
    this.authBox.hidden = false;
    this.main.hidden = true;
    for (const id of [...this.cards.keys()]) this.remove(id);
  }

  private setState(state: ConnectionState): void {
    this.state = state;
    this.stateLine.textContent = STATE_TEXT[state];
    this.stateLine.dataset.state = state;
  }

  // ---- cards --------------------------------------------------------------------

  private setPending(approvals: PageApproval[]): void {
    const keep = new Set<string>();
    for (const a of approvals) {
      if (a.status !== 'pending') continue;
      keep.add(a.id);
      this.upsert(a);
    }
    for (const id of [...this.cards.keys()]) if (!keep.has(id)) this.remove(id);
    this.loaded = true;
    this.afterChange();
  }

  private upsert(a: PageApproval): void {
    const existing = this.cards.get(a.id);
    // Same id, same arguments: keep the card (and what the reviewer typed).
    if (existing && existing.approval.argsHash === a.argsHash) return;
    const card = this.card(a, existing?.expanded ?? false);
    if (existing) {
      existing.el.replaceWith(card.el);
      card.error.hidden = false;
      card.error.textContent =
        'The arguments of this request changed; this card shows the new ones.';
    }
    this.cards.set(a.id, card);
  }

  private remove(id: string): void {
    this.cards.get(id)?.el.remove();
    this.cards.delete(id);
  }

  /** Puts the cards in order (newest first) and updates the empty state and title. */
  private afterChange(): void {
    const ordered = [...this.cards.values()].sort((x, y) => newestFirst(x.approval, y.approval));
    ordered.forEach((card, i) => {
      if (this.list.children[i] !== card.el)
        this.list.insertBefore(card.el, this.list.children[i] ?? null);
    });
    this.empty.hidden = !this.loaded || ordered.length > 0;
    if (typeof document !== 'undefined')
      document.title = ordered.length
        ? `(${ordered.length}) hitloop approvals`
        : 'hitloop approvals';
    this.tick();
  }

  private card(a: PageApproval, expanded: boolean): CardView {
    const bodyId = `card-body-${a.id.replace(/[^\w-]/g, '_')}`;
    const age = h('span', { class: 'age', attrs: { 'data-age': a.createdAt } });
    const age2 = h('span', { class: 'age', attrs: { 'data-age': a.createdAt } });
    const countdown = a.expiresAt
      ? h('span', { class: 'countdown', attrs: { 'data-countdown': a.expiresAt } })
      : undefined;
    const countdown2 = a.expiresAt
      ? h('span', { class: 'countdown', attrs: { 'data-countdown': a.expiresAt } })
      : undefined;
    const toggle = h('button', {
      class: 'secondary toggle',
      testid: 'card-toggle',
      attrs: { 'aria-controls': bodyId, 'aria-expanded': String(expanded) },
    });
    const error = h('div', { class: 'error', testid: 'decision-error', attrs: { role: 'alert' } });
    error.hidden = true;
    const reason = h('input', {
      class: 'reason-input',
      testid: 'reject-reason',
      attrs: {
        type: 'text',
        maxlength: '4000',
        placeholder: 'Reason for rejecting (optional, sent to the agent)',
        'aria-label': `Reason for rejecting ${a.tool}`,
      },
    });
    const approve = h('button', { class: 'primary decide', testid: 'approve-button' }, 'Approve');
    const reject = h('button', { class: 'danger decide', testid: 'reject-button' }, 'Reject');
    const body = h(
      'div',
      { class: 'card-body', attrs: { id: bodyId } },
      cardFacts(a, {
        ...(a.cwd ? { process: a.cwd } : {}),
        requested: age2,
        ...(countdown2 ? { timesOut: countdown2 } : {}),
      }),
      toolDescription(a),
      ...argumentsSection(a),
      error,
      h(
        'div',
        { class: 'actions', testid: 'card-actions' },
        approve,
        h('div', { class: 'reject-row' }, reason, reject),
      ),
    );
    const head = h(
      'div',
      { class: 'card-head' },
      cardTitle(a, 'div'),
      h('div', { class: 'line reason', testid: 'card-reason' }, shown(a.policyReason)),
      a.rationale ? h('div', { class: 'line rationale' }, `“${shown(a.rationale)}”`) : null,
      h('div', { class: 'line preview', testid: 'card-preview' }, preview(a.args)),
      h('div', { class: 'line meta' }, age, countdown ? ' · ' : null, countdown ?? null),
      toggle,
    );
    const el = h(
      'li',
      {
        class: 'card',
        testid: 'hub-card',
        attrs: { 'data-approval-id': a.id, 'data-risk': a.riskClass },
      },
      head,
      body,
    );
    const view: CardView = { approval: a, el, body, toggle, error, expanded };
    const setExpanded = (on: boolean) => {
      view.expanded = on;
      body.hidden = !on;
      el.classList.toggle('expanded', on);
      toggle.setAttribute('aria-expanded', String(on));
      toggle.textContent = on ? 'Hide arguments' : 'Review arguments to decide';
    };
    // The whole head is the tap target; the button inside is for keyboards and screen readers.
    head.addEventListener('click', () => setExpanded(!view.expanded));
    setExpanded(expanded);
    approve.addEventListener('click', () => void this.decide(view, true, ''));
    reject.addEventListener('click', () => void this.decide(view, false, reason.value));
    reason.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') {
        e.preventDefault();
        void this.decide(view, false, reason.value);
      }
    });
    return view;
  }

  private async decide(view: CardView, approve: boolean, reason: string): Promise<void> {
    const a = view.approval;
    const buttons = view.el.querySelectorAll<HTMLButtonElement>('button.decide');
    for (const b of buttons) b.disabled = true;
    view.error.hidden = true;
    this.deciding.add(a.id);
    try {
      const res = await this.call(
        'POST',
        `/v1/approvals/${encodeURIComponent(a.id)}/decision`,
        decisionBody({ approve, argsHash: a.argsHash, reason, name: this.nameInput.value }),
      );
      if (res.ok) {
        const record = PageApproval.safeParse(await res.json());
        const status = record.success ? record.data.status : approve ? 'approved' : 'rejected';
        this.flash(shown(`${a.tool}: ${status}`));
        this.remove(a.id);
        this.afterChange();
        return;
      }
      const error = PageHubError.safeParse(await res.json().catch(() => undefined));
      const problem = decisionProblem(res.status, error.success ? error.data.error : undefined);
      view.error.textContent = problem.message;
      view.error.hidden = false;
      if (problem.refresh) {
        this.flash(shown(`${a.tool}: ${problem.message}`), true);
        await this.refresh().catch(() => undefined);
      }
    } catch (err) {
      if (err instanceof SignedOut) return;
      view.error.textContent = `Could not reach the hub: ${(err as Error).message}. Nothing was decided.`;
      view.error.hidden = false;
    } finally {
      this.deciding.delete(a.id);
      for (const b of buttons) b.disabled = false;
    }
  }

  // ---- little things ------------------------------------------------------------

  private tick(): void {
    const now = this.now();
    for (const el of this.list.querySelectorAll<HTMLElement>('[data-age]'))
      el.textContent = formatAge(now - Date.parse(el.dataset.age ?? ''));
    for (const el of this.list.querySelectorAll<HTMLElement>('[data-countdown]')) {
      const left = Date.parse(el.dataset.countdown ?? '') - now;
      el.textContent = formatCountdown(left);
      el.classList.toggle('urgent', left < 60_000);
    }
  }

  private flash(message: string, isError = false): void {
    this.flashLine.textContent = message;
    this.flashLine.classList.toggle('error', isError);
  }
}

/** The arguments on one line, hidden characters made visible, cut with "…". */
function preview(args: Record<string, unknown>, max = 160): string {
  let json: string;
  try {
    json = JSON.stringify(args) ?? '';
  } catch {
    json = '[arguments cannot be shown as JSON]';
  }
  const visible = makeVisible(json.slice(0, max * 2));
  return visible.length > max ? `${visible.slice(0, max - 1)}…` : visible;
}
