import { type ChildProcess, execFile, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type Browser, chromium, type Frame, type Locator, type Page } from 'playwright-core';

// The pieces of the end-to-end run: code-server (a real VS Code, installed by
// scripts/install-code-server.sh) with the packaged VSIX, `hitloop proxy` in
// front of server-filesystem, and Debian's Chromium driven by playwright-core.
// Every process is started in its own process group and killed as a group,
// so the extension host, the upstream server and Chromium go with it.

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const ARTIFACTS = join(ROOT, 'test-artifacts', 'e2e');
export const CLI = join(ROOT, 'dist/mcp-server/cli/main.js');
export const FILESYSTEM = join(
  ROOT,
  'node_modules/@modelcontextprotocol/server-filesystem/dist/index.js',
);
export const CHROMIUM = process.env.HITLOOP_E2E_CHROMIUM ?? '/usr/bin/chromium';
/** The code-server that scripts/install-code-server.sh installs (VS Code 1.139.1). */
export const CODE_SERVER_VERSION = process.env.CODE_SERVER_VERSION ?? '4.139.1';

const execFileP = promisify(execFile);

/** Where scripts/install-code-server.sh puts code-server (same rule as the script). */
export function codeServerDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CODE_SERVER_DIR) return env.CODE_SERVER_DIR;
  const cache = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(cache, 'hitloop', `code-server-${CODE_SERVER_VERSION}`);
}

/**
 * The Node that runs code-server: current code-server needs Node 24, while
 * the tests run on the system's Node (20). The install script records the
 * Node it built the native modules for in `.hitloop-node`; CODE_SERVER_NODE
 * overrides it.
 *
 * @example
 * codeServerNode() // '/root/.cache/hitloop/node-24.22.3/bin/node'
 */
export function codeServerNode(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CODE_SERVER_NODE) return env.CODE_SERVER_NODE;
  const recorded = join(codeServerDir(env), '.hitloop-node');
  if (!existsSync(recorded)) {
    throw new Error(
      `${recorded} is missing: run \`bash scripts/install-code-server.sh\` (it installs code-server ${CODE_SERVER_VERSION} and the Node it runs on), or set CODE_SERVER_NODE`,
    );
  }
  const node = readFileSync(recorded, 'utf8').trim();
  if (!existsSync(node)) {
    throw new Error(
      `the Node recorded in ${recorded} (${node}) is gone: run \`bash scripts/install-code-server.sh\` again`,
    );
  }
  return node;
}

export function log(message: string): void {
  process.stderr.write(`[e2e ${new Date().toISOString().slice(11, 23)}] ${message}\n`);
}

// ---------------------------------------------------------------------------
// processes

const groups = new Set<ChildProcess>();

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

// Last resort when the runner dies between setup and teardown.
process.once('exit', () => {
  for (const child of groups) killGroup(child, 'SIGKILL');
});

/** A child process started in its own group, with its output kept for diagnostics. */
export interface Managed {
  child: ChildProcess;
  output: () => string;
  stop: () => Promise<void>;
}

export function startManaged(
  name: string,
  command: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv },
): Managed {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  groups.add(child);
  let output = '';
  const keep = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    if (output.length > 200_000) output = output.slice(-100_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.on('exit', () => groups.delete(child));
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  return {
    child,
    output: () => output,
    stop: async () => {
      if (child.pid === undefined) return;
      // SIGINT first: the proxy removes its hub's discovery file on a clean exit.
      killGroup(child, 'SIGINT');
      const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
      // Children that outlived their parent (an extension host, an upstream server).
      killGroup(child, 'SIGKILL');
      groups.delete(child);
      log(`${name} stopped`);
    },
  };
}

/** Resolves with the first match of `pattern` in the process output, or fails with the output. */
export function waitForOutput(
  proc: Managed,
  name: string,
  pattern: RegExp,
  timeoutMs = 60_000,
): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const m = pattern.exec(proc.output());
      if (m) {
        cleanup();
        resolve(m);
        return true;
      }
      return false;
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(
        new Error(`${name} exited (code ${code}) before printing ${pattern}:\n${proc.output()}`),
      );
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(
        new Error(`${name} did not print ${pattern} within ${timeoutMs} ms:\n${proc.output()}`),
      );
    }, timeoutMs);
    const onData = () => void check();
    const cleanup = () => {
      clearTimeout(timer);
      proc.child.stdout?.off('data', onData);
      proc.child.stderr?.off('data', onData);
      proc.child.off('exit', onExit);
    };
    proc.child.stdout?.on('data', onData);
    proc.child.stderr?.on('data', onData);
    proc.child.once('exit', onExit);
    check();
  });
}

