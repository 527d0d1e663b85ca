import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join, relative } from 'node:path';
import * as vscode from 'vscode';
import { type BundledProxy, proxyLaunch } from './bundled-proxy.js';
import type { ClosableOutput } from './closable-output.js';
import {
  type GatedCopy,
  gatedCopies,
  type McpJsonSource,
  ungatedNotice,
  userMcpJson,
} from './mcp-json-servers.js';
import { routeFiles, showLauncherProblem } from './route-servers.js';
import { MCP_JSON } from './routing-state.js';
import { readSettings } from './settings.js';

// MCP server definition providers are stable API since VS Code 1.101, the
// version `engines.vscode` asks for; the code uses @types/vscode 1.101's own
// types. An editor that lacks the API (a fork, a build with it turned off)
// gets no provider and a line in the output saying why.

/** The provider id declared under `contributes.mcpServerDefinitionProviders`. */
export const MCP_PROVIDER_ID = 'hitloop.proxiedServers';

/** Where a workspace keeps the hitloop config whose servers the provider offers. */
export const WORKSPACE_CONFIG = join('.vscode', 'hitloop.json');

/** One server definition VS Code's agent mode can start: `hitloop proxy --config FILE`. */
export interface ProxiedServer {
  label: string;
  /** Set for a gated copy of a server in an mcp.json (see mcp-json-servers.ts). */
  copyOf?: GatedCopy;
  command: string;
  args: string[];
  cwd?: string;
  env: Record<string, string>;
}

/**
 * The servers the provider offers: one `hitloop proxy --config FILE` per
 * hitloop config found (each workspace folder's `.vscode/hitloop.json`, and
 * the files in `hitloop.mcpConfigFiles`). Each proxies every server its config
 * lists, so agent mode gets those tools behind hitloop's policy and approvals.
 * hitloop is the proxy bundled with the extension, run by VS Code's own
 * runtime, unless `hitloop.proxyLauncher` says otherwise (see proxyLaunch).
 * When there are configs but no hitloop to start, it offers nothing and tells
 * `onProblem` why.
 *
 * @example
 * const servers = proxiedServers(bundled, (problem) => void vscode.window.showErrorMessage(problem));
 */
export function proxiedServers(
  bundled: BundledProxy,
  onProblem?: (problem: string) => void,
  mcpJson?: McpJsonReport,
): ProxiedServer[] {
  const settings = readSettings();
  const sources = settings.offerMcpJsonServers ? mcpJsonSources(mcpJson?.userFile) : [];
  const found: Array<{ file: string; label: string; cwd?: string }> = [];
  const seen = new Set<string>();
  const add = (file: string, label: string, cwd?: string) => {
    if (seen.has(file) || !existsSync(file)) return;
    seen.add(file);
    found.push({ file, label, ...(cwd ? { cwd } : {}) });
  };
  // A workspace's own config starts commands, so only a trusted one counts.
  if (vscode.workspace.isTrusted) {
    for (const folder of vscode.workspace.workspaceFolders ?? []) {
      if (folder.uri.scheme !== 'file') continue;
      add(join(folder.uri.fsPath, WORKSPACE_CONFIG), `hitloop: ${folder.name}`, folder.uri.fsPath);
    }
  }
  const base = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  for (const file of settings.mcpConfigFiles) {
    const path = isAbsolute(file) || !base ? file : join(base, file);
    add(path, `hitloop: ${basename(path)}`);
  }
  if (found.length === 0 && !sources.some((s) => existsSync(s.file))) return [];
  const resolved = proxyLaunch(settings.proxyLauncher, bundled, 'definition');
  if ('problem' in resolved) {
    onProblem?.(resolved.problem);
    return [];
  }
  if (resolved.note) onProblem?.(resolved.note);
  const { launch } = resolved;
  const env: Record<string, string> = {
    ...launch.env,
    ...(settings.home ? { HITLOOP_HOME: settings.home } : {}),
  };
  const fromConfigs: ProxiedServer[] = found.map(({ file, label, cwd }) => ({
    label,
    command: launch.command,
    args: [...launch.args, 'proxy', '--config', file],
    ...(cwd ? { cwd } : {}),
    env,
  }));
  const copies = gatedCopies(sources, launch, { userHome: homedir(), env: process.env });
  mcpJson?.onRead(copies);
  return [
    ...fromConfigs,
    ...copies.copies.map((copy) => ({
      label: copy.label,
      copyOf: copy,
      command: copy.command,
      args: copy.args,
      ...(copy.cwd ? { cwd: copy.cwd } : {}),
      env: { ...copy.env, ...(settings.home ? { HITLOOP_HOME: settings.home } : {}) },
    })),
  ];
}

