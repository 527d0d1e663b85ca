import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import * as vscode from 'vscode';
import {
  listBackups,
  unwrapFile,
  type WrapFileResult,
  wrapFile,
} from '../../mcp-server/wrap/files.js';
import { type BundledProxy, proxyLaunch } from './bundled-proxy.js';
import { readSettings } from './settings.js';

// Routing a workspace's `.vscode/mcp.json` servers through `hitloop proxy`.
// The rewriting is `hitloop wrap`'s own (mcp-server/wrap: plain TypeScript
// over node:fs, no native module): only the server entries change, a backup
// is kept beside the file, and undo restores it byte for byte.

async function pickMcpJson(purpose: string): Promise<string | undefined> {
  const found = (vscode.workspace.workspaceFolders ?? [])
    .map((folder) => ({ folder, file: vscode.Uri.joinPath(folder.uri, '.vscode', 'mcp.json') }))
    .filter(({ file }) => file.scheme === 'file' && existsSync(file.fsPath));
  if (found.length === 0) {
    void vscode.window.showInformationMessage(
      'hitloop: this workspace has no .vscode/mcp.json, so there are no servers to route. Add your MCP servers there first (MCP: Add Server…).',
    );
    return undefined;
  }
  if (found.length === 1) return found[0]!.file.fsPath;
  const pick = await vscode.window.showQuickPick(
    found.map(({ folder, file }) => ({ label: folder.name, description: file.fsPath })),
    { title: purpose, placeHolder: 'Which workspace folder?' },
  );
  return pick?.description;
}

function report(output: vscode.OutputChannel, title: string, result: WrapFileResult): void {
  output.appendLine(`${title}: ${result.file}`);
  for (const change of result.changes) output.appendLine(`  ${change.server}: ${change.detail}`);
  if (result.backup) output.appendLine(`  backup: ${result.backup}`);
  for (const from of result.restoredFrom) output.appendLine(`  restored from ${from}`);
  for (const note of result.notes) output.appendLine(`  note: ${note}`);
}

/** `.vscode/mcp.json`, `User/mcp.json`: enough to tell the files apart in a message. */
function names(file: string): string {
  return join(basename(dirname(file)), basename(file));
}

