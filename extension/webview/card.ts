import type { ApprovalRecord } from '../../shared/hub/protocol.js';
import {
  findHiddenInValue,
  makeVisible,
  summarizeHiddenCharacters,
} from '../../shared/util/visible-text.js';
import { append, type Child, h, icon } from './dom.js';
import { JsonPager, jsonTokens } from './json-view.js';

// The approval card: what a reviewer reads before deciding. The VS Code
// sidebar (app.ts) and the hub's mobile page (hub-page/) both build it from
// these functions, so a request looks the same, and hides nothing, wherever
// it is decided. DOM APIs and text nodes only (see dom.ts). Every free text
// (tool and server names, reasons, the agent's rationale) goes through
// makeVisible: a bidi override in a rationale would otherwise reorder the
// words a reviewer reads.

/** Free text as shown on the card: hidden and direction-changing characters as ⟦…⟧ markers. */
export const shown = (text: string): string => makeVisible(text);

/**
 * The fields of an approval the card shows. The sidebar's DetailItem and the
 * mobile page's PageApproval (a zod/mini subset of ApprovalRecord) both fit.
 */
export type CardApproval = Pick<
  ApprovalRecord,
  | 'id'
  | 'status'
  | 'server'
  | 'tool'
  | 'exposedName'
  | 'toolDescription'
  | 'riskClass'
  | 'policyName'
  | 'policyReason'
  | 'rationale'
  | 'client'
  | 'cwd'
  | 'args'
  | 'argsHash'
  | 'statusReason'
> & { decision?: { decidedBy: string; decidedVia?: string; reason?: string } | undefined };

/**
 * The risk class as a coloured badge.
 *
 * @example
 * riskBadge('high') // <span class="badge risk risk-high">high</span>
 */
export function riskBadge(risk: string): HTMLElement {
  return h(
    'span',
    { class: `badge risk risk-${risk}`, testid: 'risk-badge', title: `${risk} risk` },
    risk,
  );
}

/**
 * An approval's status as a badge.
 *
 * @example
 * statusBadge('approved')
 */
export function statusBadge(status: string): HTMLElement {
  return h('span', { class: `badge status status-${status}`, testid: 'status-badge' }, status);
}

/**
 * The card's heading: tool, server, risk and (once closed) status.
 *
 * @example
 * panel.append(cardTitle(approval));
 */
export function cardTitle(a: CardApproval, tag: 'h2' | 'div' = 'h2'): HTMLElement {
  return h(
    tag,
    { class: 'detail-title' },
    h('span', { class: 'tool', testid: 'card-tool' }, shown(a.tool)),
    a.server ? h('span', { class: 'server', testid: 'card-server' }, shown(a.server)) : null,
    riskBadge(a.riskClass),
    a.status !== 'pending' ? statusBadge(a.status) : null,
  );
}

/** What only the page around the card knows: where the request came from and its clock. */
export interface CardContext {
  /** "hitloop proxy in /work/app": who asked, and where. */
  process?: string;
  /** The age ("3m ago"), kept current by the caller. */
  requested?: Child;
  /** The countdown to the time-out, when there is one. */
  timesOut?: Child;
}

/**
 * The facts a reviewer weighs: server, tool, policy and its reason, the
 * agent's rationale, the client, the process, the times and the outcome.
 *
 * @example
 * panel.append(cardFacts(approval, { process: 'hitloop proxy in /work/app' }));
 */
