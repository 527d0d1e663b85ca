import { existsSync } from 'node:fs';
import { basename, isAbsolute, join } from 'node:path';
import * as vscode from 'vscode';
import { type BundledProxy, proxyLaunch } from './bundled-proxy.js';
import { showLauncherProblem } from './route-servers.js';
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
): ProxiedServer[] {
  const settings = readSettings();
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
  if (found.length === 0) return [];
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
  return found.map(({ file, label, cwd }) => ({
    label,
    command: launch.command,
    args: [...launch.args, 'proxy', '--config', file],
    ...(cwd ? { cwd } : {}),
    env,
  }));
}

/**
 * Registers the provider when this VS Code has the API (1.101+). Returns
 * whether it did; callers log the reason when not.
 */
export function registerMcpProvider(
  context: vscode.ExtensionContext,
  bundled: BundledProxy,
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
  const watcher = vscode.workspace.createFileSystemWatcher(`**/${WORKSPACE_CONFIG}`);
  context.subscriptions.push(
    changed,
    watcher,
    watcher.onDidCreate(() => changed.fire()),
    watcher.onDidDelete(() => changed.fire()),
    watcher.onDidChange(() => changed.fire()),
    vscode.workspace.onDidChangeWorkspaceFolders(() => changed.fire()),
    vscode.workspace.onDidGrantWorkspaceTrust(() => changed.fire()),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('hitloop.proxyLauncher')) lastProblem = undefined;
      if (
        e.affectsConfiguration('hitloop.mcpConfigFiles') ||
        e.affectsConfiguration('hitloop.proxyLauncher') ||
        e.affectsConfiguration('hitloop.home')
      )
        changed.fire();
    }),
  );
  try {
    context.subscriptions.push(
      vscode.lm.registerMcpServerDefinitionProvider(MCP_PROVIDER_ID, {
        onDidChangeMcpServerDefinitions: changed.event,
        provideMcpServerDefinitions: () =>
          proxiedServers(bundled, onProblem).map((server) => {
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
    return true;
  } catch {
    // Present but refused (turned off by policy in some builds).
    return false;
  }
}