/** Where the user's mcp.json is, and who hears what reading the mcp.json files found. */
export interface McpJsonReport {
  userFile?: string;
  onRead(found: ReturnType<typeof gatedCopies>): void;
}

/**
 * The mcp.json files whose servers get gated copies: each trusted workspace
 * folder's `.vscode/mcp.json` (a workspace's file starts commands, so an
 * untrusted one does not count), and the user's.
 */
function mcpJsonSources(userFile: string | undefined): McpJsonSource[] {
  const folders = (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file');
  const sources: McpJsonSource[] = [];
  if (vscode.workspace.isTrusted) {
    for (const folder of folders)
      sources.push({
        file: join(folder.uri.fsPath, MCP_JSON),
        origin: folder.name,
        folder: folder.uri.fsPath,
      });
  }
  if (userFile) {
    const first = folders[0]?.uri.fsPath;
    sources.push({ file: userFile, origin: 'user', ...(first ? { folder: first } : {}) });
  }
  return sources;
}

/** Where the notice remembers which sets of ungated originals it has named. */
const NOTICE_STATE = 'hitloop.ungatedNoticeShown';

/**
 * Registers the provider when this VS Code has the API (1.101+). Returns
 * whether it did; callers log the reason when not.
 */
export function registerMcpProvider(
  context: vscode.ExtensionContext,
  bundled: BundledProxy,
  output: ClosableOutput,
  afterRoute: () => void,
): boolean {
  // Typed as always there (1.101+); checked, since a fork may still lack it.
  if (
    typeof vscode.lm?.registerMcpServerDefinitionProvider !== 'function' ||
    typeof vscode.McpStdioServerDefinition !== 'function'
  )
    return false;
  const changed = new vscode.EventEmitter<void>();
  // VS Code asks for the definitions again and again; say the same problem once.
  let lastProblem: string | undefined;
  const onProblem = (problem: string) => {
    if (problem === lastProblem) return;
    lastProblem = problem;
    void showLauncherProblem(problem);
  };
  const userFile =
    context.globalStorageUri.scheme === 'file'
      ? userMcpJson(context.globalStorageUri.fsPath)
      : undefined;
  output.appendLine(`the user's mcp.json: ${userFile ?? '(not on this machine)'}`);
  const reported = new Set<string>();
  const mcpJson: McpJsonReport = {
    ...(userFile ? { userFile } : {}),
    onRead: (found) => {
      for (const line of [...found.problems, ...found.skipped]) {
        if (reported.has(line)) continue;
        reported.add(line);
        output.appendLine(line);
        // An mcp.json that does not parse: say so where the user looks.
        if (found.problems.includes(line)) void vscode.window.showErrorMessage(`hitloop: ${line}`);
      }
      void noticeUngated(context, found.copies, output, bundled, () => {
        changed.fire();
        afterRoute();
      });
    },
  };
  const fire = () => changed.fire();
  const watcher = vscode.workspace.createFileSystemWatcher(`**/${WORKSPACE_CONFIG}`);
  const mcpJsonWatcher = vscode.workspace.createFileSystemWatcher(`**/${MCP_JSON}`);
  context.subscriptions.push(changed, watcher, mcpJsonWatcher);
  for (const w of [watcher, mcpJsonWatcher])
    context.subscriptions.push(w.onDidCreate(fire), w.onDidDelete(fire), w.onDidChange(fire));
  if (userFile) {
    // Outside the workspace: a watcher of its own folder, not recursive.
    const userWatcher = vscode.workspace.createFileSystemWatcher(
      new vscode.RelativePattern(vscode.Uri.file(dirname(userFile)), 'mcp.json'),
    );
    context.subscriptions.push(
      userWatcher,
      userWatcher.onDidCreate(fire),
      userWatcher.onDidDelete(fire),
      userWatcher.onDidChange(fire),
    );
  }
  context.subscriptions.push(
    vscode.workspace.onDidChangeWorkspaceFolders(fire),
    vscode.workspace.onDidGrantWorkspaceTrust(fire),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('hitloop.proxyLauncher')) lastProblem = undefined;
      if (
        e.affectsConfiguration('hitloop.mcpConfigFiles') ||
        e.affectsConfiguration('hitloop.proxyLauncher') ||
        e.affectsConfiguration('hitloop.home') ||
        e.affectsConfiguration('hitloop.offerMcpJsonServers')
      )
        fire();
    }),
  );
  try {
    context.subscriptions.push(
      vscode.lm.registerMcpServerDefinitionProvider(MCP_PROVIDER_ID, {
        onDidChangeMcpServerDefinitions: changed.event,
        provideMcpServerDefinitions: () =>
          proxiedServers(bundled, onProblem, mcpJson).map((server) => {
            const definition = new vscode.McpStdioServerDefinition(
              server.label,
              server.command,
              server.args,
              server.env,
            );
            if (server.cwd) definition.cwd = vscode.Uri.file(server.cwd);
            return definition;
          }),
      }),
    );
    // VS Code asks for the definitions when it needs them (often not before
    // the first chat); the notice about ungated originals should not wait.
    const first = setTimeout(() => proxiedServers(bundled, onProblem, mcpJson), 2_000);
    context.subscriptions.push({ dispose: () => clearTimeout(first) });
    return true;
  } catch {
    // Present but refused (turned off by policy in some builds).
    return false;
  }
}

