import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApprovalHub } from '../../shared/hub/approval-hub.js';
import type { ApprovalRecord } from '../../shared/hub/protocol.js';
import { MemoryApprovalStore } from '../../shared/stores/memory-store.js';
import { argsHash } from '../../shared/util/canonical-json.js';
import { uuidv7 } from '../../shared/util/uuidv7.js';
import { ARTIFACTS, launchBrowser, log } from './harness.js';

// The hub's approval page in a real browser (Debian's Chromium, headless, a
// phone-sized viewport) served by a real hub under its strict CSP: the page
// must work with no inline script or style, read its token from the link,
// show hostile arguments as inert visible text, and decide.

const VIEWPORT = { width: 390, height: 844 };

function pending(
  hubId: string,
  args: Record<string, unknown>,
  tool = 'write_file',
): ApprovalRecord {
  return {
    id: uuidv7(),
    hubId,
    runId: 'run-e2e',
    status: 'pending',
    server: 'fs',
    tool,
    riskClass: 'high',
    policyName: 'rules',
    policyReason: 'writes outside the workspace <b>need</b> approval',
    rationale: 'The user asked me to save the report \u202Egnp.exe',
    cwd: '/work/project',
    args,
    argsHash: argsHash(args),
    createdAt: new Date().toISOString(),
    expiresAt: new Date(Date.now() + 10 * 60_000).toISOString(),
  };
}

