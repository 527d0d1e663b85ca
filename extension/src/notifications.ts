import * as vscode from 'vscode';
import { makeVisible } from '../../shared/util/visible-text.js';
import { decideAll, describeOutcome } from './actions.js';
import type { HubConnections, PendingItem } from './hub-connections.js';
import type { ItemRef } from './protocol.js';
import { readSettings } from './settings.js';
import { settledMessage, untilSettled } from './settled.js';
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
 * does not bury the editor. It closes when its calls are decided, wherever.
 */
export class RequestNotifier implements vscode.Disposable {
  private readonly off: () => void;
  private batch: PendingItem[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private shown = 0;
  /** Ends the open notifications' progress (on dispose). */
  private readonly stops = new Set<() => void>();

  constructor(private readonly host: NotificationHost) {
    this.off = host.hubs.onDidRequest((item) => this.queue(item));
  }

  dispose(): void {
    this.off();
    if (this.timer) clearTimeout(this.timer);
    for (const stop of this.stops) stop();
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
    const refs = live.map((i) => ({ hubId: i.hub.hubId, id: i.approval.id }));
    // A message's buttons cannot be taken back once shown, so a call decided
    // in the sidebar would keep offering Approve / Reject. A progress
    // notification closes when its task ends: it ends as soon as the calls
    // are no longer pending, and its actions are links to commands that
    // exist only while it is open.
    const n = ++this.shown;
    const commands: vscode.Disposable[] = [];
    const link = (title: string, action: string, run: () => unknown) => {
      const id = `hitloop.notification.${n}.${action}`;
      commands.push(vscode.commands.registerCommand(id, run));
      return `[${title}](command:${id})`;
    };
    let title: string;
    let message: string;
    if (live.length > 1) {
      title = `hitloop: ${live.length} tool calls wait for your approval`;
      message = link('Show', 'show', () => this.host.reveal());
    } else {
      const item = live[0]!;
      const { approval } = item;
      const ref = refs[0]!;
      const who = approval.server ? `${approval.server} › ${approval.tool}` : approval.tool;
      title = makeVisible(
        `hitloop: ${who} (${approval.riskClass} risk) waits for approval: ${clip(approval.policyReason, 160)}`,
      );
      // Link text ends at `]`: brackets in the arguments must not cut a link short.
      const detail = argsPreview(approval.args, 160).replace(/[[\]]/g, '·');
      const actions = [
        link('Approve', 'approve', () => this.decide(item, true)),
        link('Reject', 'reject', () => this.decide(item, false)),
        link('Show', 'show', () => this.host.reveal(ref)),
      ];
      // The progress notification's own button is VS Code's "Cancel": it
      // closes the notification, and the call keeps waiting in the sidebar.
      message = `${detail} — ${actions.join(' · ')}`;
    }
    let ended: (() => void) | undefined;
    try {
      await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title, cancellable: true },
        (progress, token) => {
          progress.report({ message });
          return untilSettled(this.host.hubs, refs, (stop) => {
            token.onCancellationRequested(stop);
            ended = stop;
            this.stops.add(stop);
          });
        },
      );
    } finally {
      if (ended) this.stops.delete(ended);
      for (const c of commands) c.dispose();
    }
  }

  /** Approve or Reject from a notification; a call decided meanwhile is left alone. */
  private async decide(item: PendingItem, approve: boolean): Promise<void> {
    const { hub, approval } = item;
    const ref = { hubId: hub.hubId, id: approval.id };
    const who = approval.server ? `${approval.server} › ${approval.tool}` : approval.tool;
    if (!this.host.hubs.findPending(ref.hubId, ref.id)) return this.settled(ref, who);
    let reason: string | undefined;
    if (!approve) {
      reason = await vscode.window.showInputBox({
        title: `Reject ${who}`,
        prompt: 'Why? The agent is told the tool was not run, and this reason.',
        placeHolder: 'e.g. wrong file; write to src/ instead',
      });
      if (reason === undefined) return;
      // Decided in the sidebar while the reason was being typed.
      if (!this.host.hubs.findPending(ref.hubId, ref.id)) return this.settled(ref, who);
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

  private async settled(ref: ItemRef, who: string): Promise<void> {
    const record = await this.host.hubs.get(ref.hubId, ref.id).then(
      (i) => i.approval,
      () => undefined,
    );
    void vscode.window.showInformationMessage(settledMessage(who, record));
  }
}