// ---------------------------------------------------------------------------
// code-server

export interface CodeServer {
  url: string;
  workspace: string;
  extensionsDir: string;
  /** The user settings.json (see updateSettings). */
  settingsFile: string;
  proc: Managed;
  /** The installed extension's manifest (package.json). */
  manifest: ExtensionManifest;
}

export interface ExtensionManifest {
  name: string;
  publisher: string;
  displayName?: string;
  contributes?: {
    viewsContainers?: { activitybar?: { id: string; title: string }[] };
    views?: Record<string, { id: string; name?: string; type?: string }[]>;
    commands?: { command: string; title: string; category?: string }[];
  };
}

/**
 * A command's title as the Command Palette shows it ("Category: Title"),
 * from the installed manifest, so a spec follows a renamed command.
 *
 * @example
 * paletteTitle(cs.manifest, 'hitloop.routeWorkspaceServers') // 'hitloop: Route Workspace MCP Servers Through hitloop'
 */
export function paletteTitle(manifest: ExtensionManifest, command: string): string {
  const c = manifest.contributes?.commands?.find((x) => x.command === command);
  if (!c)
    throw new Error(`${manifest.publisher}.${manifest.name} contributes no command ${command}`);
  return c.category ? `${c.category}: ${c.title}` : c.title;
}

/** The environment for a child: this process's, plus `extra`. */
export function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { ...process.env, ...extra };
}

/** hitloop's extension id (`publisher.name` in package.json). */
export const HITLOOP_ID = 'hitloop.hitloop';

/** User settings every e2e window starts with: no tours, trust prompts or update checks. */
export const BASE_SETTINGS: Record<string, unknown> = {
  'security.workspace.trust.enabled': false,
  'workbench.startupEditor': 'none',
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'git.enabled': false,
  'chat.commandCenter.enabled': false,
};

/**
 * Installs the VSIXs into a fresh extensions folder, writes user settings and
 * starts code-server (on the Node it needs, by absolute path) on a free
 * loopback port with `workspace` open. `env` is the whole environment of
 * code-server when `isolated` (nothing inherited: the "VSIX alone" case),
 * else added to this process's.
 */
