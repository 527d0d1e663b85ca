import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Frame, Locator, Page } from 'playwright-core';
import { expect } from 'vitest';
import { discoverHubs } from '../../shared/hub/index.js';
import {
  ARTIFACTS,
  answerDialog,
  type CodeServer,
  findWebviewFrame,
  isolatedEnv,
  launchBrowser,
  log,
  openActivityView,
  openDialog,
  openWorkbench,
  pickQuickRow,
  ROOT,
  runCommand,
  startCodeServer,
  tempRoot,
} from './harness.js';
import {
  argsText,
  card,
  control,
  openCard,
  pendingApproval,
  SIDEBAR_READY,
  waitGone,
} from './sidebar-driver.js';

// One VS Code window as a user of the VSIX alone has it: code-server 4.139.1
// with an empty HOME and no node on PATH, the hitloop VSIX and the test-only
// extension (fixtures/lm-tool-caller) that calls tools with
// vscode.lm.invokeTool, and Chromium showing the workbench. What the specs in
// mcp-in-vscode.e2e.ts and route-in-vscode.e2e.ts do with it goes through
// the methods here.

/**
 * How the proxy starts (HITLOOP_E2E_LAUNCHER):
 * - `vsix` (default): no hitloop setting; the extension starts the proxy it
 *   carries, with VS Code's own runtime (the "VSIX alone").
 * - `explicit`: hitloop.proxyLauncher = [this machine's node, dist/cli/main.js]
 *   (a checkout's build), for a VSIX that does not carry the proxy.
 */
export const LAUNCHER = (() => {
  const value = process.env.HITLOOP_E2E_LAUNCHER ?? 'vsix';
  if (value !== 'vsix' && value !== 'explicit') {
    throw new Error(`HITLOOP_E2E_LAUNCHER=${value}: expected vsix or explicit`);
  }
  return value;
})();

export const LIGHT_THEME = 'Light 2026';
export const DARK_THEME = 'Dark 2026';

export interface ToolInfo {
  name: string;
  description: string;
  tags: string[];
}

export type InvokeResult = { ok: true; texts: string[] } | { ok: false; error: string };

interface Caller {
  port: number;
  token: string;
  execPath: string;
}

export interface SessionOptions {
  /** Prefix of this session's screenshots in test-artifacts/e2e. */
  name: string;
  vsix: string;
  callerVsix: string;
  /** Writes the workspace's files (.vscode/…) before VS Code opens it. */
  prepareWorkspace: (workspace: string) => void;
  settings?: Record<string, unknown>;
  /**
   * Set `hitloop.home` to a folder of this session in the User settings
   * only (as a code-server user does in the Settings editor); proxies then
   * announce there instead of HOME/.hitloop.
   */
  homeInUserSettings?: boolean;
  /** Content of the user's mcp.json (code-server keeps it in `<user-data-dir>/User`). */
  userMcpJson?: (root: string) => string;
}

export class VsCodeSession {
  readonly pageErrors: string[] = [];
  /** Errors and warnings of the workbench's console (the extension host's included). */
  readonly consoleMessages: string[] = [];
  private shot = 0;

  private constructor(
    readonly options: SessionOptions,
    readonly root: ReturnType<typeof tempRoot>,
    readonly workspace: string,
    readonly home: string,
    readonly callerFile: string,
    readonly codeServer: CodeServer,
    readonly browser: Browser,
    readonly page: Page,
  ) {}

  /** The user's mcp.json in this session's code-server. */
  get userMcpJson(): string {
    return join(this.root.dir, 'user-data', 'User', 'mcp.json');
  }

  /** The HITLOOP_HOME the extension and the proxies it starts use: HOME/.hitloop, or `hitloop.home`. */
  get hitloopHome(): string {
    return this.options.homeInUserSettings
      ? join(this.root.dir, 'approvals-home')
      : join(this.home, '.hitloop');
  }

