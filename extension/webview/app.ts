import {
  type DetailItem,
  type FromWebview,
  type HistoryView,
  type HubStatusView,
  type ItemRef,
  type PendingSummary,
  type RememberChoice,
  type RuleView,
  refKey,
  ToWebview,
} from '../../extension/src/protocol.js';
import { findHiddenInValue, summarizeHiddenCharacters } from '../../shared/util/visible-text.js';
import {
  argumentsSection,
  cardFacts,
  cardTitle,
  formatAge,
  formatCountdown,
  riskBadge,
  shown,
  statusBadge,
  toolDescription,
} from './card.js';
import { append, clear, h, icon } from './dom.js';
import { JsonPager, jsonTokens } from './json-view.js';

// Kept importable from here: the tests and older callers know them as the app's.
export { formatAge, formatCountdown };

/** What the app needs from its page: VS Code's webview API, or a test double. */
export interface AppHost {
  postMessage(message: FromWebview): void;
  getState?(): unknown;
  setState?(state: unknown): void;
}

export interface AppOptions {
  /** Pending requests rendered at a time; "Show more" adds another page. */
  pageSize?: number;
  /** Characters of arguments per page in the detail view. */
  argsPageChars?: number;
  now?: () => number;
}

type Tab = 'pending' | 'history' | 'rules';
type Snapshot = Extract<ToWebview, { type: 'snapshot' }>;
type Result = Extract<ToWebview, { type: 'result' }>;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** The messages answered with a `result`, before a request id is attached. */
type Requestable = DistributiveOmit<Extract<FromWebview, { requestId: string }>, 'requestId'>;

const REMEMBER_LABELS: Record<RememberChoice, string> = {
  none: 'Just this once',
  session: 'For this session',
  workspace: 'For this workspace',
  always: 'Always',
};

const TYPING = new Set(['INPUT', 'TEXTAREA', 'SELECT']);

/**
 * The Approvals sidebar. Everything it shows is built with DOM APIs and text
 * nodes; every message from the extension is parsed with the shared
 * protocol before it is used.
 *
 * @example
 * const app = new ApprovalsApp(document.getElementById('app')!, acquireVsCodeApi());
 * window.addEventListener('message', (e) => app.receive(e.data));
 */
export class ApprovalsApp {
  private tab: Tab = 'pending';
  private snapshot: Snapshot | undefined;
  private pending: PendingSummary[] = [];
  private readonly selected = new Set<string>();
  private focusKey: string | undefined;
  private shown: number;
  private detail: DetailItem | undefined;
  private detailStale = false;
  private history: HistoryView[] | undefined;
  private rules: RuleView[] | undefined;
  private clockOffset = 0;
  private requestCounter = 0;
  private readonly waiting = new Map<string, (result: Result) => void>();
  private timeNodes: Array<{ el: HTMLElement; kind: 'age' | 'countdown'; at: number }> = [];
  private readonly timer: ReturnType<typeof setInterval> | undefined;
  private flashTimer: ReturnType<typeof setTimeout> | undefined;

  private readonly tabs: Record<Tab, HTMLButtonElement>;
  private readonly panels: Record<Tab, HTMLElement>;
  private readonly detailPanel: HTMLElement;
  private readonly hubsLine: HTMLElement;
  private readonly flashLine: HTMLElement;
  private readonly pageSize: number;
  private readonly argsPageChars: number | undefined;
  private readonly now: () => number;

  constructor(
    root: HTMLElement,
    private readonly host: AppHost,
    options: AppOptions = {},
  ) {
    this.pageSize = options.pageSize ?? 100;
    this.shown = this.pageSize;
    this.argsPageChars = options.argsPageChars;
    this.now = options.now ?? (() => Date.now());
    const saved = host.getState?.() as { tab?: unknown } | undefined;
    if (saved?.tab === 'history' || saved?.tab === 'rules') this.tab = saved.tab;

    this.tabs = {
      pending: this.tabButton('pending', 'Pending', 'bell'),
      history: this.tabButton('history', 'History', 'history'),
      rules: this.tabButton('rules', 'Rules', 'law'),
    };
    this.panels = {
      pending: h('section', { class: 'panel', testid: 'panel-pending' }),
      history: h('section', { class: 'panel', testid: 'panel-history' }),
      rules: h('section', { class: 'panel', testid: 'panel-rules' }),
    };
    this.detailPanel = h('section', { class: 'panel detail-panel', testid: 'panel-detail' });
    this.hubsLine = h('div', { class: 'hubs-line', testid: 'hubs-status' });
    this.flashLine = h('div', {
      class: 'flash',
      testid: 'flash',
      attrs: { role: 'status', 'aria-live': 'polite' },
    });
    clear(root);
    append(
      root,
      h(
        'nav',
        { class: 'tabs', attrs: { role: 'tablist', 'aria-label': 'hitloop approvals' } },
        this.tabs.pending,
        this.tabs.history,
        this.tabs.rules,
      ),
      this.hubsLine,
      this.flashLine,
      this.panels.pending,
      this.panels.history,
      this.panels.rules,
      this.detailPanel,
    );
    root.addEventListener('keydown', (e) => this.onKey(e));
    this.panels.pending.append(h('p', { class: 'muted' }, 'Connecting to hitloop…'));
    this.showTab(this.tab);
    this.timer =
      typeof setInterval === 'function' ? setInterval(() => this.tick(), 1000) : undefined;
    this.post({ type: 'ready' });
  }

