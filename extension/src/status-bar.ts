import * as vscode from 'vscode';
import type { HubConnections } from './hub-connections.js';

/**
 * The pending count in the status bar. It stays visible with the number 0
 * while a hub is connected, so a reviewer can tell "nothing waiting" from
 * "nothing connected"; with no hub at all it hides.
 */
export class PendingStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem(
    'hitloop.pending',
    vscode.StatusBarAlignment.Left,
    100,
  );
  private readonly off: () => void;

  constructor(private readonly hubs: HubConnections) {
    this.item.name = 'hitloop approvals';
    this.item.command = 'hitloop.showApprovals';
    this.off = hubs.onDidChange(() => this.update());
    this.update();
  }

  update(): void {
    const snapshot = this.hubs.snapshot();
    const count = snapshot.pending.length;
    const retrying = snapshot.hubs.filter((h) => h.state === 'retrying').length;
    if (snapshot.hubs.length === 0) {
      this.item.hide();
      return;
    }
    this.item.text = count > 0 ? `$(bell-dot) ${count} pending` : '$(shield) 0';
    this.item.backgroundColor =
      count > 0 ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    const hubs = `${snapshot.hubs.length} hitloop process${snapshot.hubs.length === 1 ? '' : 'es'}`;
    const lines = [
      count === 1
        ? '1 tool call waits for your approval'
        : `${count} tool calls wait for your approval`,
      `${hubs} connected${retrying ? `, ${retrying} reconnecting` : ''}`,
    ];
    if (snapshot.hiddenByScope > 0)
      lines.push(`${snapshot.hiddenByScope} more from other workspaces (hitloop.discoveryScope)`);
    this.item.tooltip = lines.join('\n');
    this.item.accessibilityInformation = { label: `hitloop: ${lines[0]}` };
    this.item.show();
  }

  dispose(): void {
    this.off();
    this.item.dispose();
  }
}
