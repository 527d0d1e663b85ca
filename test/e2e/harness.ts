import { type ChildProcess, execFile, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type Browser, chromium, type Frame, type Page } from 'playwright-core';

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
export const CODE_SERVER_VERSION = '4.100.3';

const execFileP = promisify(execFile);

/** Where scripts/install-code-server.sh puts code-server (same rule as the script). */
export function codeServerDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CODE_SERVER_DIR) return env.CODE_SERVER_DIR;
  const cache = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(cache, 'hitloop', `code-server-${CODE_SERVER_VERSION}`);
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
  };
}

/** The environment for a child: this process's, plus `extra`. */
export function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { ...process.env, ...extra };
}

/**
 * Installs the VSIX into a fresh extensions folder, writes user settings and
 * starts code-server on a free loopback port with `workspace` open.
 */
export async function startCodeServer(options: {
  vsix: string;
  root: string;
  workspace: string;
  env: Record<string, string>;
}): Promise<CodeServer> {
  const dir = codeServerDir();
  const entry = join(dir, 'out/node/entry.js');
  if (!existsSync(entry)) {
    throw new Error(
      `code-server ${CODE_SERVER_VERSION} is not installed at ${dir}: run \`bash scripts/install-code-server.sh\` (or set CODE_SERVER_DIR)`,
    );
  }
  const extensionsDir = join(options.root, 'extensions');
  const userDataDir = join(options.root, 'user-data');
  const config = join(options.root, 'code-server.yaml');
  mkdirSync(join(userDataDir, 'User'), { recursive: true });
  // Flags win over the config file; giving our own keeps ~/.config untouched.
  writeFileSync(config, 'auth: none\ncert: false\n');
  writeFileSync(
    join(userDataDir, 'User', 'settings.json'),
    JSON.stringify(
      {
        'security.workspace.trust.enabled': false,
        'workbench.startupEditor': 'none',
        'workbench.tips.enabled': false,
        'workbench.enableExperiments': false,
        'telemetry.telemetryLevel': 'off',
        'update.mode': 'none',
        'extensions.autoCheckUpdates': false,
        'extensions.autoUpdate': false,
        'extensions.ignoreRecommendations': true,
        'git.enabled': false,
        'chat.commandCenter.enabled': false,
      },
      null,
      2,
    ),
  );
  const env = childEnv(options.env);

  const t0 = Date.now();
  try {
    await execFileP(
      process.execPath,
      [
        entry,
        '--install-extension',
        options.vsix,
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
      `installing ${options.vsix} into code-server failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`,
    );
  }
  const manifest = installedManifest(extensionsDir);
  log(`installed ${manifest.publisher}.${manifest.name} in ${Date.now() - t0} ms`);

  const proc = startManaged(
    'code-server',
    process.execPath,
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
  log(`code-server at ${url}`);
  return { url, workspace: options.workspace, extensionsDir, proc, manifest };
}

function installedManifest(extensionsDir: string): ExtensionManifest {
  const dirs = readdirSync(extensionsDir, { withFileTypes: true }).filter((d) => d.isDirectory());
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
    return JSON.parse(text) as ExtensionManifest;
  }
  throw new Error(`no extension found in ${extensionsDir} after --install-extension`);
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
