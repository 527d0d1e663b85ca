import * as vscode from 'vscode';
import { makeVisible } from '../../shared/util/visible-text.js';
import { decideAll, describeOutcome } from './actions.js';
import type { HubConnections, PendingItem } from './hub-connections.js';
import type { ItemRef } from './protocol.js';
import { readSettings } from './settings.js';
import { argsPreview, clip } from './views.js';

export interface NotificationHost {
  hubs: HubConnections;
  /** Whether the Approvals view is on screen. */
  viewVisible(): boolean;
  reveal(ref?: ItemRef, focus?: 'approve' | 'reject'): Promise<void>;
}

/**
 * A notification with Approve / Reject / Show when a request arrives while
 * the sidebar is hidden (or always, or never: `hitloop.notifications`).
 * Requests that arrive together make one notification, so a burst of calls
 * does not bury the editor.
 */
export class RequestNotifier implements vscode.Disposable {
  private readonly off: () => void;
  private batch: PendingItem[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly host: NotificationHost) {
    this.off = host.hubs.onDidRequest((item) => this.queue(item));
  }

  dispose(): void {
    this.off();
    if (this.timer) clearTimeout(this.timer);
  }

  private queue(item: PendingItem): void {
    const mode = readSettings().notifications;
    if (mode === 'never' || (mode === 'whenHidden' && this.host.viewVisible())) return;
    this.batch.push(item);
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      const batch = this.batch;
      this.batch = [];
      void this.show(batch);
    }, 400);
  }

  private async show(batch: PendingItem[]): Promise<void> {
    // Still pending? A fast reviewer elsewhere may have answered already.
    // Each approval once, through the hub the list shows it through.
    const byId = new Map<string, PendingItem>();
    for (const i of batch) {
      const current = this.host.hubs.findPending(i.hub.hubId, i.approval.id);
      if (current) byId.set(current.approval.id, current);
    }
    const live = [...byId.values()];
    if (live.length === 0) return;
    if (live.length > 1) {
      const choice = await vscode.window.showInformationMessage(
        `hitloop: ${live.length} tool calls wait for your approval`,
        'Show',
      );
      if (choice === 'Show') await this.host.reveal();
      return;
    }
    const { hub, approval } = live[0]!;
    const ref = { hubId: hub.hubId, id: approval.id };
    const who = approval.server ? `${approval.server} › ${approval.tool}` : approval.tool;
    const text = makeVisible(
      `hitloop: ${who} (${approval.riskClass} risk) waits for approval: ${clip(approval.policyReason, 160)}`,
    );
    const detail = argsPreview(approval.args, 160);
    const buttons = ['Approve', 'Reject', 'Show'];
    const choice =
      approval.riskClass === 'high'
        ? await vscode.window.showWarningMessage(`${text} — ${detail}`, ...buttons)
        : await vscode.window.showInformationMessage(`${text} — ${detail}`, ...buttons);
    if (choice === 'Show') return this.host.reveal(ref);
    if (choice !== 'Approve' && choice !== 'Reject') return;
    const approve = choice === 'Approve';
    let reason: string | undefined;
    if (!approve) {
      reason = await vscode.window.showInputBox({
        title: `Reject ${who}`,
        prompt: 'Why? The agent is told the tool was not run, and this reason.',
        placeHolder: 'e.g. wrong file; write to src/ instead',
      });
      if (reason === undefined) return;
    }
    const remember = readSettings().defaultRememberScope;
    const outcome = await decideAll(this.host.hubs, [{ ...ref, argsHash: approval.argsHash }], {
      approve,
      ...(reason ? { reason } : {}),
      ...(remember !== 'none' ? { remember } : {}),
    });
    const message = `hitloop: ${describeOutcome(outcome, approve)}`;
    if (outcome.failures.length) void vscode.window.showErrorMessage(message);
    else void vscode.window.setStatusBarMessage(message, 4000);
  }
}
