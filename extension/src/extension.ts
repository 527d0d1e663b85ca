import * as vscode from 'vscode';
import { decideAll, describeOutcome } from './actions.js';
import { ApprovalsViewProvider } from './approvals-view.js';
import { prepareBundledProxy } from './bundled-proxy.js';
import { ClosableOutput } from './closable-output.js';
import { ContextKeys } from './context-keys.js';
import { PROPOSED_SCHEME, ProposedContentProvider, showProposedDiff } from './diff.js';
import { HubConnections, type HubsSnapshot, type PendingItem } from './hub-connections.js';
import { registerMcpProvider } from './mcp-provider.js';
import { RequestNotifier } from './notifications.js';
import { ItemRef } from './protocol.js';
import { RemoteHubs } from './remote-hub-commands.js';
import { routeWorkspaceServers, undoRouteWorkspaceServers } from './route-servers.js';
import { MCP_JSON, routingState } from './routing-state.js';
import { readSettings } from './settings.js';
import { settledMessage } from './settled.js';
import { PendingStatusBar } from './status-bar.js';
import { argsPreview, hasDiff } from './views.js';

/** What `activate` returns: enough for the extension-host tests to look inside. */
export interface HitloopExtensionApi {
  snapshot(): HubsSnapshot;
  /** Whether VS Code has resolved the Approvals webview (it does when the view is first shown). */
  viewResolved(): boolean;
  /** Whether VS Code offered the MCP server definition provider API. */
  mcpProviderRegistered: boolean;
}

/** The walkthrough declared under `contributes.walkthroughs`. */
export const WALKTHROUGH_ID = 'hitloop.gettingStarted';

function workspaceFolders(): string[] {
  return (vscode.workspace.workspaceFolders ?? [])
    .filter((f) => f.uri.scheme === 'file')
    .map((f) => f.uri.fsPath);
}