export async function startCodeServer(options: {
  vsix: string | string[];
  root: string;
  workspace: string;
  env: Record<string, string>;
  isolated?: boolean;
  settings?: Record<string, unknown>;
  /**
   * Settings written to the User settings only, not to the remote (Machine)
   * ones: what a user of code-server or a remote window sets in the
   * Settings editor, where machine-scoped settings are greyed out.
   */
  userOnlySettings?: Record<string, unknown>;
  /** The user's mcp.json (`<user-data-dir>/User/mcp.json`), when given. */
  userMcpJson?: string;
  /** The extension under test, `publisher.name`; default hitloop's. */
  extensionId?: string;
}): Promise<CodeServer> {
  const dir = codeServerDir();
  const entry = join(dir, 'out/node/entry.js');
  if (!existsSync(entry)) {
    throw new Error(
      `code-server ${CODE_SERVER_VERSION} is not installed at ${dir}: run \`bash scripts/install-code-server.sh\` (or set CODE_SERVER_DIR)`,
    );
  }
  const node = codeServerNode();
  const extensionsDir = join(options.root, 'extensions');
  const userDataDir = join(options.root, 'user-data');
  const config = join(options.root, 'code-server.yaml');
  const settingsFile = join(userDataDir, 'User', 'settings.json');
  mkdirSync(join(userDataDir, 'User'), { recursive: true });
  // Flags win over the config file; giving our own keeps ~/.config untouched.
  writeFileSync(config, 'auth: none\ncert: false\n');
  const settings = JSON.stringify({ ...BASE_SETTINGS, ...(options.settings ?? {}) }, null, 2);
  writeFileSync(
    settingsFile,
    JSON.stringify(
      { ...BASE_SETTINGS, ...(options.settings ?? {}), ...(options.userOnlySettings ?? {}) },
      null,
      2,
    ),
  );
  if (options.userMcpJson !== undefined)
    writeFileSync(join(userDataDir, 'User', 'mcp.json'), options.userMcpJson);
  // code-server's window is a remote window: settings of machine scope are
  // read from the remote (Machine) settings and ignored in the User ones.
  mkdirSync(join(userDataDir, 'Machine'), { recursive: true });
  writeFileSync(join(userDataDir, 'Machine', 'settings.json'), settings);
  const env = options.isolated ? { ...options.env } : childEnv(options.env);

  const t0 = Date.now();
  const vsixes = Array.isArray(options.vsix) ? options.vsix : [options.vsix];
  try {
    await execFileP(
      node,
      [
        entry,
        ...vsixes.flatMap((v) => ['--install-extension', v]),
        '--extensions-dir',
        extensionsDir,
        '--user-data-dir',
        userDataDir,
        '--config',
        config,
      ],
      { env, timeout: 120_000 },
    );
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(
      `installing ${vsixes.join(', ')} into code-server failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`,
    );
  }
  const manifest = installedManifest(extensionsDir, options.extensionId ?? HITLOOP_ID);
  log(
    `installed ${vsixes.length} extension(s) in ${Date.now() - t0} ms; ${manifest.publisher}.${manifest.name} first`,
  );

  const proc = startManaged(
    'code-server',
    node,
    [
      entry,
      '--auth',
      'none',
      '--bind-addr',
      '127.0.0.1:0',
      '--extensions-dir',
      extensionsDir,
      '--user-data-dir',
      userDataDir,
      '--config',
      config,
      '--disable-telemetry',
      '--disable-update-check',
      '--disable-workspace-trust',
      '--disable-getting-started-override',
      '--ignore-last-opened',
      options.workspace,
    ],
    { cwd: options.workspace, env },
  );
  const m = await waitForOutput(
    proc,
    'code-server',
    /HTTP server listening on (http:\/\/127\.0\.0\.1:\d+)/,
  );
  const url = `${m[1]}/?folder=${encodeURIComponent(options.workspace)}`;
  log(`code-server ${CODE_SERVER_VERSION} (on ${node}) at ${url}`);
  return { url, workspace: options.workspace, extensionsDir, settingsFile, proc, manifest };
}

/** The manifest of the installed extension `id` (`publisher.name`). */
function installedManifest(extensionsDir: string, id: string): ExtensionManifest {
  const dirs = readdirSync(extensionsDir, { withFileTypes: true }).filter((d) => d.isDirectory());
  const seen: string[] = [];
  for (const d of dirs) {
    const file = join(extensionsDir, d.name, 'package.json');
    if (!existsSync(file)) continue;
    let text = readFileSync(file, 'utf8');
    // Localised titles ("%key%") resolve through package.nls.json.
    const nlsFile = join(extensionsDir, d.name, 'package.nls.json');
    if (existsSync(nlsFile)) {
      const nls = JSON.parse(readFileSync(nlsFile, 'utf8')) as Record<string, string>;
      text = text.replace(/"%([^"%]+)%"/g, (whole, key: string) =>
        typeof nls[key] === 'string' ? JSON.stringify(nls[key]) : whole,
      );
    }
    const manifest = JSON.parse(text) as ExtensionManifest;
    const found = `${manifest.publisher}.${manifest.name}`;
    seen.push(found);
    if (found.toLowerCase() === id.toLowerCase()) return manifest;
  }
  throw new Error(
    `extension ${id} is not in ${extensionsDir} after --install-extension (found: ${seen.join(', ') || 'none'})`,
  );
}

// ---------------------------------------------------------------------------
// hitloop proxy

export interface RunningProxy {
  url: URL;
  proc: Managed;
}