  dispose(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.flashTimer) clearTimeout(this.flashTimer);
  }

  /** Handles a message from the extension; anything that does not parse is dropped. */
  receive(raw: unknown): void {
    const parsed = ToWebview.safeParse(raw);
    if (!parsed.success) {
      console.warn('hitloop: ignored a malformed message', parsed.error.issues[0]?.message);
      return;
    }
    const message = parsed.data;
    switch (message.type) {
      case 'snapshot':
        this.onSnapshot(message);
        return;
      case 'detail':
        this.openDetail(message.item, message.focus);
        return;
      case 'detailError':
        this.flash(message.message, true);
        return;
      case 'history':
        this.history = message.items;
        if (this.tab === 'history') this.renderHistory();
        return;
      case 'rules':
        this.rules = message.items;
        if (this.tab === 'rules') this.renderRules();
        return;
      case 'result': {
        const done = this.waiting.get(message.requestId);
        this.waiting.delete(message.requestId);
        done?.(message);
        return;
      }
      case 'focus':
        this.post({ type: 'openDetail', ref: message.ref });
        return;
    }
  }

  /** Updates ages and countdowns (every second). */
  tick(): void {
    const now = this.now() + this.clockOffset;
    for (const node of this.timeNodes) {
      if (!node.el.isConnected) continue;
      node.el.textContent =
        node.kind === 'age' ? formatAge(now - node.at) : formatCountdown(node.at - now);
      node.el.classList.toggle('urgent', node.kind === 'countdown' && node.at - now < 60_000);
    }
    this.timeNodes = this.timeNodes.filter((n) => n.el.isConnected);
  }

  // ---- messages ---------------------------------------------------------------

  private post(message: FromWebview): void {
    this.host.postMessage(message);
  }

  /** Sends a message that the extension answers with a `result`. */
  private request(message: Requestable): Promise<Result> {
    const requestId = `r${++this.requestCounter}`;
    return new Promise((resolve) => {
      this.waiting.set(requestId, resolve);
      this.post({ ...message, requestId } as FromWebview);
    });
  }

  private onSnapshot(snapshot: Snapshot): void {
    this.snapshot = snapshot;
    this.clockOffset = Date.parse(snapshot.now) - this.now();
    if (Number.isNaN(this.clockOffset)) this.clockOffset = 0;
    const previousIds = new Map(this.pending.map((p) => [refKey(p), p.id]));
    this.pending = snapshot.pending;
    const keys = new Set(this.pending.map(refKey));
    // An approval is listed once, through one hub; which hub can change (a
    // shared store, a hub reconnecting), so a checked one follows its id.
    const keyById = new Map(this.pending.map((p) => [p.id, refKey(p)]));
    let selectionChanged = false;
    for (const key of [...this.selected]) {
      if (!keys.has(key)) {
        this.selected.delete(key);
        const id = previousIds.get(key);
        const moved = id === undefined ? undefined : keyById.get(id);
        if (moved) this.selected.add(moved);
        selectionChanged = true;
      }
    }
    if (selectionChanged) this.postSelection();
    this.tabs.pending.querySelector('.count')!.textContent = this.pending.length
      ? String(this.pending.length)
      : '';
    this.renderHubsLine(snapshot.hubs, snapshot.hiddenByScope);
    if (this.detail && this.detail.approval.status === 'pending' && this.detail.actionable) {
      const stillPending = keyById.has(this.detail.approval.id);
      if (!stillPending && !this.detailStale) this.markDetailStale();
    }
    if (this.tab === 'pending') this.renderList();
  }

  // ---- tabs -------------------------------------------------------------------

  private tabButton(tab: Tab, label: string, glyph: string): HTMLButtonElement {
    return h(
      'button',
      {
        class: 'tab',
        testid: `tab-${tab}`,
        attrs: { role: 'tab', 'aria-selected': 'false' },
        onClick: () => this.showTab(tab),
      },
      icon(glyph),
      ` ${label} `,
      h('span', { class: 'count', attrs: { 'aria-label': 'pending count' } }),
    );
  }

  private showTab(tab: Tab): void {
    this.tab = tab;
    this.host.setState?.({ tab });
    this.closeDetail(false);
    for (const t of ['pending', 'history', 'rules'] as const) {
      this.tabs[t].setAttribute('aria-selected', String(t === tab));
      this.tabs[t].classList.toggle('active', t === tab);
      this.panels[t].hidden = t !== tab;
    }
    if (tab === 'pending') this.renderList();
    if (tab === 'history') {
      this.renderHistory();
      this.post({ type: 'loadHistory' });
    }
    if (tab === 'rules') {
      this.renderRules();
      this.post({ type: 'loadRules' });
    }
  }

  private renderHubsLine(hubs: HubStatusView[], hidden: number): void {
    clear(this.hubsLine);
    if (hubs.length === 0) return;
    // A remote hub (hitloop.remoteHubs) runs on another machine: it has a URL,
    // no process or working directory here.
    const remote = hubs.filter((hub) => hub.remote);
    const local = hubs.length - remote.length;
    const retrying = hubs.filter((hub) => hub.state === 'retrying');
    const parts = [
      local ? `${local} hitloop process${local === 1 ? '' : 'es'}` : '',
      remote.length === 1
        ? `remote hub ${remote[0]!.name}`
        : remote.length
          ? `${remote.length} remote hubs`
          : '',
      retrying.length ? `${retrying.length} reconnecting` : '',
      hidden ? `${hidden} pending in other workspaces` : '',
    ].filter(Boolean);
    this.hubsLine.append(
      icon(retrying.length ? 'debug-disconnect' : 'plug'),
      ` ${parts.join(' · ')}`,
    );
    const problem = retrying.find((hub) => hub.remote && hub.lastError);
    if (problem) {
      this.hubsLine.append(
        h(
          'div',
          { class: 'hub-problem', testid: 'hub-problem' },
          `${problem.name}: ${problem.lastError}`,
        ),
      );
    }
    this.hubsLine.title = hubs
      .map(
        (hub) =>
          `${hub.remote ? `${hub.name} at ${hub.url ?? '?'} (remote hub)` : `${hub.name} (pid ${hub.pid ?? '?'}) in ${hub.cwd ?? '?'}`}: ${hub.state}${hub.lastError ? ` (${hub.lastError})` : ''}`,
      )
      .join('\n');
  }

  // ---- pending list -----------------------------------------------------------

  private renderList(): void {
    const panel = this.panels.pending;
    const hadFocus = panel.contains(document.activeElement);
    clear(panel);
    this.timeNodes = this.timeNodes.filter((n) => this.detailPanel.contains(n.el));
    if (!this.snapshot) {
      panel.append(h('p', { class: 'muted' }, 'Connecting to hitloop…'));
      return;
    }
    if (this.pending.length === 0) {
      panel.append(this.emptyState(this.snapshot));
      return;
    }
    panel.append(this.bulkBar());
    const list = h('ul', {
      class: 'list',
      testid: 'approval-list',
      attrs: {
        role: 'listbox',
        'aria-multiselectable': 'true',
        'aria-label': 'Pending approvals, newest first',
      },
    });
    const shown = this.pending.slice(0, this.shown);
    if (!this.focusKey || !shown.some((p) => refKey(p) === this.focusKey))
      this.focusKey = shown[0] ? refKey(shown[0]) : undefined;
    for (const summary of shown) list.append(this.listItem(summary));
    panel.append(list);
    const rest = this.pending.length - shown.length;
    if (rest > 0) {
      panel.append(
        h(
          'button',
          {
            class: 'secondary show-more',
            testid: 'show-more',
            onClick: () => {
              this.shown += this.pageSize;
              this.renderList();
            },
          },
          `Show ${Math.min(rest, this.pageSize)} more (${rest} not shown)`,
        ),
      );
    }
    if (hadFocus) this.focusItem(this.focusKey);
    this.tick();
  }

  private listItem(p: PendingSummary): HTMLLIElement {
    const key = refKey(p);
    const selected = this.selected.has(key);
    const checkbox = h('input', {
      class: 'select',
      testid: 'select-checkbox',
      attrs: {
        type: 'checkbox',
        tabindex: '-1',
        'aria-label': `Select ${p.tool}`,
        checked: selected,
      },
    });
    checkbox.checked = selected;
    checkbox.addEventListener('click', (e) => {
      e.stopPropagation();
      this.toggleSelected(key, checkbox.checked);
    });
    const age = h('span', { class: 'age' });
    this.timeNodes.push({ el: age, kind: 'age', at: Date.parse(p.createdAt) });
    let countdown: HTMLElement | undefined;
    if (p.expiresAt) {
      countdown = h('span', { class: 'countdown', testid: 'countdown' });
      this.timeNodes.push({ el: countdown, kind: 'countdown', at: Date.parse(p.expiresAt) });
    }
    const item = h(
      'li',
      {
        class: `item${selected ? ' selected' : ''}`,
        testid: 'approval-item',
        attrs: {
          role: 'option',
          tabindex: key === this.focusKey ? '0' : '-1',
          'aria-selected': String(selected),
          'data-approval-id': p.id,
          'data-hub-id': p.hubId,
          'data-risk': p.riskClass,
        },
        onClick: () => this.post({ type: 'openDetail', ref: { hubId: p.hubId, id: p.id } }),
      },
      checkbox,
      h(
        'div',
        { class: 'item-main' },
        h(
          'div',
          { class: 'line title-line' },
          h('span', { class: 'tool', testid: 'item-tool' }, shown(p.tool)),
          p.server ? h('span', { class: 'server', testid: 'item-server' }, shown(p.server)) : null,
          riskBadge(p.riskClass),
        ),
        h('div', { class: 'line reason', testid: 'item-reason' }, shown(p.policyReason)),
        p.rationale ? h('div', { class: 'line rationale' }, `“${shown(p.rationale)}”`) : null,
        h('div', { class: 'line preview', testid: 'item-preview' }, p.argsPreview),
        h(
          'div',
          { class: 'line meta' },
          age,
          countdown ? ' · ' : null,
          countdown ?? null,
          ` · ${p.hubName}`,
          p.clientName ? ` · ${p.clientName}` : null,
        ),
      ),
    );
    item.addEventListener('focus', () => {
      this.focusKey = key;
    });
    return item;
  }

  private bulkBar(): HTMLElement {
    const n = this.selected.size;
    const shown = this.pending.slice(0, this.shown);
    const all = shown.length > 0 && shown.every((p) => this.selected.has(refKey(p)));
    const selectAll = h('input', {
      testid: 'select-all',
      attrs: { type: 'checkbox', 'aria-label': 'Select all shown' },
    });
    selectAll.checked = all;
    selectAll.addEventListener('change', () => {
      for (const p of shown) {
        if (selectAll.checked) this.selected.add(refKey(p));
        else this.selected.delete(refKey(p));
      }
      this.postSelection();
      this.renderList();
    });
    const bar = h(
      'div',
      { class: 'bulk-bar', testid: 'bulk-bar' },
      h('label', { class: 'select-all' }, selectAll, n ? ` ${n} selected` : ' Select all'),
    );
    if (n > 0) {
      const reason = h('input', {
        class: 'reason-input',
        testid: 'bulk-reason',
        attrs: {
          type: 'text',
          placeholder: 'Reason for rejecting (sent to the agent)',
          'aria-label': 'Reason for rejecting the selected requests',
          maxlength: '4000',
        },
      });
      reason.addEventListener('keydown', (e) => {
        if (e.key === 'Enter') void this.bulkDecide(false, reason.value);
      });
      append(
        bar,
        h(
          'button',
          {
            class: 'primary',
            testid: 'bulk-approve',
            onClick: () => void this.bulkDecide(true),
          },
          icon('check-all'),
          ` Approve ${n}`,
        ),
        h(
          'button',
          {
            class: 'danger',
            testid: 'bulk-reject',
            onClick: () => void this.bulkDecide(false, reason.value),
          },
          icon('close-all'),
          ` Reject ${n}`,
        ),
        reason,
        h(
          'button',
          {
            class: 'secondary',
            testid: 'bulk-clear',
            onClick: () => {
              this.selected.clear();
              this.postSelection();
              this.renderList();
            },
          },
          'Clear',
        ),
      );
    }
    return bar;
  }

  private toggleSelected(key: string, on = !this.selected.has(key)): void {
    if (on) this.selected.add(key);
    else this.selected.delete(key);
    this.focusKey = key;
    this.postSelection();
    this.renderList();
    this.focusItem(key);
  }

  private postSelection(): void {
    const items: ItemRef[] = [];
    for (const p of this.pending)
      if (this.selected.has(refKey(p))) items.push({ hubId: p.hubId, id: p.id });
    this.post({ type: 'selection', items });
  }

  private async bulkDecide(approve: boolean, reason = ''): Promise<void> {
    const items = this.pending
      .filter((p) => this.selected.has(refKey(p)))
      .map((p) => ({ hubId: p.hubId, id: p.id, argsHash: p.argsHash }));
    if (items.length === 0) return;
    this.setBusy(this.panels.pending, true);
    const result = await this.request({
      type: 'decide',
      items,
      approve,
      ...(reason.trim() ? { reason: reason.trim() } : {}),
    });
    this.setBusy(this.panels.pending, false);
    if (result.ok) this.selected.clear();
    this.postSelection();
    this.flash(result.message, !result.ok);
    this.renderList();
  }

  private emptyState(snapshot: Snapshot): HTMLElement {
    const box = h('div', { class: 'empty', testid: 'empty-state' });
    if (snapshot.hubs.length === 0) {
      append(
        box,
        h('h2', {}, icon('shield'), ' No hitloop proxy is running'),
        h(
          'p',
          {},
          'Tool calls that need your approval appear here once your MCP servers run through hitloop. Route the servers in this workspace’s .vscode/mcp.json:',
        ),
        h(
          'div',
          { class: 'actions' },
          h(
            'button',
            {
              class: 'primary',
              testid: 'route-servers',
              onClick: () =>
                this.post({ type: 'runCommand', command: 'hitloop.routeWorkspaceServers' }),
            },
            icon('shield'),
            ' Route workspace servers through hitloop',
          ),
          h(
            'button',
            {
              class: 'secondary',
              testid: 'open-walkthrough',
              onClick: () => this.post({ type: 'runCommand', command: 'hitloop.openWalkthrough' }),
            },
            icon('book'),
            ' Get started',
          ),
        ),
        h('p', {}, 'or start hitloop in front of a server in a terminal:'),
        h(
          'pre',
          { class: 'command', testid: 'empty-command' },
          'hitloop proxy --http 127.0.0.1:3333 -- npx -y @modelcontextprotocol/server-filesystem .',
        ),
        h(
          'p',
          { class: 'muted' },
          `Looking for running hitloop processes in ${snapshot.home}/hubs`,
        ),
        h(
          'button',
          {
            class: 'secondary',
            testid: 'refresh-button',
            onClick: () => this.post({ type: 'refresh' }),
          },
          icon('refresh'),
          ' Look again',
        ),
      );
    } else {
      append(
        box,
        h('h2', {}, icon('pass'), ' Nothing waits for approval'),
        h(
          'p',
          { class: 'muted' },
          `Connected to ${snapshot.hubs.length} hitloop process${snapshot.hubs.length === 1 ? '' : 'es'}. New requests appear here as they arrive.`,
        ),
      );
    }
    if (snapshot.hiddenByScope > 0) {
      append(
        box,
        h(
          'p',
          { testid: 'hidden-by-scope' },
          `${snapshot.hiddenByScope} request${snapshot.hiddenByScope === 1 ? '' : 's'} from other workspaces ${snapshot.hiddenByScope === 1 ? 'is' : 'are'} hidden. `,
          h(
            'button',
            {
              class: 'link',
              testid: 'show-all-workspaces',
              onClick: () => this.post({ type: 'setScope', scope: 'all' }),
            },
            'Show all workspaces',
          ),
        ),
      );
    }
    return box;
  }

  // ---- detail -----------------------------------------------------------------

  private openDetail(item: DetailItem, focus?: 'approve' | 'reject'): void {
    this.detail = item;
    this.detailStale = false;
    for (const t of ['pending', 'history', 'rules'] as const) this.panels[t].hidden = true;
    this.detailPanel.hidden = false;
    this.renderDetail(item);
    this.post({ type: 'viewing', ref: { hubId: item.hubId, id: item.approval.id } });
    const target =
      focus === 'reject'
        ? this.detailPanel.querySelector<HTMLElement>('[data-testid="reject-reason"]')
        : this.detailPanel.querySelector<HTMLElement>('[data-testid="back-button"]');
    target?.focus();
  }

  private closeDetail(render = true): void {
    if (!this.detail) {
      this.detailPanel.hidden = true;
      return;
    }
    const key = refKey({ hubId: this.detail.hubId, id: this.detail.approval.id });
    this.detail = undefined;
    clear(this.detailPanel);
    this.detailPanel.hidden = true;
    this.post({ type: 'viewing' });
    if (!render) return;
    this.panels[this.tab].hidden = false;
    if (this.tab === 'pending') {
      this.renderList();
      this.focusItem(this.pending.some((p) => refKey(p) === key) ? key : this.focusKey);
    }
  }

  private markDetailStale(): void {
    this.detailStale = true;
    const banner = this.detailPanel.querySelector('[data-testid="detail-status"]');
    if (banner) {
      banner.textContent =
        'This request is no longer pending: it was decided elsewhere, withdrawn or timed out.';
      (banner as HTMLElement).hidden = false;
    }
    for (const button of this.detailPanel.querySelectorAll<HTMLButtonElement>('.decide')) {
      button.disabled = true;
    }
  }

  private renderDetail(item: DetailItem): void {
    const a = item.approval;
    const panel = this.detailPanel;
    clear(panel);
    this.timeNodes = this.timeNodes.filter((n) => !panel.contains(n.el));
    const actionable = item.actionable;
    const age = h('span', { class: 'age' });
    this.timeNodes.push({ el: age, kind: 'age', at: Date.parse(a.createdAt) });
    const countdown = a.expiresAt
      ? h('span', { class: 'countdown', testid: 'detail-countdown' })
      : null;
    if (countdown && a.expiresAt)
      this.timeNodes.push({ el: countdown, kind: 'countdown', at: Date.parse(a.expiresAt) });

    const facts = cardFacts(a, {
      process: item.hubRemote
        ? `${item.hubName} (remote hub)${a.cwd ? `, asked in ${a.cwd} on another machine` : ''}`
        : `${item.hubName} in ${a.cwd ?? item.hubCwd ?? '?'}`,
      requested: age,
      timesOut: countdown,
    });
    const args = argumentsSection(a, this.argsPageChars);

    const remember = h('select', {
      testid: 'remember-select',
      attrs: { 'aria-label': 'Remember this decision' },
    });
    for (const choice of ['none', 'session', 'workspace', 'always'] as const) {
      const option = h('option', { attrs: { value: choice } }, REMEMBER_LABELS[choice]);
      remember.append(option);
    }
    remember.value = this.snapshot?.defaultRemember ?? 'none';

    const reason = h('input', {
      class: 'reason-input',
      testid: 'reject-reason',
      attrs: {
        type: 'text',
        placeholder: 'Reason for rejecting (sent to the agent)',
        'aria-label': 'Reason for rejecting',
        maxlength: '4000',
      },
    });
    const error = h('div', { class: 'error', testid: 'decision-error', attrs: { role: 'alert' } });
    error.hidden = true;

    const decide = async (approve: boolean, editedArgs?: Record<string, unknown>) => {
      if (!this.detail || this.detailStale) return;
      error.hidden = true;
      this.setBusy(panel, true);
      const choice = remember.value as RememberChoice;
      const result = await this.request({
        type: 'decide',
        items: [{ hubId: item.hubId, id: a.id, argsHash: a.argsHash }],
        approve,
        ...(!approve && reason.value.trim() ? { reason: reason.value.trim() } : {}),
        ...(editedArgs ? { editedArgs } : {}),
        ...(choice !== 'none' ? { remember: choice } : {}),
      });
      this.setBusy(panel, false);
      if (this.detailStale)
        for (const b of panel.querySelectorAll<HTMLButtonElement>('.decide')) b.disabled = true;
      if (result.ok) {
        this.flash(`${a.tool}: ${result.message}${editedArgs ? ' (with your edits)' : ''}`);
        this.closeDetail();
        return;
      }
      const target = editedArgs ? editErrors : error;
      showError(target, result.message, result.details);
    };

    reason.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') {
        e.preventDefault();
        void decide(false);
      }
    });

    // The editor: JSON checked for syntax here; the hub checks it against the
    // tool's input schema and answers 422 with details, shown under it.
    const textarea = h('textarea', {
      testid: 'edit-textarea',
      attrs: { spellcheck: 'false', 'aria-label': 'Edited arguments (JSON)', rows: '14' },
    });
    const editErrors = h('div', {
      class: 'error',
      testid: 'edit-errors',
      attrs: { role: 'alert' },
    });
    editErrors.hidden = true;
    const editWarning = h('div', { class: 'warning', testid: 'edit-hidden-warning' });
    editWarning.hidden = true;
    const parseEdit = (): Record<string, unknown> | undefined => {
      const checked = checkJsonObject(textarea.value);
      if (!checked.ok) {
        showError(editErrors, checked.message);
        editWarning.hidden = true;
        return undefined;
      }
      editErrors.hidden = true;
      const found = findHiddenInValue(checked.value);
      editWarning.hidden = found.length === 0;
      editWarning.textContent = found.length ? `⚠ ${summarizeHiddenCharacters(found)}` : '';
      return checked.value;
    };
    textarea.addEventListener('input', () => void parseEdit());
    const editor = h(
      'div',
      { class: 'editor', testid: 'editor' },
      h(
        'p',
        { class: 'muted' },
        'Edit the arguments as JSON. What you approve here is what runs; the hub checks it against the tool’s input schema.',
      ),
      textarea,
      editWarning,
      editErrors,
      h(
        'div',
        { class: 'actions' },
        h(
          'button',
          {
            class: 'primary decide',
            testid: 'edit-save',
            onClick: () => {
              const edited = parseEdit();
              if (edited) void decide(true, edited);
            },
          },
          icon('check'),
          ' Approve edited',
        ),
        item.diffAvailable
          ? h(
              'button',
              {
                class: 'secondary',
                testid: 'edit-diff',
                onClick: () => {
                  const edited = parseEdit();
                  if (edited)
                    this.post({
                      type: 'showDiff',
                      ref: { hubId: item.hubId, id: a.id },
                      editedArgs: edited,
                    });
                },
              },
              icon('diff'),
              ' Diff of edit',
            )
          : null,
        h(
          'button',
          {
            class: 'secondary',
            testid: 'edit-cancel',
            onClick: () => {
              editor.hidden = true;
              editErrors.hidden = true;
            },
          },
          'Cancel',
        ),
      ),
      a.inputSchema
        ? h(
            'details',
            { class: 'schema' },
            h('summary', {}, 'Input schema'),
            schemaView(a.inputSchema),
          )
        : null,
    );
    editor.hidden = true;
    const openEditor = () => {
      if (!editor.hidden) return textarea.focus();
      textarea.value = JSON.stringify(a.args, null, 2);
      editor.hidden = false;
      parseEdit();
      textarea.focus();
    };

    const status = h('div', {
      class: 'banner',
      testid: 'detail-status',
      attrs: { role: 'status' },
    });
    status.hidden = actionable;
    if (!actionable) {
      status.textContent =
        a.status === 'pending'
          ? 'The hitloop process that asked is not connected; this request cannot be answered from here.'
          : `This request is ${a.status}.`;
    }

    append(
      panel,
      h(
        'div',
        {
          class: 'detail',
          testid: 'approval-detail',
          attrs: { 'data-approval-id': a.id, 'data-hub-id': item.hubId },
        },
        h(
          'div',
          { class: 'detail-nav' },
          h(
            'button',
            {
              class: 'secondary',
              testid: 'back-button',
              onClick: () => this.closeDetail(),
              attrs: { 'aria-label': 'Back to the list (Escape)' },
            },
            icon('arrow-left'),
            ' Back',
          ),
        ),
        cardTitle(a),
        status,
        facts,
        toolDescription(a),
        ...args,
        error,
        actionable
          ? h(
              'div',
              { class: 'actions', testid: 'detail-actions' },
              h(
                'button',
                {
                  class: 'primary decide',
                  testid: 'approve-button',
                  title: 'Approve (a)',
                  onClick: () => void decide(true),
                },
                icon('check'),
                ' Approve',
              ),
              h(
                'button',
                {
                  class: 'secondary decide',
                  testid: 'edit-button',
                  title: 'Edit the arguments, then approve (e)',
                  onClick: openEditor,
                },
                icon('edit'),
                ' Edit',
              ),
              item.diffAvailable
                ? h(
                    'button',
                    {
                      class: 'secondary',
                      testid: 'diff-button',
                      title: 'Show the change to the file on disk (d)',
                      onClick: () =>
                        this.post({ type: 'showDiff', ref: { hubId: item.hubId, id: a.id } }),
                    },
                    icon('diff'),
                    ' Show diff',
                  )
                : null,
              h('label', { class: 'remember' }, 'Remember ', remember),
              h(
                'div',
                { class: 'reject-row' },
                reason,
                h(
                  'button',
                  {
                    class: 'danger decide',
                    testid: 'reject-button',
                    title: 'Reject (r, then Enter)',
                    onClick: () => void decide(false),
                  },
                  icon('close'),
                  ' Reject',
                ),
              ),
            )
          : null,
        actionable ? editor : null,
      ),
    );
    this.tick();
  }

  // ---- history and rules ------------------------------------------------------

  private renderHistory(): void {
    const panel = this.panels.history;
    clear(panel);
    if (!this.history) {
      panel.append(h('p', { class: 'muted' }, 'Loading history…'));
      return;
    }
    if (this.history.length === 0) {
      panel.append(
        h(
          'p',
          { class: 'empty', testid: 'history-empty' },
          'No decisions yet in the running hitloop processes.',
        ),
      );
      return;
    }
    const list = h('ul', { class: 'list', testid: 'history-list', attrs: { role: 'list' } });
    for (const item of this.history) {
      const when = h('span', { class: 'age' });
      this.timeNodes.push({
        el: when,
        kind: 'age',
        at: Date.parse(item.decidedAt ?? item.createdAt),
      });
      list.append(
        h(
          'li',
          {
            class: 'item',
            testid: 'history-item',
            attrs: { tabindex: '0', 'data-approval-id': item.id, 'data-status': item.status },
            onClick: () =>
              this.post({ type: 'openDetail', ref: { hubId: item.hubId, id: item.id } }),
          },
          h(
            'div',
            { class: 'item-main' },
            h(
              'div',
              { class: 'line title-line' },
              statusBadge(item.status),
              h('span', { class: 'tool' }, item.tool),
              item.server ? h('span', { class: 'server' }, item.server) : null,
              item.edited ? h('span', { class: 'badge edited' }, 'edited') : null,
            ),
            item.reason ? h('div', { class: 'line reason' }, item.reason) : null,
            h(
              'div',
              { class: 'line meta' },
              when,
              item.decidedBy ? ` · ${item.decidedBy}` : '',
              ` · ${item.hubName}`,
            ),
          ),
        ),
      );
    }
    panel.append(list);
    this.tick();
  }

  private renderRules(): void {
    const panel = this.panels.rules;
    clear(panel);
    if (!this.rules) {
      panel.append(h('p', { class: 'muted' }, 'Loading rules…'));
      return;
    }
    if (this.rules.length === 0) {
      panel.append(
        h(
          'p',
          { class: 'empty', testid: 'rules-empty' },
          'No remembered decisions. Choose “Remember” when you approve or reject to create one; it shows here and can be revoked.',
        ),
      );
      return;
    }
    const list = h('ul', { class: 'list', testid: 'rules-list', attrs: { role: 'list' } });
    for (const { hubId, rule } of this.rules) {
      const revoke = h(
        'button',
        { class: 'secondary', testid: 'revoke-button' },
        icon('trash'),
        ' Revoke',
      );
      let armed: ReturnType<typeof setTimeout> | undefined;
      revoke.addEventListener('click', async () => {
        if (!armed) {
          revoke.textContent = 'Confirm revoke';
          revoke.classList.add('danger');
          armed = setTimeout(() => {
            armed = undefined;
            revoke.textContent = 'Revoke';
            revoke.classList.remove('danger');
          }, 4000);
          return;
        }
        clearTimeout(armed);
        revoke.disabled = true;
        const result = await this.request({ type: 'revokeRule', hubId, ruleId: rule.id });
        this.flash(result.ok ? `Rule for ${rule.tool} revoked` : result.message, !result.ok);
      });
      const scope =
        rule.scope === 'workspace' && rule.workspace
          ? `workspace ${rule.workspace}`
          : rule.scope === 'session'
            ? 'this session'
            : 'always';
      list.append(
        h(
          'li',
          { class: 'item rule', testid: 'rule-item', attrs: { 'data-rule-id': rule.id } },
          h(
            'div',
            { class: 'item-main' },
            h(
              'div',
              { class: 'line title-line' },
              h(
                'span',
                { class: `badge effect-${rule.effect}` },
                rule.effect === 'allow' ? 'allow' : 'deny',
              ),
              h('span', { class: 'tool' }, rule.tool),
              rule.server ? h('span', { class: 'server' }, rule.server) : null,
            ),
            h(
              'div',
              { class: 'line reason' },
              `${scope}${rule.argsHash ? ` · only these exact arguments (${rule.argsHash.slice(0, 12)}…)` : ' · any arguments'}`,
            ),
            h(
              'div',
              { class: 'line meta' },
              `by ${rule.createdBy} · ${new Date(rule.createdAt).toLocaleString()}`,
            ),
          ),
          revoke,
        ),
      );
    }
    panel.append(list);
  }

  // ---- keyboard ---------------------------------------------------------------

  private onKey(e: KeyboardEvent): void {
    const target = e.target as HTMLElement | null;
    const typing =
      target !== null &&
      TYPING.has(target.tagName) &&
      !(target.tagName === 'INPUT' && (target as HTMLInputElement).type === 'checkbox');
    if (e.key === 'Escape' && this.detail) {
      if (typing) (target as HTMLElement).blur();
      else this.closeDetail();
      e.preventDefault();
      return;
    }
    if (typing || e.ctrlKey || e.metaKey || e.altKey) return;
    if (this.detail) return this.onDetailKey(e);
    if (this.tab !== 'pending') return;
    const shown = this.pending.slice(0, this.shown);
    const index = shown.findIndex((p) => refKey(p) === this.focusKey);
    const current = shown[index];
    const move = (to: number) => {
      if (to >= this.shown && to < this.pending.length) {
        this.shown += this.pageSize;
        this.renderList();
      }
      const next = this.pending[Math.max(0, Math.min(to, this.pending.length - 1))];
      if (next) this.focusItem(refKey(next));
      e.preventDefault();
    };
    switch (e.key) {
      case 'ArrowDown':
      case 'j':
        return move(index + 1);
      case 'ArrowUp':
      case 'k':
        return move(index - 1);
      case 'Home':
        return move(0);
      case 'End':
        return move(shown.length - 1);
      case 'Enter':
        if (current)
          this.post({ type: 'openDetail', ref: { hubId: current.hubId, id: current.id } });
        e.preventDefault();
        return;
      case ' ':
        if (current) this.toggleSelected(refKey(current));
        e.preventDefault();
        return;
      case 'a':
        e.preventDefault();
        if (this.selected.size > 0) return void this.bulkDecide(true);
        if (current) void this.approveFromList(current);
        return;
      case 'r':
        e.preventDefault();
        if (this.selected.size > 0) {
          this.panels.pending.querySelector<HTMLElement>('[data-testid="bulk-reason"]')?.focus();
          return;
        }
        if (current)
          this.post({
            type: 'openDetail',
            ref: { hubId: current.hubId, id: current.id },
            focus: 'reject',
          });
        return;
    }
  }

  private onDetailKey(e: KeyboardEvent): void {
    const click = (testid: string) => {
      const el = this.detailPanel.querySelector<HTMLButtonElement>(`[data-testid="${testid}"]`);
      if (el && !el.disabled) el.click();
      e.preventDefault();
    };
    switch (e.key) {
      case 'a':
        return click('approve-button');
      case 'r':
        this.detailPanel.querySelector<HTMLElement>('[data-testid="reject-reason"]')?.focus();
        e.preventDefault();
        return;
      case 'e':
        return click('edit-button');
      case 'd':
        return click('diff-button');
      case 'Backspace':
        this.closeDetail();
        e.preventDefault();
        return;
    }
  }

  private async approveFromList(p: PendingSummary): Promise<void> {
    const remember = this.snapshot?.defaultRemember ?? 'none';
    const result = await this.request({
      type: 'decide',
      items: [{ hubId: p.hubId, id: p.id, argsHash: p.argsHash }],
      approve: true,
      ...(remember !== 'none' ? { remember } : {}),
    });
    this.flash(`${p.tool}: ${result.message}`, !result.ok);
  }

  private focusItem(key: string | undefined): void {
    if (!key) return;
    this.focusKey = key;
    const items = this.panels.pending.querySelectorAll<HTMLElement>(
      '[data-testid="approval-item"]',
    );
    for (const item of items) {
      const mine =
        refKey({ hubId: item.dataset.hubId ?? '', id: item.dataset.approvalId ?? '' }) === key;
      item.tabIndex = mine ? 0 : -1;
      if (mine) {
        item.focus();
        item.scrollIntoView?.({ block: 'nearest' });
      }
    }
  }

  // ---- little things ----------------------------------------------------------

  private flash(message: string, isError = false): void {
    this.flashLine.textContent = message;
    this.flashLine.classList.toggle('error', isError);
    if (this.flashTimer) clearTimeout(this.flashTimer);
    // Errors stay until the next message; confirmations fade.
    if (!isError && typeof setTimeout === 'function') {
      this.flashTimer = setTimeout(() => {
        if (this.flashLine.textContent === message) this.flashLine.textContent = '';
      }, 8000);
    }
  }

  private setBusy(container: HTMLElement, busy: boolean): void {
    container.classList.toggle('busy', busy);
    container.setAttribute('aria-busy', String(busy));
    for (const button of container.querySelectorAll<HTMLButtonElement>(
      'button.decide, button.primary, button.danger',
    )) {
      button.disabled = busy;
    }
  }
}

function showError(target: HTMLElement, message: string, details?: string[]): void {
  clear(target);
  target.append(h('p', {}, message));
  if (details?.length) {
    const list = h('ul', { testid: 'error-details' });
    for (const d of details) list.append(h('li', {}, d));
    target.append(list);
  }
  target.hidden = false;
}

function schemaView(schema: Record<string, unknown>): HTMLElement {
  const pre = h('pre', { class: 'json', testid: 'schema-view' });
  new JsonPager(jsonTokens(schema), pre).render();
  return pre;
}

/**
 * Parses edited arguments: JSON, and an object (tool arguments always are).
 *
 * @example
 * checkJsonObject('{"a": 1}') // { ok: true, value: { a: 1 } }
 * checkJsonObject('[1]').ok // false
 */
export function checkJsonObject(
  text: string,
): { ok: true; value: Record<string, unknown> } | { ok: false; message: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, message: `Not valid JSON: ${(err as Error).message}` };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    return { ok: false, message: 'The arguments must be a JSON object ({ … }).' };
  return { ok: true, value: value as Record<string, unknown> };
}