describe('the hub approval page in Chromium', () => {
  let hub: ApprovalHub;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let home: string;
  const problems: string[] = [];

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'hitloop-e2e-page-'));
    hub = new ApprovalHub({
      store: new MemoryApprovalStore(),
      name: 'team hub (e2e)',
      announce: false,
      home,
      listen: { host: '127.0.0.1', port: 0 },
      page: true,
    });
    await hub.start();
    log(`hub with the approval page at ${hub.url}`);
    browser = await launchBrowser();
    context = await browser.newContext({
      viewport: VIEWPORT,
      deviceScaleFactor: 1,
      isMobile: true,
      hasTouch: true,
    });
    page = await context.newPage();
    // A CSP violation or a script error is a failure of the page, whatever the test sees.
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  });

  afterAll(async () => {
    await context?.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await hub?.stop().catch(() => undefined);
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it('serves the page with its CSP, and holds no data without a token', async () => {
    const res = await fetch(`${hub.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await res.text();
    expect(html).toContain('/hub-page.js');
    expect(html).not.toContain(hub.token);
    expect((await fetch(`${hub.url}/v1/approvals`)).status).toBe(401);
  });

  it('shows a hostile request inert and visible, and approves it from the phone', async () => {
    const hostileArgs = {
      path: '/tmp/report\u202Etxt.exe',
      content: '<img src=x onerror="window.__pwned=1"></script><script>window.__pwned=2</script>',
      'note\u200B': 'zero\u200Dwidth',
    };
    const record = pending(hub.hubId, hostileArgs, '<script>window.__pwned=3</script>');
    await hub.publish(record);
    const waiting = hub.waitFor(record.id);

    await page.goto(`${hub.url}/#token=${hub.token}`);
    // The token leaves the address bar at once.
    await page.waitForFunction("!location.hash.includes('token')");
    expect(page.url()).not.toContain(hub.token);
    const card = page.locator(`[data-testid="hub-card"][data-approval-id="${record.id}"]`);
    await card.waitFor({ timeout: 15_000 });
    await page.locator('[data-testid="connection-state"][data-state="live"]').waitFor();
    expect(await page.locator('[data-testid="hub-name"]').textContent()).toBe('team hub (e2e)');

    await card.locator('[data-testid="card-toggle"]').click();
    const args = card.locator('[data-testid="args-view"]');
    await args.waitFor();
    const text = (await args.textContent()) ?? '';
    expect(text).toContain(
      '<img src=x onerror=\\"window.__pwned=1\\"></script><script>window.__pwned=2</script>',
    );
    expect(text).toContain('⟦U+202E RLO⟧');
    expect(text).toContain('⟦U+200B ZWSP⟧');
    expect(text).toContain('⟦U+200D ZWJ⟧');
    expect(text).not.toMatch(/[\u202E\u200B\u200D]/);
    expect(await card.locator('[data-testid="card-tool"]').textContent()).toBe(
      '<script>window.__pwned=3</script>',
    );
    // Free text too: the rationale's bidi override is a marker, not a reordering.
    expect(await card.locator('.card-head').textContent()).toContain('⟦U+202E RLO⟧gnp.exe');
    expect(await card.locator('[data-testid="hidden-warning"]').textContent()).toContain(
      'U+202E RLO',
    );
    // Nothing from the arguments became markup or ran.
    expect(await page.locator('#app img, #app script').count()).toBe(0);
    expect(await page.evaluate('window.__pwned')).toBeUndefined();
    // Fits a 390 px phone: nothing wider than the viewport.
    const overflow = (await page.evaluate(
      'document.documentElement.scrollWidth - window.innerWidth',
    )) as number;
    expect(overflow).toBeLessThanOrEqual(0);
    const approve = card.locator('[data-testid="approve-button"]');
    const box = await approve.boundingBox();
    expect(box?.height ?? 0).toBeGreaterThanOrEqual(44);

    await page.locator('[data-testid="reviewer-name"]').fill('alice');
    await page.locator('[data-testid="reviewer-name"]').dispatchEvent('change');
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'hub-page.png'), fullPage: true });
    log(`screenshot ${join(ARTIFACTS, 'hub-page.png')}`);

    await approve.click();
    const settled = await waiting;
    expect(settled.status).toBe('approved');
    expect(settled.decision?.decidedBy).toBe('mobile:alice');
    expect(settled.decision?.argsHash).toBe(record.argsHash);
    expect((await hub.store.get(record.id))?.status).toBe('approved');
    await card.waitFor({ state: 'detached', timeout: 10_000 });
    await page.locator('[data-testid="empty-state"]').waitFor();
  });

  it('gets a new request live and rejects it with a reason', async () => {
    const record = pending(hub.hubId, { path: '/etc/hosts', content: '127.0.0.1 evil' });
    const waiting = hub.waitFor(record.id);
    await hub.publish(record);
    const card = page.locator(`[data-testid="hub-card"][data-approval-id="${record.id}"]`);
    await card.waitFor({ timeout: 10_000 });
    await card.locator('.card-head').tap();
    await card.locator('[data-testid="reject-reason"]').fill('not the hosts file');
    await card.locator('[data-testid="reject-button"]').tap();
    const settled = await waiting;
    expect(settled.status).toBe('rejected');
    expect(settled.decision?.reason).toBe('not the hosts file');
    expect(settled.decision?.decidedBy).toBe('mobile:alice');
  });

  it('keeps the token for the tab after a reload, and a wrong token shows the message', async () => {
    await page.reload();
    await page.locator('[data-testid="connection-state"][data-state="live"]').waitFor();

    const other = await context.newPage();
    await other.goto(`${hub.url}/#token=not-the-token-of-this-hub`);
    const message = other.locator('[data-testid="auth-message"]');
    await message.waitFor({ timeout: 10_000 });
    expect(await message.textContent()).toContain('hitloop serve');
    await other.close();

    const fresh = await browser.newContext({ viewport: VIEWPORT });
    const none = await fresh.newPage();
    await none.goto(`${hub.url}/`);
    await none.locator('[data-testid="auth-message"]').waitFor({ timeout: 10_000 });
    expect(await none.locator('[data-testid="auth-message"]').textContent()).toContain(
      'hitloop serve',
    );
    await fresh.close();
    // The 401 of the wrong token logs a console error in Chromium; nothing else may.
    expect(problems.filter((p) => !/401/.test(p))).toEqual([]);
  });
});