/** `hitloop proxy --http 127.0.0.1:0 -- node server-filesystem DIR`, everything asks (the default). */
export async function startProxy(options: {
  cwd: string;
  allowedDir: string;
  env: Record<string, string>;
}): Promise<RunningProxy> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  const proc = startManaged(
    'hitloop proxy',
    process.execPath,
    [
      CLI,
      'proxy',
      '--http',
      '127.0.0.1:0',
      '--name',
      'fs',
      '--no-telemetry',
      '--',
      process.execPath,
      FILESYSTEM,
      options.allowedDir,
    ],
    { cwd: options.cwd, env: childEnv(options.env) },
  );
  const m = await waitForOutput(proc, 'hitloop proxy', /Streamable HTTP at (http:\/\/\S+)/);
  log(`hitloop proxy at ${m[1]}`);
  return { url: new URL(m[1]!), proc };
}

// ---------------------------------------------------------------------------
// browser

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: install Debian's chromium (scripts/install-code-server.sh does) or set HITLOOP_E2E_CHROMIUM`,
    );
  }
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 60_000 });
}

/** Opens the workbench and waits until it is usable. */
export async function openWorkbench(page: Page, url: string): Promise<void> {
  await page.goto(url, { timeout: 60_000 });
  await page.locator('.monaco-workbench').waitFor({ timeout: 90_000 });
  await page.locator('.activitybar').waitFor({ timeout: 60_000 });
}

/** Clicks the extension's activity-bar entry (found from its manifest). */
export async function openActivityView(page: Page, manifest: ExtensionManifest): Promise<void> {
  const containers = manifest.contributes?.viewsContainers?.activitybar ?? [];
  if (containers.length === 0) {
    throw new Error(`${manifest.name} contributes no activity-bar view container`);
  }
  const titles = containers.map((c) => c.title);
  const deadline = Date.now() + 60_000;
  for (;;) {
    for (const title of titles) {
      const entry = page.locator(
        `.activitybar .action-item .action-label[aria-label^="${title.replace(/"/g, '\\"')}"]`,
      );
      if ((await entry.count()) > 0) {
        const item = entry.first();
        // Clicking the container that is already open would close the sidebar.
        const itemClass = (await item.locator('xpath=..').getAttribute('class')) ?? '';
        const active = /\bchecked\b/.test(itemClass);
        if (!active) await item.click();
        return;
      }
    }
    if (Date.now() > deadline) {
      const labels = await page
        .locator('.activitybar .action-item .action-label')
        .evaluateAll((els) => els.map((e) => e.getAttribute('aria-label')));
      throw new Error(
        `no activity-bar entry titled ${JSON.stringify(titles)}; the activity bar has ${JSON.stringify(labels)}`,
      );
    }
    await page.waitForTimeout(500);
  }
}

/**
 * The webview frame that contains `selector`. VS Code nests each webview in
 * two iframes (a host page and the content frame), so this searches every
 * frame of the page, and searches again later because a webview's frames are
 * recreated when its view is hidden and shown.
 */
export async function findWebviewFrame(
  page: Page,
  selector: string,
  timeoutMs = 60_000,
): Promise<Frame> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const frame of page.frames()) {
      if (frame === page.mainFrame() || frame.isDetached()) continue;
      const count = await frame
        .locator(selector)
        .count()
        .catch(() => 0);
      if (count > 0) return frame;
    }
    if (Date.now() > deadline) {
      const urls = page.frames().map((f) => f.url().slice(0, 140));
      throw new Error(
        `no frame contains ${selector} after ${timeoutMs} ms; frames: ${JSON.stringify(urls, null, 1)}`,
      );
    }
    await page.waitForTimeout(250);
  }
}