export function activate(context: vscode.ExtensionContext): HitloopExtensionApi {
  // Commands still running when the window reloads must not throw on a closed channel.
  const output = new ClosableOutput(vscode.window.createOutputChannel('hitloop'));
  // Remote hubs (team mode) join the discovered ones once their tokens are read.
  const remoteHubs = new RemoteHubs(
    context.secrets,
    (message) => output.appendLine(message),
    () => hubs.reconfigure(),
  );
  const hubs: HubConnections = new HubConnections({
    home: () => readSettings().home,
    scope: () => readSettings().discoveryScope,
    workspaceFolders,
    remoteHubs: () => remoteHubs.sources(),
    log: (message) => output.appendLine(message),
  });
  const proposed = new ProposedContentProvider();
  const showDiff = (ref: ItemRef, editedArgs?: Record<string, unknown>) =>
    showProposedDiff(hubs, proposed, ref, editedArgs);
  // What the `when` clauses of the manifest's menus read.
  const keys = new ContextKeys(
    (key, value) => void vscode.commands.executeCommand('setContext', key, value),
  );
  const syncPending = () => {
    const { pending } = hubs.snapshot();
    const live = new Set(pending.map((i) => `${i.hub.hubId}\n${i.approval.id}`));
    keys.update({
      pending: pending.length,
      pendingWrites: pending.filter((i) => hasDiff(i.hub, i.approval)).length,
      selected: view.selection.filter((r) => live.has(`${r.hubId}\n${r.id}`)).length,
    });
  };
  const syncRouting = () => keys.update(routingState(workspaceFolders()));
  const syncRemoteHubs = () => keys.update({ remoteHubs: readSettings().remoteHubs.length });
  const view: ApprovalsViewProvider = new ApprovalsViewProvider(context.extensionUri, {
    hubs,
    output,
    showDiff,
    onSelection: syncPending,
  });
  const notifier = new RequestNotifier({
    hubs,
    viewVisible: () => view.visible,
    reveal: (ref, focus) => view.reveal(ref, focus),
  });

  const offPending = hubs.onDidChange(syncPending);
  const mcpJsonWatcher = vscode.workspace.createFileSystemWatcher(`**/${MCP_JSON}`);
  context.subscriptions.push(
    output,
    { dispose: offPending },
    mcpJsonWatcher,
    mcpJsonWatcher.onDidCreate(syncRouting),
    mcpJsonWatcher.onDidChange(syncRouting),
    mcpJsonWatcher.onDidDelete(syncRouting),
    remoteHubs,
    { dispose: () => hubs.dispose() },
    proposed,
    view,
    notifier,
    new PendingStatusBar(hubs),
    vscode.window.registerWebviewViewProvider(ApprovalsViewProvider.viewId, view),
    vscode.workspace.registerTextDocumentContentProvider(PROPOSED_SCHEME, proposed),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('hitloop')) hubs.reconfigure();
      if (e.affectsConfiguration('hitloop.remoteHubs')) syncRemoteHubs();
    }),
    vscode.workspace.onDidChangeWorkspaceFolders(() => {
      hubs.reconfigure();
      syncRouting();
    }),
  );

  /** The request a command acts on: its argument, the one on screen, or one picked. */
  const target = async (arg: unknown, title: string, onlyDiff = false) => {
    const given = ItemRef.safeParse(arg);
    const ref = given.success ? given.data : onlyDiff ? undefined : view.viewing;
    if (ref) {
      const item = hubs.findPending(ref.hubId, ref.id);
      if (item) return item;
      if (given.success) {
        // Decided elsewhere (the sidebar, another window): say how, change nothing.
        const record = await hubs.get(ref.hubId, ref.id).then(
          (i) => i.approval,
          () => undefined,
        );
        void vscode.window.showInformationMessage(
          settledMessage(record?.tool ?? 'that tool call', record),
        );
        return undefined;
      }
    }
    const [picked] = await pickPending(hubs, title, false, onlyDiff);
    return picked;
  };

  const decideOne = async (item: PendingItem, approve: boolean) => {
    let reason: string | undefined;
    if (!approve) {
      reason = await askReason(item.approval.tool);
      if (reason === undefined) return;
    }
    const remember = readSettings().defaultRememberScope;
    const outcome = await decideAll(
      hubs,
      [{ hubId: item.hub.hubId, id: item.approval.id, argsHash: item.approval.argsHash }],
      { approve, ...(reason ? { reason } : {}), ...(remember !== 'none' ? { remember } : {}) },
    );
    announce(outcome.failures.length > 0, describeOutcome(outcome, approve));
  };

  const decideSelected = async (approve: boolean) => {
    // Each approval once, even if the selection named it through two hubs.
    let items = [
      ...new Map(
        view.selection
          .map((ref) => hubs.findPending(ref.hubId, ref.id))
          .filter((i): i is PendingItem => i !== undefined)
          .map((i) => [i.approval.id, i] as const),
      ).values(),
    ];
    if (items.length === 0) {
      items = await pickPending(hubs, approve ? 'Approve requests' : 'Reject requests', true);
      if (items.length === 0) return;
    }
    const verb = approve ? 'Approve' : 'Reject';
    if (items.length > 1) {
      const ok = await vscode.window.showWarningMessage(
        `${verb} ${items.length} tool calls?`,
        {
          modal: true,
          detail: items
            .map((i) => `• ${label(i)}`)
            .slice(0, 20)
            .join('\n'),
        },
        verb,
      );
      if (ok !== verb) return;
    }
    let reason: string | undefined;
    if (!approve) {
      reason = await askReason(`${items.length} tool call${items.length === 1 ? '' : 's'}`);
      if (reason === undefined) return;
    }
    const outcome = await decideAll(
      hubs,
      items.map((i) => ({ hubId: i.hub.hubId, id: i.approval.id, argsHash: i.approval.argsHash })),
      { approve, ...(reason ? { reason } : {}) },
    );
    announce(outcome.failures.length > 0, describeOutcome(outcome, approve));
  };

  const register = (id: string, run: (...args: unknown[]) => unknown) =>
    context.subscriptions.push(vscode.commands.registerCommand(id, run));
  register('hitloop.showApprovals', () => view.reveal());
  register('hitloop.refresh', () => view.refresh());
  register('hitloop.approve', async (arg) => {
    const item = await target(arg, 'Approve a tool call');
    if (item) await decideOne(item, true);
  });
  register('hitloop.reject', async (arg) => {
    const item = await target(arg, 'Reject a tool call');
    if (item) await decideOne(item, false);
  });
  register('hitloop.approveAll', () => decideSelected(true));
  register('hitloop.rejectAll', () => decideSelected(false));
  register('hitloop.showDiff', async (arg) => {
    const given = ItemRef.safeParse(arg);
    const ref = given.success ? given.data : view.viewing;
    if (ref) return showDiff(ref);
    const item = await target(undefined, 'Show the diff of a file write', true);
    if (item) await showDiff({ hubId: item.hub.hubId, id: item.approval.id });
  });
  // The proxy carried in the VSIX, and its fixed-path launcher for mcp.json.
  const bundled = prepareBundledProxy(context, readSettings().home, (m) => output.appendLine(m));
  register('hitloop.routeWorkspaceServers', () =>
    routeWorkspaceServers(output, bundled).finally(syncRouting),
  );
  register('hitloop.undoRouteWorkspaceServers', () =>
    undoRouteWorkspaceServers(output).finally(syncRouting),
  );
  register('hitloop.connectRemoteHub', () => remoteHubs.connect());
  register('hitloop.disconnectRemoteHub', () => remoteHubs.disconnect());
  register('hitloop.openWalkthrough', () =>
    vscode.commands.executeCommand(
      'workbench.action.openWalkthrough',
      `${context.extension.id}#${WALKTHROUGH_ID}`,
      false,
    ),
  );

  const mcpProviderRegistered = registerMcpProvider(context, bundled, output, syncRouting);
  if (!mcpProviderRegistered) {
    output.appendLine(
      `this VS Code (${vscode.version}) has no MCP server definition provider API (1.101+); hitloop's provider is off`,
    );
  }

  hubs.start();
  void remoteHubs.load();
  syncRouting();
  syncRemoteHubs();
  return {
    snapshot: () => hubs.snapshot(),
    viewResolved: () => view.resolved,
    mcpProviderRegistered,
  };
}

