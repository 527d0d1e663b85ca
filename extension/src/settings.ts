import * as vscode from 'vscode';
import type { RememberChoice } from './protocol.js';
import { parseRemoteHubs, type RemoteHubEntry } from './remote-hubs.js';
import type { DiscoveryScope } from './workspace-filter.js';

/** When a new request raises a notification. */
export type NotificationMode = 'always' | 'whenHidden' | 'never';

export interface Settings {
  /** Discovery folder override ('' = $HITLOOP_HOME or ~/.hitloop). */
  home: string;
  notifications: NotificationMode;
  defaultRememberScope: RememberChoice;
  discoveryScope: DiscoveryScope;
  /**
   * How routed servers start hitloop: the command and the arguments before
   * `proxy`; empty (the default) means the proxy bundled with the extension
   * (see bundled-proxy.ts).
   */
  proxyLauncher: string[];
  mcpConfigFiles: string[];
  /** Offer gated copies of the servers in VS Code's mcp.json files (see mcp-json-servers.ts). */
  offerMcpJsonServers: boolean;
  /** Central hubs to connect to (team mode); their tokens are in secret storage. */
  remoteHubs: RemoteHubEntry[];
}

/**
 * Reads the `hitloop.*` settings, normalised: a wrong value falls back to the
 * default instead of throwing (a bad setting must not take the sidebar down).
 * `warn` hears about entries that were skipped.
 *
 * @example
 * const { remoteHubs } = readSettings((m) => output.appendLine(m));
 */
export function readSettings(warn?: (message: string) => void): Settings {
  const c = vscode.workspace.getConfiguration('hitloop');
  const home = c.get<unknown>('home');
  const notifications = c.get<unknown>('notifications');
  const remember = c.get<unknown>('defaultRememberScope');
  const scope = c.get<unknown>('discoveryScope');
  const launcher = c.get<unknown>('proxyLauncher');
  const configs = c.get<unknown>('mcpConfigFiles');
  const remote = c.get<unknown>('remoteHubs');
  const offer = c.get<unknown>('offerMcpJsonServers');
  // Anything but a list of non-empty words means the default (the bundled proxy).
  const launcherWords =
    Array.isArray(launcher) && launcher.every((w) => typeof w === 'string' && w.trim() !== '')
      ? (launcher as string[])
      : [];
  if (launcherWords.length === 0 && Array.isArray(launcher) && launcher.length > 0)
    warn?.(
      'hitloop.proxyLauncher holds something other than non-empty strings; using the proxy bundled with the extension instead',
    );
  return {
    home: typeof home === 'string' ? expandHome(home.trim()) : '',
    notifications:
      notifications === true
        ? 'whenHidden'
        : notifications === false
          ? 'never'
          : notifications === 'always' || notifications === 'never'
            ? notifications
            : 'whenHidden',
    defaultRememberScope:
      remember === 'session' || remember === 'workspace' || remember === 'always'
        ? remember
        : 'none',
    discoveryScope: scope === 'all' ? 'all' : 'workspace',
    proxyLauncher: launcherWords,
    mcpConfigFiles: Array.isArray(configs)
      ? configs.filter((f): f is string => typeof f === 'string' && f.trim() !== '')
      : [],
    offerMcpJsonServers: offer !== false,
    remoteHubs: parseRemoteHubs(remote, warn),
  };
}

function expandHome(path: string): string {
  if (path === '~' || path.startsWith('~/')) {
    const home = process.env.HOME ?? process.env.USERPROFILE ?? '';
    return home + path.slice(1);
  }
  return path;
}
