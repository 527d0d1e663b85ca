import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import { decideAll, describeOutcome } from './actions.js';
import type { HubConnections } from './hub-connections.js';
import { FromWebview, type ItemRef, refKey, type ToWebview } from './protocol.js';
import { readSettings } from './settings.js';
import { toDetail, toHistory, toSnapshotMessage } from './views.js';

/** What the view needs from the rest of the extension. */
export interface ApprovalsViewHost {
  hubs: HubConnections;
  output: vscode.OutputChannel;
  showDiff(ref: ItemRef, editedArgs?: Record<string, unknown>): Promise<void>;
  /** The checked items changed (the "Selected" commands' context key follows). */
  onSelection?(items: readonly ItemRef[]): void;
}

/**
 * The Approvals sidebar: a webview with a strict CSP (a nonce for the one
 * bundled script, nothing inline), resources only from the extension's own
 * `dist/extension` and `extension/media`, and every message parsed with the
 * shared protocol on arrival.
 */
export class ApprovalsViewProvider implements vscode.WebviewViewProvider, vscode.Disposable {
  static readonly viewId = 'hitloop.approvals';
  private view: vscode.WebviewView | undefined;
  private readonly disposables: vscode.Disposable[] = [];
  private snapshotTimer: ReturnType<typeof setTimeout> | undefined;
  /** A detail to open once the webview says it is ready. */
  private pendingFocus: { ref: ItemRef; focus?: 'approve' | 'reject' } | undefined;
  /** What the webview has checked, for the "Approve/Reject Selected" commands. */
  selection: ItemRef[] = [];
  /** The request the detail view shows, if any. */
  viewing: ItemRef | undefined;
  private readonly visibilityEmitter = new vscode.EventEmitter<boolean>();
  readonly onDidChangeVisibility = this.visibilityEmitter.event;

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly host: ApprovalsViewHost,
  ) {
    const offChange = host.hubs.onDidChange(() => this.scheduleSnapshot());
    const offRules = host.hubs.onDidChangeRules(() => void this.sendRules());
    this.disposables.push({ dispose: offChange }, { dispose: offRules }, this.visibilityEmitter);
  }

  get resolved(): boolean {
    return this.view !== undefined;
  }

  get visible(): boolean {
    return this.view?.visible ?? false;
  }

  dispose(): void {
    if (this.snapshotTimer) clearTimeout(this.snapshotTimer);
    for (const d of this.disposables) d.dispose();
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    const distRoot = vscode.Uri.joinPath(this.extensionUri, 'dist', 'extension');
    const mediaRoot = vscode.Uri.joinPath(this.extensionUri, 'extension', 'media');
    view.webview.options = { enableScripts: true, localResourceRoots: [distRoot, mediaRoot] };
    view.webview.html = this.html(view.webview, distRoot);
    this.disposables.push(
      view.webview.onDidReceiveMessage((raw: unknown) => void this.receive(raw)),
      view.onDidChangeVisibility(() => {
        this.visibilityEmitter.fire(view.visible);
        if (view.visible) this.scheduleSnapshot();
      }),
      view.onDidDispose(() => {
        this.view = undefined;
        this.selection = [];
        this.host.onSelection?.([]);
        this.viewing = undefined;
        this.visibilityEmitter.fire(false);
      }),
    );
  }

  /** Opens the sidebar, and the detail of `ref` when given. */
  async reveal(ref?: ItemRef, focus?: 'approve' | 'reject'): Promise<void> {
    if (ref) this.pendingFocus = { ref, ...(focus ? { focus } : {}) };
    if (this.view) {
      this.view.show(true);
      if (ref) await this.openDetail(ref, focus);
      this.pendingFocus = undefined;
      return;
    }
    // Not resolved yet: opening the container resolves it, and "ready" sends the focus.
    await vscode.commands.executeCommand('workbench.view.extension.hitloop');
  }

  refresh(): void {
    this.host.hubs.refresh();
    this.scheduleSnapshot();
  }

  private post(message: ToWebview): void {
    void this.view?.webview.postMessage(message);
  }

  private scheduleSnapshot(): void {
    if (this.snapshotTimer || !this.view) return;
    // SSE events come in bursts (a batch decision); one snapshot per burst.
    this.snapshotTimer = setTimeout(() => {
      this.snapshotTimer = undefined;
      this.sendSnapshot();
    }, 30);
  }

  private sendSnapshot(): void {
    if (!this.view) return;
    const message = toSnapshotMessage(
      this.host.hubs.snapshot(),
      readSettings().defaultRememberScope,
    );
    this.post(message);
  }

  private async receive(raw: unknown): Promise<void> {
    const parsed = FromWebview.safeParse(raw);
    if (!parsed.success) {
      this.host.output.appendLine(
        `ignored a malformed message from the Approvals view: ${parsed.error.issues[0]?.message ?? 'invalid'}`,
      );
      return;
    }
    const message = parsed.data;
    switch (message.type) {
      case 'ready':
        this.sendSnapshot();
        if (this.pendingFocus) {
          const { ref, focus } = this.pendingFocus;
          this.pendingFocus = undefined;
          await this.openDetail(ref, focus);
        }
        return;
      case 'refresh':
        this.refresh();
        return;
      case 'openDetail':
        await this.openDetail(message.ref, message.focus);
        return;
      case 'decide': {
        const outcome = await decideAll(this.host.hubs, message.items, {
          approve: message.approve,
          ...(message.reason ? { reason: message.reason } : {}),
          ...(message.editedArgs ? { editedArgs: message.editedArgs } : {}),
          ...(message.remember ? { remember: message.remember } : {}),
        });
        const first = outcome.failures[0];
        for (const failure of outcome.failures) {
          this.host.output.appendLine(
            `decision on ${failure.target.id} refused: ${failure.message}${failure.details ? ` (${failure.details.join('; ')})` : ''}`,
          );
        }
        this.post({
          type: 'result',
          requestId: message.requestId,
          ok: outcome.failures.length === 0,
          message: describeOutcome(outcome, message.approve),
          ...(first?.code ? { code: first.code } : {}),
          ...(first?.details ? { details: first.details } : {}),
        });
        this.scheduleSnapshot();
        return;
      }
      case 'showDiff':
        await this.host.showDiff(message.ref, message.editedArgs);
        return;
      case 'loadHistory':
        await this.sendHistory();
        return;
      case 'loadRules':
        await this.sendRules();
        return;
      case 'revokeRule':
        try {
          await this.host.hubs.revokeRule(message.hubId, message.ruleId);
          this.post({
            type: 'result',
            requestId: message.requestId,
            ok: true,
            message: 'rule revoked',
          });
        } catch (err) {
          this.post({
            type: 'result',
            requestId: message.requestId,
            ok: false,
            message: err instanceof Error ? err.message : String(err),
          });
        }
        await this.sendRules();
        return;
      case 'selection':
        this.selection = message.items;
        this.host.onSelection?.(message.items);
        return;
      case 'viewing':
        this.viewing = message.ref;
        return;
      case 'setScope':
        await vscode.workspace
          .getConfiguration('hitloop')
          .update('discoveryScope', message.scope, vscode.ConfigurationTarget.Global);
        return;
      case 'runCommand':
        await vscode.commands.executeCommand(message.command);
        return;
    }
  }

  private async openDetail(ref: ItemRef, focus?: 'approve' | 'reject'): Promise<void> {
    const live = this.host.hubs.findPending(ref.hubId, ref.id);
    try {
      const item = live ?? (await this.host.hubs.get(ref.hubId, ref.id));
      this.viewing = ref;
      this.post({
        type: 'detail',
        item: toDetail(item, live !== undefined),
        ...(focus ? { focus } : {}),
      });
    } catch (err) {
      this.post({
        type: 'detailError',
        ref,
        message: `cannot load ${refKey(ref)}: ${err instanceof Error ? err.message : String(err)}`,
      });
    }
  }

  private async sendHistory(): Promise<void> {
    const items = await this.host.hubs.history(200);
    this.post({ type: 'history', items: items.map(toHistory) });
  }

  private async sendRules(): Promise<void> {
    if (!this.view) return;
    const rules = await this.host.hubs.rules();
    this.post({
      type: 'rules',
      items: rules.map(({ hub, rule }) => ({ hubId: hub.hubId, hubName: hub.name, rule })),
    });
  }

  private html(webview: vscode.Webview, distRoot: vscode.Uri): string {
    const nonce = randomBytes(16).toString('base64');
    const script = webview.asWebviewUri(vscode.Uri.joinPath(distRoot, 'webview.js'));
    const style = webview.asWebviewUri(vscode.Uri.joinPath(distRoot, 'webview.css'));
    const codicons = webview.asWebviewUri(vscode.Uri.joinPath(distRoot, 'codicons', 'codicon.css'));
    const csp = [
      "default-src 'none'",
      `style-src ${webview.cspSource}`,
      `font-src ${webview.cspSource}`,
      `img-src ${webview.cspSource}`,
      `script-src 'nonce-${nonce}'`,
      "base-uri 'none'",
      "form-action 'none'",
    ].join('; ');
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${codicons}" id="vscode-codicon-stylesheet">
<link rel="stylesheet" href="${style}">
<title>hitloop approvals</title>
</head>
<body>
<main id="app" data-testid="approvals-root"></main>
<script nonce="${nonce}" src="${script}"></script>
</body>
</html>`;
  }
}