let noticeOpen = false;

/**
 * Tells the user, once per set of servers, that the originals of the gated
 * copies are still callable without hitloop, with one button that routes
 * them (Route's own rewrite, backup and Undo). Routing is what leaves the
 * agent with gated tools only: the routed entries run through hitloop, and
 * the provider stops offering copies of them.
 */
async function noticeUngated(
  context: vscode.ExtensionContext,
  copies: readonly GatedCopy[],
  output: ClosableOutput,
  bundled: BundledProxy,
  routed: () => void,
): Promise<void> {
  if (copies.length === 0 || noticeOpen) return;
  const { key, files, servers } = ungatedNotice(copies);
  const shown = context.globalState.get<string[]>(NOTICE_STATE, []);
  if (shown.includes(key)) return;
  noticeOpen = true;
  try {
    await context.globalState.update(NOTICE_STATE, [...shown, key].slice(-50));
    const where = files.map((f) => displayPath(f)).join(' and ');
    const names = servers.join(', ');
    const choice = await vscode.window.showWarningMessage(
      `hitloop offers ${names} through hitloop ("… (via hitloop)"), but the original${servers.length === 1 ? '' : 's'} in ${where} still run${servers.length === 1 ? 's' : ''} without approval, and the agent can call both. Route ${servers.length === 1 ? 'it' : 'them'} through hitloop to leave gated tools only (a backup is kept; Undo restores it).`,
      'Route Through hitloop',
    );
    if (choice !== 'Route Through hitloop') return;
    await routeFiles(output, bundled, files, { confirm: false });
    routed();
  } finally {
    noticeOpen = false;
  }
}

function displayPath(file: string): string {
  for (const folder of vscode.workspace.workspaceFolders ?? []) {
    const root = folder.uri.fsPath;
    const rel = relative(root, file);
    if (!rel.startsWith('..') && !isAbsolute(rel)) return rel;
  }
  return file;
}