/** A temporary directory tree for one run. */
export function tempRoot(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'hitloop-e2e-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Commands a machine without Node (and without hitloop) does not have. */
const NODE_COMMANDS = new Set([
  'node',
  'nodejs',
  'npm',
  'npx',
  'corepack',
  'hitloop',
  'yarn',
  'pnpm',
]);

/**
 * A PATH for a machine without Node: one folder of symlinks to every command
 * in `from` (default: this machine's system folders) except node, npm, npx,
 * hitloop and the like. What an editor-only user's PATH looks like, with the
 * usual Unix tools still there.
 *
 * @example
 * const path = pathWithoutNode(join(root, 'bin')); // '/tmp/…/bin'
 */
export function pathWithoutNode(
  dir: string,
  from: string[] = ['/usr/local/bin', '/usr/bin', '/bin', '/usr/sbin', '/sbin'],
): string {
  mkdirSync(dir, { recursive: true });
  for (const folder of from) {
    if (!existsSync(folder)) continue;
    for (const name of readdirSync(folder)) {
      if (NODE_COMMANDS.has(name) || existsSync(join(dir, name))) continue;
      try {
        symlinkSync(join(folder, name), join(dir, name));
      } catch {
        // a name that appeared twice; the first folder wins, as on PATH
      }
    }
  }
  return dir;
}

/**
 * An environment that inherits nothing from the test runner: an empty HOME
 * (and XDG folders inside it), a PATH without Node, and `extra`. npm's own
 * variables (npm_node_execpath, …) would otherwise tell a child where Node is.
 */
export function isolatedEnv(
  root: string,
  extra: Record<string, string> = {},
): {
  env: Record<string, string>;
  home: string;
} {
  const home = join(root, 'home');
  mkdirSync(home, { recursive: true });
  // VS Code's server gives the extension host the environment of the user's
  // login shell (`$SHELL -i -l -c …`), and on this machine every login shell
  // puts /usr/bin, with its node, on PATH. This stand-in is a login shell
  // that keeps the PATH it was given, as on a machine without Node.
  const shell = join(root, 'login-shell-without-node');
  writeFileSync(
    shell,
    '#!/bin/sh\n# Runs the command after -c without reading any profile.\nfor last; do :; done\nexec /bin/sh -c "$last"\n',
    { mode: 0o755 },
  );
  const env: Record<string, string> = {
    HOME: home,
    SHELL: shell,
    PATH: pathWithoutNode(join(root, 'bin-without-node')),
    XDG_CONFIG_HOME: join(home, '.config'),
    XDG_DATA_HOME: join(home, '.local', 'share'),
    XDG_CACHE_HOME: join(home, '.cache'),
    TMPDIR: tmpdir(),
    LANG: 'C.UTF-8',
    ...extra,
  };
  return { env, home };
}

// ---------------------------------------------------------------------------
// workbench

const QUICK_INPUT = '.quick-input-widget';
const QUICK_ROW = `${QUICK_INPUT} .monaco-list-row`;

/** The rows the open quick pick shows (their accessible labels), once it shows any. */
export async function quickPickRows(page: Page, timeoutMs = 30_000): Promise<string[]> {
  await page.locator(QUICK_ROW).first().waitFor({ state: 'visible', timeout: timeoutMs });
  return page
    .locator(QUICK_ROW)
    .evaluateAll((rows) => rows.map((r) => r.getAttribute('aria-label') ?? r.textContent ?? ''));
}

/** Picks the quick-pick row whose label matches, waiting until one does. */
export async function pickQuickRow(page: Page, label: RegExp, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await quickPickRows(page, Math.max(1, deadline - Date.now())).catch(
      () => [] as string[],
    );
    const index = rows.findIndex((r) => label.test(r));
    if (index >= 0) {
      // The list may re-render between reading and clicking (the filter
      // settling, a notification taking focus): read the rows again rather
      // than wait on a row that is gone.
      const clicked = await page
        .locator(QUICK_ROW)
        .nth(index)
        .click({ timeout: Math.min(5_000, Math.max(1, deadline - Date.now())) })
        .then(
          () => true,
          () => false,
        );
      if (clicked) return;
    }
    if (Date.now() > deadline) {
      throw new Error(`no quick-pick row matches ${label}; rows: ${JSON.stringify(rows)}`);
    }
    await page.waitForTimeout(300);
  }
}

/** Runs a command from the Command Palette by its title, as a user would (F1, type, Enter). */
export async function runCommand(page: Page, title: string): Promise<void> {
  const label = new RegExp(`^${title.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(,|$|\\s)`, 'i');
  // Twice at most: a palette that closed under the click (focus taken by a
  // notification) is opened again, as a user would.
  for (let attempt = 1; ; attempt++) {
    await closeQuickInput(page);
    await page.keyboard.press('F1');
    const input = page.locator(`${QUICK_INPUT} input`);
    await input.waitFor({ state: 'visible', timeout: 15_000 });
    await input.fill(`>${title}`);
    try {
      await pickQuickRow(page, label, 15_000);
      return;
    } catch (err) {
      if (attempt >= 2) throw err;
    }
  }
}