  /**
   * Starts code-server with both extensions in an isolated environment and
   * opens the workbench in Chromium; resolves once the test extension is up.
   *
   * @example
   * const s = await VsCodeSession.open({ name: 'mcp', vsix, callerVsix, prepareWorkspace: (ws) => {} });
   */
  static async open(options: SessionOptions): Promise<VsCodeSession> {
    const t0 = Date.now();
    const root = tempRoot();
    const workspace = join(root.dir, 'workspace');
    const callerFile = join(root.dir, 'caller.json');
    mkdirSync(join(workspace, '.vscode'), { recursive: true });
    options.prepareWorkspace(workspace);
    // Everything the editor process gets: an empty HOME, a PATH without node
    // or hitloop, and where the test extension says which port it listens on.
    const { env, home } = isolatedEnv(root.dir, { HITLOOP_E2E_CALLER_FILE: callerFile });
    const settings: Record<string, unknown> = {
      'workbench.colorTheme': LIGHT_THEME,
      // The tests start servers themselves, through "MCP: List Servers".
      'chat.mcp.autostart': 'never',
      ...options.settings,
    };
    if (LAUNCHER === 'explicit') {
      settings['hitloop.proxyLauncher'] = [process.execPath, join(ROOT, 'dist/cli/main.js')];
    }
    let codeServer: CodeServer | undefined;
    let browser: Browser | undefined;
    try {
      codeServer = await startCodeServer({
        vsix: [options.vsix, options.callerVsix],
        root: root.dir,
        workspace,
        env,
        isolated: true,
        settings,
        ...(options.userMcpJson ? { userMcpJson: options.userMcpJson(root.dir) } : {}),
        ...(options.homeInUserSettings
          ? { userOnlySettings: { 'hitloop.home': join(root.dir, 'approvals-home') } }
          : {}),
      });
      browser = await launchBrowser();
      const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
      const session = new VsCodeSession(
        options,
        root,
        workspace,
        home,
        callerFile,
        codeServer,
        browser,
        page,
      );
      page.on('pageerror', (err) => session.pageErrors.push(err.message));
      // The extension host's console reaches the workbench's console, tagged.
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') {
          session.consoleMessages.push(`${m.type()}: ${m.text()}`);
        }
      });
      await openWorkbench(page, codeServer.url);
      const c = await session.caller(90_000);
      log(`the test extension runs in an extension host on ${c.execPath}`);
      log(`VS Code window ready in ${Date.now() - t0} ms`);
      return session;
    } catch (err) {
      await browser?.close().catch(() => undefined);
      await codeServer?.proc.stop();
      root.remove();
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.browser.close().catch(() => undefined);
    await this.codeServer.proc.stop();
    if (process.env.HITLOOP_E2E_KEEP) log(`kept ${this.root.dir}`);
    else this.root.remove();
  }

  /** What a failed test leaves for diagnosis: a screenshot, the open dialog, code-server's output. */
  async onFailure(testName: string): Promise<void> {
    const dialog = await openDialog(this.page).catch(() => undefined);
    if (dialog) log(`open dialog: ${JSON.stringify(dialog)}`);
    await this.screenshot(`FAILED-${testName.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)}`);
    log(`code-server output (tail):\n${this.codeServer.proc.output().slice(-6000)}`);
    if (this.pageErrors.length) log(`page errors:\n${this.pageErrors.slice(-20).join('\n')}`);
    if (this.consoleMessages.length) {
      log(`console errors and warnings (tail):\n${this.consoleMessages.slice(-20).join('\n')}`);
    }
  }

  private nextShot(name: string): string {
    this.shot += 1;
    return join(
      ARTIFACTS,
      `${this.options.name}-${String(this.shot).padStart(2, '0')}-${name}.png`,
    );
  }

  /** A screenshot of the whole window into test-artifacts/e2e. */
  async screenshot(name: string): Promise<void> {
    const file = this.nextShot(name);
    await this.page
      .screenshot({ path: file })
      .catch((err: Error) => log(`screenshot failed: ${err.message}`));
    log(`screenshot ${file}`);
  }

  /** The side bar alone (the hitloop view), at the size VS Code gives it. */
  async sidebarShot(name: string): Promise<void> {
    const file = this.nextShot(name);
    await this.page
      .locator('.part.sidebar')
      .screenshot({ path: file })
      .catch((err: Error) => log(`screenshot failed: ${err.message}`));
    log(`screenshot ${file}`);
  }

  /** The test extension's control endpoint, once it has activated. */
  private async caller(timeoutMs = 60_000): Promise<Caller> {
    const deadline = Date.now() + timeoutMs;
    while (!existsSync(this.callerFile)) {
      if (Date.now() > deadline) {
        throw new Error(
          `the test extension (lm-tool-caller) did not write ${this.callerFile} within ${timeoutMs} ms: did it install and activate?`,
        );
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    return JSON.parse(readFileSync(this.callerFile, 'utf8')) as Caller;
  }

  private async callerRequest<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const c = await this.caller();
    const res = await fetch(`http://127.0.0.1:${c.port}${path}`, {
      method,
      headers: { authorization: `Bearer ${c.token}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(170_000),
    });
    if (!res.ok) throw new Error(`test extension: ${method} ${path} -> HTTP ${res.status}`);
    return (await res.json()) as T;
  }

  /** The extension host's runtime, PATH and HOME (what the processes it starts inherit). */
  extensionHostEnv(): Promise<{ execPath: string; PATH: string; HOME: string }> {
    return this.callerRequest('GET', '/env');
  }

  /** VS Code's language-model tools, as an extension sees them (`vscode.lm.tools`). */
  lmTools(): Promise<ToolInfo[]> {
    return this.callerRequest<ToolInfo[]>('GET', '/tools');
  }

  /**
   * Asks VS Code to run a tool with `vscode.lm.invokeTool`; for an MCP tool,
   * VS Code's own MCP client sends the tools/call. Settles when VS Code
   * returns the result (after the approvals).
   */
  invoke(tool: string, input: Record<string, unknown>): Promise<InvokeResult> {
    const call = this.callerRequest<InvokeResult>('POST', '/invoke', { name: tool, input });
    call.catch(() => undefined);
    return call;
  }

  /**
   * VS Code confirms a tool call from outside a chat request with a modal
   * dialog of its own ("Run …?"): the first of the two confirmations the
   * issue mentions. Answered the way a user would, after a screenshot.
   */
  async confirmVsCodeRun(shotName: string, call?: Promise<InvokeResult>): Promise<string> {
    const answered = answerDialog(this.page, /^(Allow|Run|Continue|Yes|OK)\b/i, 30_000, () =>
      this.screenshot(shotName),
    );
    // A call that ends before any dialog (an unknown tool, say) says why at once.
    const ended = call?.then((r) => {
      throw new Error(`the tool call ended before VS Code asked to run it: ${JSON.stringify(r)}`);
    });
    ended?.catch(() => undefined);
    const dialog = await (ended ? Promise.race([answered, ended]) : answered);
    log(`VS Code's own confirmation: ${JSON.stringify(dialog)}`);
    return dialog.message;
  }

  /** MCP: List Servers -> `server` -> the action (Start Server, Stop Server, …), as a user picks them. */
  async serverAction(server: RegExp, action: RegExp): Promise<void> {
    await runCommand(this.page, 'MCP: List Servers');
    await pickQuickRow(this.page, server);
    await pickQuickRow(this.page, action);
  }

  /**
   * MCP: List Servers -> `server` -> Start (or Restart) Server, then waits
   * until VS Code lists a language-model tool that `wanted` accepts.
   */
  async startServer(server: RegExp, wanted: (tool: ToolInfo) => boolean): Promise<ToolInfo[]> {
    await this.serverAction(server, /^(Start|Restart) Server/i);
    const deadline = Date.now() + 90_000;
    for (;;) {
      // A trust prompt for a server, in some versions and for some sources.
      const dialog = await openDialog(this.page);
      if (dialog) {
        log(`dialog while starting: ${JSON.stringify(dialog)}`);
        await answerDialog(this.page, /^(Trust|Allow|Start|Run|Continue|Yes)\b/i, 5_000);
      }
      const tools = await this.lmTools();
      if (tools.some(wanted)) return tools;
      if (Date.now() > deadline) {
        throw new Error(
          `VS Code lists no wanted tool 90 s after starting ${server}: ${tools.map((t) => t.name).join(', ')}`,
        );
      }
      await this.page.waitForTimeout(500);
    }
  }

  /**
   * The command line of the one hitloop proxy running for this window: it
   * announces its hub (with its pid) under HOME/.hitloop.
   */
  proxyCommandLine(): string[] {
    const hubs = discoverHubs(this.hitloopHome);
    expect(
      hubs.map((h) => h.pid),
      `hubs announced under ${this.hitloopHome}`,
    ).toHaveLength(1);
    return readFileSync(`/proc/${hubs[0]!.pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  }

  /**
   * Switches the color theme the way a user does (Preferences: Color Theme),
   * then waits until the workbench has repainted dark: the theme class comes
   * before the theme's colors.
   */
  async setColorTheme(theme: string): Promise<void> {
    await runCommand(this.page, 'Preferences: Color Theme');
    await pickQuickRow(this.page, new RegExp(`^${theme}\\b`));
    // Browser code, as a string (no DOM types here): the side bar's background
    // is dark once its perceived brightness is under a third.
    await this.page.waitForFunction(
      `(() => {
        const bar = document.querySelector('.part.sidebar');
        const m = bar && getComputedStyle(bar).backgroundColor.match(/\\d+/g);
        if (!m) return false;
        const [r, g, b] = m.map(Number);
        return document.querySelector('.monaco-workbench').classList.contains('vs-dark') &&
          (0.299 * r + 0.587 * g + 0.114 * b) / 255 < 0.33;
      })()`,
      undefined,
      { timeout: 30_000 },
    );
  }

  /** Shows the hitloop sidebar and opens the card of the pending write of `content` to `path`. */
  async pendingWrite(path: string, content: string) {
    const approval = await pendingApproval(
      this.hitloopHome,
      (a) => a.args.path === path && a.args.content === content,
      60_000,
    );
    expect(approval.tool).toMatch(/write_file$/);
    await openActivityView(this.page, this.codeServer.manifest);
    const { frame, item } = await card(this.page, approval.id);
    const scope = await openCard(frame, item, approval.id);
    const shown = await argsText(frame, scope, content);
    expect(shown).toContain(path);
    expect(shown).toContain(content);
    return { approval, frame, scope };
  }

  /**
   * Approves the write `pendingWrite` opened; VS Code's call (`result`, from
   * `invoke`) then succeeds, the file holds what it asked to write, and the
   * card leaves the list.
   */
  async approveWrite(
    pending: { approval: { id: string }; frame: Frame; scope: Locator },
    result: Promise<InvokeResult>,
    args: { path: string; content: string },
  ): Promise<void> {
    await (await control(pending.frame, pending.scope, 'approve-button')).click();
    const outcome = await result;
    log(`invokeTool after Approve: ${JSON.stringify(outcome)}`);
    expect(outcome.ok, JSON.stringify(outcome)).toBe(true);
    expect(readFileSync(args.path, 'utf8')).toBe(args.content);
    await waitGone(pending.frame, pending.approval.id);
  }

  /** Waits until the sidebar webview's body carries VS Code's theme-kind class. */
  async expectWebviewTheme(frame: Frame, kind: 'vscode-light' | 'vscode-dark'): Promise<void> {
    await frame.waitForFunction(`document.body.classList.contains('${kind}')`, undefined, {
      timeout: 15_000,
    });
  }

  /**
   * What scrolls sideways in the sidebar webview: the page itself, or an
   * element that would show a horizontal scrollbar (overflow-x auto or
   * scroll). Text cut with an ellipsis (overflow hidden) is by design and not
   * counted. The issue saw a 286 px tab row in a 282 px view on 1.139.
   */
  async sidebarOverflow(): Promise<{ view: number; page: number; scrolling: string[] }> {
    const frame = await findWebviewFrame(this.page, SIDEBAR_READY, 10_000);
    // Browser code, as a string: this file is type-checked without the DOM library.
    return frame.evaluate<{ view: number; page: number; scrolling: string[] }>(
      `(() => ({
        view: document.documentElement.clientWidth,
        page: document.documentElement.scrollWidth,
        scrolling: [...document.querySelectorAll('body *')]
          .filter((e) => e.scrollWidth > e.clientWidth + 1 && /auto|scroll/.test(getComputedStyle(e).overflowX))
          .map((e) => (e.getAttribute('data-testid') || e.className || e.tagName) + ' ' + e.scrollWidth + '/' + e.clientWidth),
      }))()`,
    );
  }

  /**
   * Drags the sash on the side bar's right edge, as a user resizes it, until
   * the hitloop webview is `viewWidth` px wide (give or take a pixel).
   */
  async resizeSidebar(viewWidth: number): Promise<void> {
    const bar = this.page.locator('.part.sidebar');
    for (let attempt = 0; attempt < 3; attempt++) {
      const box = await bar.boundingBox();
      if (!box) throw new Error('the side bar is not shown');
      const { view } = await this.sidebarOverflow();
      if (Math.abs(view - viewWidth) <= 1) return;
      const edge = box.x + box.width;
      const y = box.y + box.height / 2;
      await this.page.mouse.move(edge, y);
      await this.page.mouse.down();
      await this.page.mouse.move(edge + (viewWidth - view), y, { steps: 5 });
      await this.page.mouse.up();
      await this.page.waitForTimeout(300);
    }
    const { view } = await this.sidebarOverflow();
    if (Math.abs(view - viewWidth) > 1) {
      throw new Error(`could not resize the side bar: its view is ${view} px, wanted ${viewWidth}`);
    }
  }
}

/** `text` with the characters a RegExp treats specially escaped. */
export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
