import { basename } from 'node:path';
import * as vscode from 'vscode';
import { applyEdits, proposedFileChange } from './file-edits.js';
import type { HubConnections } from './hub-connections.js';
import type { ItemRef } from './protocol.js';
import { remoteDiffRefusal } from './views.js';

/** The read-only scheme of proposed file contents. */
export const PROPOSED_SCHEME = 'hitloop-proposed';

/**
 * Serves proposed contents to the diff editor. Documents of a content
 * provider are read-only: the reviewer looks, and edits (if any) go through
 * the Edit button, where the hub checks them against the tool's schema.
 */
export class ProposedContentProvider implements vscode.TextDocumentContentProvider {
  private readonly contents = new Map<string, string>();
  private readonly emitter = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.emitter.event;

  set(uri: vscode.Uri, text: string): void {
    // Bounded: old previews go first; their editors show a short note instead.
    if (this.contents.size >= 50) {
      const oldest = this.contents.keys().next().value;
      if (oldest !== undefined) this.contents.delete(oldest);
    }
    this.contents.set(uri.toString(), text);
    this.emitter.fire(uri);
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    return (
      this.contents.get(uri.toString()) ??
      '(this hitloop preview has expired; use Show diff again)\n'
    );
  }

  dispose(): void {
    this.emitter.dispose();
    this.contents.clear();
  }
}

let counter = 0;

/**
 * Opens VS Code's diff editor between the file on disk and what a pending
 * file-writing call (server-filesystem's write_file or edit_file, or a tool
 * of that shape) would leave there. `editedArgs` previews an edit before it
 * is sent.
 */
export async function showProposedDiff(
  hubs: HubConnections,
  provider: ProposedContentProvider,
  ref: ItemRef,
  editedArgs?: Record<string, unknown>,
): Promise<void> {
  let item = hubs.findPending(ref.hubId, ref.id);
  try {
    item ??= await hubs.get(ref.hubId, ref.id);
  } catch (err) {
    void vscode.window.showErrorMessage(`hitloop: ${(err as Error).message}`);
    return;
  }
  const { approval, hub } = item;
  // A remote hub's request names a file on the machine that asked, not this one.
  if (hub.remote) {
    void vscode.window.showInformationMessage(`hitloop: ${remoteDiffRefusal(hub, approval)}`);
    return;
  }
  const args = editedArgs ?? approval.args;
  const change = proposedFileChange(approval.tool, args, approval.cwd ?? hub.cwd);
  if (!change) {
    void vscode.window.showInformationMessage(
      `hitloop: ${approval.tool} does not look like a file-writing tool (no path with content or edits), so there is no diff to show`,
    );
    return;
  }
  const fileUri = vscode.Uri.file(change.path);
  let onDisk: string | undefined;
  try {
    onDisk = new TextDecoder().decode(await vscode.workspace.fs.readFile(fileUri));
  } catch {
    onDisk = undefined; // a new file
  }
  let proposed: string;
  if (change.kind === 'write') {
    proposed = change.content;
  } else {
    if (onDisk === undefined) {
      void vscode.window.showWarningMessage(
        `hitloop: ${change.path} does not exist, so ${approval.tool} would fail`,
      );
      return;
    }
    const applied = applyEdits(onDisk, change.edits);
    if (!applied.ok) {
      void vscode.window.showWarningMessage(`hitloop: ${applied.message}`);
      return;
    }
    proposed = applied.text;
  }
  const n = ++counter;
  const right = vscode.Uri.from({
    scheme: PROPOSED_SCHEME,
    path: change.path,
    query: `proposed=${encodeURIComponent(approval.id)}&n=${n}`,
  });
  provider.set(right, proposed);
  let left = fileUri;
  if (onDisk === undefined) {
    left = vscode.Uri.from({ scheme: PROPOSED_SCHEME, path: change.path, query: `empty&n=${n}` });
    provider.set(left, '');
  }
  const who = approval.server ? `${approval.server} › ${approval.tool}` : approval.tool;
  const title = `${basename(change.path)}: ${onDisk === undefined ? 'new file' : 'on disk'} ↔ ${editedArgs ? 'your edit of ' : ''}${who}`;
  await vscode.commands.executeCommand('vscode.diff', left, right, title, { preview: true });
}
