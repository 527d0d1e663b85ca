import * as vscode from 'vscode';
import { HubClient, HubRequestError } from '../../shared/hub/hub-client.js';
import type { RemoteHubSource } from './hub-connections.js';
import {
  normalizeHubUrl,
  type RemoteHubEntry,
  tokenKey,
  withoutRemoteHub,
  withRemoteHub,
} from './remote-hubs.js';
import { readSettings } from './settings.js';

// Remote hubs in the editor: the tokens (VS Code's SecretStorage, never the
// settings, which sync and get pasted into issues) and the two commands that
// add and remove a hub. HubConnections reads `sources()` at every scan.

/**
 * The remote hubs of the settings with their tokens. SecretStorage is
 * asynchronous and HubConnections scans synchronously, so tokens are loaded
 * into memory here and reloaded when settings or secrets change.
 *
 * @example
 * const remote = new RemoteHubs(context.secrets, (m) => output.appendLine(m), () => hubs.reconfigure());
 * await remote.load();
 * new HubConnections({ remoteHubs: () => remote.sources() });
 */
export class RemoteHubs implements vscode.Disposable {
  private tokens = new Map<string, string>();
  private entries: RemoteHubEntry[] = [];
  private readonly warned = new Set<string>();
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor(
    private readonly secrets: vscode.SecretStorage,
    private readonly log: (message: string) => void,
    private readonly changed: () => void,
  ) {
    this.subscriptions.push(
      secrets.onDidChange((e) => {
        if (e.key.startsWith('hitloop.remoteHub.token:')) void this.load();
      }),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('hitloop.remoteHubs')) void this.load();
      }),
    );
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
  }

  /** Reads the setting and the tokens it needs, then tells HubConnections. */
  async load(): Promise<void> {
    const entries = readSettings((message) => {
      // Each problem once, not at every settings read.
      if (this.warned.has(message)) return;
      this.warned.add(message);
      this.log(message);
    }).remoteHubs;
    const tokens = new Map<string, string>();
    for (const entry of entries) {
      const token = await this.secrets.get(tokenKey(entry.url));
      if (token) tokens.set(entry.url, token);
    }
    this.entries = entries;
    this.tokens = tokens;
    this.changed();
  }

  sources(): RemoteHubSource[] {
    return this.entries.map((entry) => ({ ...entry, token: this.tokens.get(entry.url) }));
  }

  /** `hitloop.connectRemoteHub`: asks for the URL and the token, checks them, saves both. */
  async connect(): Promise<void> {
    const typed = await vscode.window.showInputBox({
      title: 'Connect to a remote hitloop hub (1/2)',
      prompt: 'The URL `hitloop serve` printed, without the #token part',
      placeHolder: 'https://hub.example:8700',
      ignoreFocusOut: true,
      validateInput: (text) => {
        if (!text.trim()) return undefined;
        const checked = normalizeHubUrl(stripFragment(text), true);
        return checked.ok ? undefined : checked.message;
      },
    });
    if (!typed?.trim()) return;
    // A pasted page link carries the token in its fragment: take it from there.
    const fromLink = /#(?:.*&)?token=([^&]+)/.exec(typed)?.[1];
    let checked = normalizeHubUrl(stripFragment(typed));
    let allowInsecure = false;
    if (!checked.ok) {
      const insecure = normalizeHubUrl(stripFragment(typed), true);
      if (!insecure.ok) return void vscode.window.showErrorMessage(`hitloop: ${insecure.message}`);
      const choice = await vscode.window.showWarningMessage(
        `${insecure.url} uses plain http to another machine: the hub's token would cross the network unencrypted.`,
        { modal: true, detail: 'Use https unless this network is one you trust completely.' },
        'Connect anyway',
      );
      if (choice !== 'Connect anyway') return;
      checked = insecure;
      allowInsecure = true;
    }
    const url = checked.url;
    const token =
      (fromLink ? decodeURIComponent(fromLink) : undefined) ??
      (await vscode.window.showInputBox({
        title: 'Connect to a remote hitloop hub (2/2)',
        prompt: `The token of ${url} (printed by \`hitloop serve\`); kept in VS Code's secret storage`,
        password: true,
        ignoreFocusOut: true,
      }));
    if (!token?.trim()) return;
    const name = await this.check(url, token.trim());
    if (name === false) return;
    await this.secrets.store(tokenKey(url), token.trim());
    const config = vscode.workspace.getConfiguration('hitloop');
    await config.update(
      'remoteHubs',
      withRemoteHub(config.inspect('remoteHubs')?.globalValue, {
        url,
        ...(name ? { name } : {}),
        ...(allowInsecure ? { allowInsecure: true } : {}),
      }),
      vscode.ConfigurationTarget.Global,
    );
    await this.load();
    void vscode.window.showInformationMessage(`hitloop: connected to ${name || url}`);
  }

  /** `hitloop.disconnectRemoteHub`: removes a hub from the setting and forgets its token. */
  async disconnect(): Promise<void> {
    const entries = readSettings().remoteHubs;
    if (entries.length === 0)
      return void vscode.window.showInformationMessage('hitloop: no remote hub is configured');
    const picked =
      entries.length === 1
        ? entries[0]
        : (
            await vscode.window.showQuickPick(
              entries.map((entry) => ({ label: entry.name, description: entry.url, entry })),
              { title: 'Disconnect from a remote hitloop hub' },
            )
          )?.entry;
    if (!picked) return;
    const ok = await vscode.window.showWarningMessage(
      `Disconnect from ${picked.name} (${picked.url}) and forget its token?`,
      { modal: true },
      'Disconnect',
    );
    if (ok !== 'Disconnect') return;
    await this.secrets.delete(tokenKey(picked.url));
    const config = vscode.workspace.getConfiguration('hitloop');
    await config.update(
      'remoteHubs',
      withoutRemoteHub(config.inspect('remoteHubs')?.globalValue, picked.url),
      vscode.ConfigurationTarget.Global,
    );
    await this.load();
  }

  /**
   * Tries the hub once before saving: the hub's name on success; false when
   * the user gives up after a failure; '' when they save anyway.
   */
  private async check(url: string, token: string): Promise<string | false> {
    try {
      const info = await new HubClient({ url, token }).info();
      return info.name;
    } catch (err) {
      const message =
        err instanceof HubRequestError && err.status === 401
          ? `token rejected by ${url}`
          : `cannot reach ${url}: ${err instanceof Error ? err.message : String(err)}`;
      if (err instanceof HubRequestError && err.status === 401) {
        void vscode.window.showErrorMessage(`hitloop: ${message}`);
        return false;
      }
      const choice = await vscode.window.showWarningMessage(
        `hitloop: ${message}`,
        { modal: true, detail: 'Save it anyway? hitloop keeps trying to connect.' },
        'Save anyway',
      );
      return choice === 'Save anyway' ? '' : false;
    }
  }
}

function stripFragment(text: string): string {
  const i = text.indexOf('#');
  return (i === -1 ? text : text.slice(0, i)).trim();
}