export function cardFacts(a: CardApproval, context: CardContext = {}): HTMLDListElement {
  const facts = h('dl', { class: 'facts', testid: 'card-facts' });
  const fact = (label: string, ...value: Child[]) =>
    append(facts, h('dt', {}, label), h('dd', {}, ...value));
  if (a.server) fact('Server', shown(a.server));
  fact(
    'Tool',
    shown(
      a.exposedName && a.exposedName !== a.tool ? `${a.tool} (called as ${a.exposedName})` : a.tool,
    ),
  );
  fact('Policy', shown(`${a.policyName}: ${a.policyReason}`));
  if (a.rationale) fact('Rationale', shown(a.rationale));
  if (a.client?.name)
    fact('Client', shown([a.client.name, a.client.version].filter(Boolean).join(' ')));
  if (context.process) fact('Process', shown(context.process));
  if (context.requested) fact('Requested', context.requested);
  if (context.timesOut) fact('Times out', context.timesOut);
  if (a.status !== 'pending') {
    const d = a.decision;
    fact(
      'Outcome',
      shown(
        `${a.status}${d ? ` by ${d.decidedBy}${d.decidedVia ? ` (via ${d.decidedVia})` : ''}` : ''}${d?.reason ? `: ${d.reason}` : ''}${a.statusReason ? ` (${a.statusReason})` : ''}`,
      ),
    );
  }
  return facts;
}

/**
 * The tool's own description, folded (servers write it; it is context, not a fact).
 *
 * @example
 * append(panel, toolDescription(approval));
 */
export function toolDescription(a: CardApproval): HTMLElement | null {
  return a.toolDescription
    ? h(
        'details',
        { class: 'tool-description' },
        h('summary', {}, 'What this tool does (as its server describes it)'),
        h('p', {}, shown(a.toolDescription)),
      )
    : null;
}

/**
 * The complete arguments: a warning naming any hidden or direction-changing
 * characters, the highlighted JSON (those characters shown as ⟦…⟧ markers),
 * paged behind an explicit "Show N more bytes" button, and the SHA-256 the
 * decision will be bound to. Returns the nodes in reading order.
 *
 * @example
 * append(panel, ...argumentsSection(approval));
 */
export function argumentsSection(
  a: Pick<CardApproval, 'args' | 'argsHash'>,
  pageChars?: number,
): HTMLElement[] {
  const hidden = findHiddenInValue(a.args);
  const argsBox = h('pre', {
    class: 'json',
    testid: 'args-view',
    attrs: { 'aria-label': 'Arguments as JSON' },
  });
  const pager = new JsonPager(jsonTokens(a.args), argsBox, pageChars);
  const totalBytes = pager.remainingBytes;
  pager.render();
  const more = h('button', { class: 'secondary more', testid: 'args-more' });
  const updateMore = () => {
    more.hidden = pager.done;
    more.textContent = `Show ${pager.remainingBytes.toLocaleString('en-US')} more bytes`;
  };
  more.addEventListener('click', () => {
    pager.render();
    updateMore();
  });
  updateMore();
  const nodes: Array<HTMLElement | null> = [
    hidden.length
      ? h(
          'div',
          { class: 'warning', testid: 'hidden-warning', attrs: { role: 'note' } },
          icon('warning'),
          ` ${summarizeHiddenCharacters(hidden)}. They are shown as ⟦…⟧ markers below.`,
        )
      : null,
    h(
      'h3',
      {},
      'Arguments ',
      h('span', { class: 'muted' }, `(${totalBytes.toLocaleString('en-US')} bytes)`),
    ),
    argsBox,
    more,
    h(
      'div',
      { class: 'hash' },
      'Arguments hash (SHA-256) ',
      h('code', { testid: 'args-hash' }, a.argsHash),
    ),
  ];
  return nodes.filter((n): n is HTMLElement => n !== null);
}

/** "just now", "42s ago", "3m ago", "2h ago", "4d ago". */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 5) return 'just now';
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

/** "times out in 9:58", "times out in 1:02:03", "timed out". */
export function formatCountdown(ms: number): string {
  if (ms <= 0) return 'timed out';
  const total = Math.ceil(ms / 1000);
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = String(total % 60).padStart(2, '0');
  return hours > 0
    ? `times out in ${hours}:${String(minutes).padStart(2, '0')}:${seconds}`
    : `times out in ${minutes}:${seconds}`;
}