function problem(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * `hitloop.routeWorkspaceServers`: wrap every server of .vscode/mcp.json,
 * after a confirmation. Each entry starts the fixed-path launcher of the proxy
 * bundled with the extension (see bundled-proxy.ts), unless
 * `hitloop.proxyLauncher` is set.
 */
export async function routeWorkspaceServers(
  output: vscode.OutputChannel,
  bundled: BundledProxy,
): Promise<void> {
  const file = await pickMcpJson('Route MCP servers through hitloop');
  if (file) await routeFiles(output, bundled, [file], { confirm: true });
}

/**
 * Routes every server of each mcp.json in `files` through hitloop. With
 * `confirm`, a modal dialog names the servers first; without, the caller has
 * already named them (the provider's one-time notice). A file that does not
 * parse is refused before anything is written, and the others are left as
 * they are too. Ends with a message offering Undo for all of them.
 *
 * @example
 * await routeFiles(output, bundled, ['/p/.vscode/mcp.json', userMcpJson(storage)], { confirm: false });
 */
export async function routeFiles(
  output: vscode.OutputChannel,
  bundled: BundledProxy,
  files: readonly string[],
  options: { confirm: boolean },
): Promise<void> {
  // Before anything is written: a launcher that cannot start would leave
  // every server of the workspace broken.
  const resolved = proxyLaunch(
    readSettings((m) => output.appendLine(m)).proxyLauncher,
    bundled,
    'mcp.json',
  );
  if ('problem' in resolved) {
    output.appendLine(resolved.problem);
    void showLauncherProblem(resolved.problem);
    return;
  }
  if (resolved.note) output.appendLine(resolved.note);
  const launcher = { command: resolved.launch.command, args: resolved.launch.args };
  try {
    // Every file is read (and must parse) before any is written.
    const plans = files.map((file) => {
      const preview = wrapFile(file, { launcher, dryRun: true });
      // `relaunched`: routed by an older version through `npx -y hitloop`, which cannot start.
      const toWrap = preview.changes.filter(
        (c) => c.change === 'wrapped' || c.change === 'relaunched',
      );
      return { file, preview, toWrap };
    });
    const todo = plans.filter((p) => p.toWrap.length > 0);
    const count = todo.reduce((n, p) => n + p.toWrap.length, 0);
    if (count === 0) {
      for (const p of plans) report(output, 'nothing to route', p.preview);
      void vscode.window.showInformationMessage(
        `hitloop: every server in ${files.map(names).join(' and ')} already goes through hitloop (or cannot be routed; see the hitloop output).`,
      );
      return;
    }
    const servers = todo.flatMap((p) => p.toWrap.map((c) => c.server)).join(', ');
    const where = todo.map((p) => names(p.file)).join(' and ');
    if (options.confirm) {
      const go = await vscode.window.showInformationMessage(
        `Route ${count} MCP server${count === 1 ? '' : 's'} (${servers}) through hitloop?`,
        {
          modal: true,
          detail: `Each will start as "${[launcher.command, ...launcher.args].join(' ')} proxy … -- <the original command>", so its tool calls wait for approval here. A backup of ${where} is kept beside it; "hitloop: Undo Routing of Workspace MCP Servers" restores it.`,
        },
        'Route',
      );
      if (go !== 'Route') return;
    }
    const done: string[] = [];
    for (const p of todo) {
      const result = wrapFile(p.file, { launcher });
      report(output, 'routed through hitloop', result);
      done.push(p.file);
    }
    const action = await vscode.window.showInformationMessage(
      `hitloop: routed ${count} server${count === 1 ? '' : 's'} (${servers}) in ${where}. Restart the running ones (MCP: List Servers) for the change to apply.`,
      'Open mcp.json',
      'Undo',
    );
    if (action === 'Open mcp.json') await vscode.window.showTextDocument(vscode.Uri.file(done[0]!));
    if (action === 'Undo') for (const file of done) await undoRouteWorkspaceServers(output, file);
  } catch (err) {
    output.appendLine(problem(err));
    void vscode.window.showErrorMessage(`hitloop: ${problem(err)}`);
  }
}

/**
 * Shows why no launcher could be found, offering the setting.
 *
 * @example
 * void showLauncherProblem(resolution.problem);
 */
export async function showLauncherProblem(problem: string): Promise<void> {
  const action = await vscode.window.showErrorMessage(problem, 'Open Settings');
  if (action === 'Open Settings')
    await vscode.commands.executeCommand('workbench.action.openSettings', 'hitloop.proxyLauncher');
}

/** `hitloop.undoRouteWorkspaceServers`: restore the backup (or unwrap entry by entry). */
export async function undoRouteWorkspaceServers(
  output: vscode.OutputChannel,
  known?: string,
): Promise<void> {
  const file = known ?? (await pickMcpJson('Undo routing through hitloop'));
  if (!file) return;
  try {
    const result = unwrapFile(file);
    report(output, result.written ? 'routing undone' : 'nothing to undo', result);
    if (!result.written) {
      void vscode.window.showInformationMessage(
        `hitloop: no server in ${names(file)} goes through hitloop`,
      );
      return;
    }
    const how = result.restoredFrom.length
      ? 'restored from the backup'
      : `unwrapped entry by entry (${listBackups(result.file).length} backup(s) kept; see the hitloop output)`;
    void vscode.window.showInformationMessage(`hitloop: ${names(file)} ${how}`);
  } catch (err) {
    output.appendLine(problem(err));
    void vscode.window.showErrorMessage(`hitloop: ${problem(err)}`);
  }
}