/** Closes an open quick pick (Escape), if any. */
export async function closeQuickInput(page: Page): Promise<void> {
  if (await page.locator(QUICK_INPUT).isVisible()) {
    await page.keyboard.press('Escape');
    await page.locator(QUICK_INPUT).waitFor({ state: 'hidden', timeout: 5_000 });
  }
}

/** A modal dialog of the workbench (VS Code's own, not the browser's). */
export interface WorkbenchDialog {
  message: string;
  buttons: string[];
}

/** The workbench's modal dialog, if one is open. */
export async function openDialog(page: Page): Promise<WorkbenchDialog | undefined> {
  const box = page.locator('.monaco-dialog-box');
  if (!(await box.isVisible().catch(() => false))) return undefined;
  const message = (
    await box
      .locator('.dialog-message')
      .innerText()
      .catch(() => '')
  ).trim();
  const detail = (
    await box
      .locator('.dialog-message-detail')
      .innerText()
      .catch(() => '')
  ).trim();
  const buttons = await box
    .locator('.dialog-buttons .monaco-button')
    .evaluateAll((els) => els.map((e) => (e.textContent ?? '').trim()));
  return { message: detail ? `${message}\n${detail}` : message, buttons };
}

/**
 * Waits for the workbench's modal dialog, then clicks the button whose label
 * matches. Returns what the dialog said.
 */
export async function answerDialog(
  page: Page,
  button: RegExp,
  timeoutMs = 30_000,
  beforeClick?: (dialog: WorkbenchDialog) => Promise<void>,
): Promise<WorkbenchDialog> {
  const box = page.locator('.monaco-dialog-box');
  await box.waitFor({ state: 'visible', timeout: timeoutMs });
  const dialog = await openDialog(page);
  if (!dialog) throw new Error('the dialog closed before it could be read');
  const index = dialog.buttons.findIndex((b) => button.test(b));
  if (index < 0) {
    throw new Error(
      `the dialog "${dialog.message}" has no button matching ${button}: ${JSON.stringify(dialog.buttons)}`,
    );
  }
  await beforeClick?.(dialog);
  await box.locator('.dialog-buttons .monaco-button').nth(index).click();
  await box.waitFor({ state: 'hidden', timeout: 10_000 });
  return dialog;
}

// ---------------------------------------------------------------------------
// notifications

const TOAST = '.notifications-toasts .notification-list-item';
const CENTER_ITEM = '.notifications-center .notification-list-item';

/**
 * The notification whose message matches: its toast, or, once toasts have
 * hidden themselves (after 15-20 s), its entry in the notification center,
 * opened as a user would (Notifications: Show Notifications).
 */
export async function notificationItem(
  page: Page,
  message: RegExp,
  timeoutMs = 30_000,
): Promise<Locator> {
  const deadline = Date.now() + timeoutMs;
  let centerOpened = false;
  for (;;) {
    for (const where of [TOAST, CENTER_ITEM]) {
      const item = page.locator(where).filter({ hasText: message }).first();
      if (await item.isVisible().catch(() => false)) return item;
    }
    if (!centerOpened && Date.now() > deadline - timeoutMs / 2) {
      await runCommand(page, 'Notifications: Show Notifications');
      centerOpened = true;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `no notification matches ${message}; shown: ${JSON.stringify(await notificationTexts(page))}`,
      );
    }
    await page.waitForTimeout(300);
  }
}

/** Clicks a notification's button (expanding the notification first when its buttons are folded away). */
export async function clickNotificationButton(item: Locator, label: RegExp): Promise<void> {
  const button = item.locator('.monaco-button').filter({ hasText: label }).first();
  if (!(await button.isVisible().catch(() => false))) {
    await item
      .locator('.codicon-notifications-expand')
      .first()
      .click()
      .catch(() => undefined);
  }
  await button.click({ timeout: 10_000 });
}

/** The text of every notification on screen (toasts and the center). */
export async function notificationTexts(page: Page): Promise<string[]> {
  return page
    .locator(
      `${TOAST} .notification-list-item-message, ${CENTER_ITEM} .notification-list-item-message`,
    )
    .evaluateAll((els) => els.map((e) => (e.textContent ?? '').trim()));
}
