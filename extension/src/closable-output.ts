import type * as vscode from 'vscode';

// When the window reloads, VS Code closes the extension's output channel, and
// writing to it then throws ("Channel has been closed"). A command still
// running at that moment (Route waits for a dialog, a hub answers late) must
// not fail on its log line. No runtime `vscode` import: the unit tests use it.

/**
 * An output channel that, once disposed (by the extension, or by VS Code
 * first), quietly drops what is written to it instead of throwing.
 *
 * @example
 * const output = new ClosableOutput(vscode.window.createOutputChannel('hitloop'));
 * context.subscriptions.push(output);
 * output.appendLine('still safe after the window reloads');
 */
export class ClosableOutput implements vscode.OutputChannel {
  private closed = false;

  constructor(private readonly channel: vscode.OutputChannel) {}

  get name(): string {
    return this.channel.name;
  }

  /** Whether the channel is gone (writes are dropped). */
  get isClosed(): boolean {
    return this.closed;
  }

  append(value: string): void {
    this.use((c) => c.append(value));
  }

  appendLine(value: string): void {
    this.use((c) => c.appendLine(value));
  }

  replace(value: string): void {
    this.use((c) => c.replace(value));
  }

  clear(): void {
    this.use((c) => c.clear());
  }

  show(preserveFocus?: boolean): void;
  show(column?: vscode.ViewColumn, preserveFocus?: boolean): void;
  show(first?: boolean | vscode.ViewColumn, preserveFocus?: boolean): void {
    this.use((c) =>
      typeof first === 'boolean' || first === undefined
        ? c.show(first)
        : c.show(first, preserveFocus),
    );
  }

  hide(): void {
    this.use((c) => c.hide());
  }

  dispose(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.channel.dispose();
    } catch {
      // already closed by VS Code
    }
  }

  private use(action: (channel: vscode.OutputChannel) => void): void {
    if (this.closed) return;
    try {
      action(this.channel);
    } catch {
      // VS Code closed the channel before the extension did: the window is going away.
      this.closed = true;
    }
  }
}