export function deactivate(): void {
  // Everything is in context.subscriptions.
}

function label({ approval }: PendingItem): string {
  return approval.server ? `${approval.server} › ${approval.tool}` : approval.tool;
}

function announce(failed: boolean, message: string): void {
  if (failed) void vscode.window.showErrorMessage(`hitloop: ${message}`);
  else void vscode.window.setStatusBarMessage(`hitloop: ${message}`, 4000);
}

function askReason(what: string): Thenable<string | undefined> {
  return vscode.window.showInputBox({
    title: `Reject ${what}`,
    prompt: 'Why? The agent is told the tool was not run, and this reason.',
    placeHolder: 'e.g. wrong file; write to src/ instead',
  });
}

async function pickPending(
  hubs: HubConnections,
  title: string,
  many: boolean,
  onlyDiff = false,
): Promise<PendingItem[]> {
  const pending = hubs.snapshot().pending.filter((i) => !onlyDiff || hasDiff(i.hub, i.approval));
  if (pending.length === 0) {
    void vscode.window.showInformationMessage(
      onlyDiff ? 'hitloop: no pending file write' : 'hitloop: nothing is waiting for approval',
    );
    return [];
  }
  const items = pending.map((item) => ({
    label: label(item),
    description: `${item.approval.riskClass} risk · ${item.hub.name}`,
    detail: `${item.approval.policyReason} — ${argsPreview(item.approval.args, 120)}`,
    item,
  }));
  if (many) {
    const picked = await vscode.window.showQuickPick(items, { title, canPickMany: true });
    return (picked ?? []).map((p) => p.item);
  }
  const picked = await vscode.window.showQuickPick(items, { title, matchOnDetail: true });
  return picked ? [picked.item] : [];
}
