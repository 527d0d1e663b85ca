import { existsSync } from 'node:fs';
import { basename, isAbsolute, join } from 'node:path';
import * as vscode from 'vscode';
import { type BundledProxy, proxyLaunch } from './bundled-proxy.js';
import { showLauncherProblem } from './route-servers.js';
import { readSettings } from './settings.js';

// VS Code 1.101 made MCP server definition providers stable API. The types
// this extension builds against are 1.100's (code-server 4.100.3 is VS Code
// 1.100.3), so the few members used are declared here and looked up at run
// time: where the API is absent, nothing is registered.

/** The provider id declared under `contributes.mcpServerDefinitionProviders`. */
export const MCP_PROVIDER_ID = 'hitloop.proxiedServers';

/** Where a workspace keeps the hitloop config whose servers the provider offers. */
export const WORKSPACE_CONFIG = join('.vscode', 'hitloop.json');

interface McpStdioServerDefinition {
  cwd?: vscode.Uri;
}
type McpStdioServerDefinitionCtor = new (
  label: string,
  command: string,
  args?: string[],
  env?: Record<string, string | number | null>,
  version?: string,
) => McpStdioServerDefinition;

interface McpServerDefinitionProvider {
  onDidChangeMcpServerDefinitions?: vscode.Event<void>;
  provideMcpServerDefinitions(token: vscode.CancellationToken): McpStdioServerDefinition[];
}

interface McpApi {
  registerMcpServerDefinitionProvider(
    id: string,
    provider: McpServerDefinitionProvider,
  ): vscode.Disposable;
}

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
  const lm = (vscode as unknown as { lm?: Partial<McpApi> }).lm;
  const Definition = (
    vscode as unknown as { McpStdioServerDefinition?: McpStdioServerDefinitionCtor }
  ).McpStdioServerDefinition;
  if (typeof lm?.registerMcpServerDefinitionProvider !== 'function' || !Definition) return false;
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
      lm.registerMcpServerDefinitionProvider(MCP_PROVIDER_ID, {
        onDidChangeMcpServerDefinitions: changed.event,
        provideMcpServerDefinitions: () =>
          proxiedServers(bundled, onProblem).map((server) => {
            const definition = new Definition(
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
    // Present but not enabled (a proposed API in some builds).
    return false;
  }
}
