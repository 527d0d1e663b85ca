import type { Frame, Locator, Page } from 'playwright-core';
import { discoverHubs, HubClient } from '../../shared/hub/index.js';
import type { ApprovalRecord } from '../../shared/hub/protocol.js';
import { findWebviewFrame } from './harness.js';

// How the e2e specs work the hitloop Approvals sidebar, by the webview's
// data-testid attributes: find a pending call's card, open it, read its
// arguments, approve or reject it. Shared by the spec that starts the proxy
// itself (sidebar.e2e.ts) and the one where VS Code starts it (mcp-in-vscode.e2e.ts).

export const ITEM = '[data-testid=approval-item]';
export const SIDEBAR_READY = `${ITEM}, [data-testid=empty-state]`;

/**
 * The pending approval whose record matches, read from the API of the hubs
 * announced under `home` (a HITLOOP_HOME), so a test knows the id of the card
 * to look for.
 *
 * @example
 * const a = await pendingApproval(home, (a) => a.args.path === target);
 */
export async function pendingApproval(
  home: string,
  match: (a: ApprovalRecord) => boolean,
  timeoutMs = 30_000,
): Promise<ApprovalRecord> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const hub of discoverHubs(home)) {
      const found = (await new HubClient(hub).listPending().catch(() => [])).find(match);
      if (found) return found;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `no hub announced under ${home} published a matching approval within ${timeoutMs} ms (hubs: ${discoverHubs(home).length})`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The card of approval `id` in the sidebar webview's list, once it shows. */
export async function card(page: Page, id: string): Promise<{ frame: Frame; item: Locator }> {
  const selector = `${ITEM}[data-approval-id="${id}"]`;
  const frame = await findWebviewFrame(page, selector, 30_000);
  const item = frame.locator(selector);
  await item.waitFor({ state: 'visible', timeout: 30_000 });
  return { frame, item };
}

/**
 * Where the card's arguments and controls are: in the card itself, or (a list
 * with a detail pane, as the hitloop sidebar has) in the detail that clicking
 * the card opens.
 */
export async function openCard(frame: Frame, item: Locator, id: string): Promise<Locator> {
  if ((await item.locator('[data-testid=approve-button]').count()) > 0) return item;
  const detail = frame.locator(`[data-testid=approval-detail][data-approval-id="${id}"]`);
  if (!(await detail.isVisible())) {
    // Click the title, not the card's corner: that holds the selection checkbox.
    const title = item.locator('[data-testid=item-tool]');
    await ((await title.count()) > 0 ? title.first() : item).click();
  }
  await detail.waitFor({ state: 'visible', timeout: 15_000 });
  return detail;
}

/** A control of the opened card (falls back to the whole webview). */
export async function control(frame: Frame, scope: Locator, testid: string): Promise<Locator> {
  const inside = scope.locator(`[data-testid=${testid}]`);
  if ((await inside.count()) > 0) return inside.first();
  return frame.locator(`[data-testid=${testid}]`).first();
}

/** The arguments as the opened card shows them, once they include `expected`. */
export async function argsText(frame: Frame, scope: Locator, expected: string): Promise<string> {
  const view = await control(frame, scope, 'args-view');
  await view.waitFor({ state: 'visible', timeout: 15_000 });
  const deadline = Date.now() + 15_000;
  let text = await view.innerText();
  while (!text.includes(expected) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    text = await view.innerText();
  }
  return text;
}

/** Rejects the opened card with a reason; `beforeConfirm` runs once the reason is typed. */
export async function rejectCard(
  frame: Frame,
  scope: Locator,
  reason: string,
  beforeConfirm?: () => Promise<void>,
): Promise<void> {
  let reasonBox = await control(frame, scope, 'reject-reason');
  if (!(await reasonBox.isVisible())) {
    // A reason field that opens on the first Reject; the second confirms.
    await (await control(frame, scope, 'reject-button')).click();
    reasonBox = await control(frame, scope, 'reject-reason');
    await reasonBox.waitFor({ state: 'visible', timeout: 10_000 });
  }
  await reasonBox.fill(reason);
  await beforeConfirm?.();
  await (await control(frame, scope, 'reject-button')).click();
}

/** Resolves once approval `id` has left the sidebar's list. */
export async function waitGone(frame: Frame, id: string): Promise<void> {
  await frame
    .locator(`${ITEM}[data-approval-id="${id}"]`)
    .waitFor({ state: 'detached', timeout: 30_000 });
}
