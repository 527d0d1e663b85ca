import { accessSync, constants, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter as hostDelimiter, isAbsolute, join } from 'node:path';
import { isRegistryLauncher, type Launcher } from './wrap.js';

// How the VS Code extension finds the hitloop it routes servers through. No
// vscode import: the extension calls this with its settings, tests call it
// with a made-up PATH.

/** Where to look, and on which platform; defaults are this process's. */
export interface FindOptions {
  env?: Readonly<Record<string, string | undefined>>;
  platform?: NodeJS.Platform;
  /** Folders searched after PATH; default: the usual global npm bin folders. */
  extraDirs?: readonly string[];
}

/**
 * The usual folders of globally installed npm commands. VS Code started from
 * a desktop launcher (macOS Dock, a .desktop file) often has a shorter PATH
 * than a login shell, without them.
 *
 * @example
 * commonBinDirs('/home/me') // ['/usr/local/bin', '/opt/homebrew/bin', '/home/me/.npm-global/bin', ...]
 */
export function commonBinDirs(home: string = homedir()): string[] {
  return [
    '/usr/local/bin',
    '/opt/homebrew/bin',
    join(home, '.npm-global', 'bin'),
    join(home, '.local', 'bin'),
    join(home, '.volta', 'bin'),
  ];
}

/**
 * The absolute path of an executable `name` in PATH (then `extraDirs`), the
 * first one found; on Windows also `name` plus each PATHEXT extension.
 * Relative PATH entries are skipped: they would depend on the working
 * directory of whoever starts the server.
 *
 * @example
 * findOnPath('hitloop', { env: { PATH: '/usr/local/bin:/usr/bin' } }) // '/usr/local/bin/hitloop'
 */
export function findOnPath(name: string, options: FindOptions = {}): string | undefined {
  const env = options.env ?? process.env;
  const platform = options.platform ?? process.platform;
  const windows = platform === 'win32';
  const delimiter = windows ? ';' : platform === process.platform ? hostDelimiter : ':';
  const path = env.PATH ?? env.Path ?? '';
  const dirs = [
    ...path.split(delimiter),
    ...(options.extraDirs ?? (windows ? [] : commonBinDirs(env.HOME ?? homedir()))),
  ];
  // On Windows only names with an executable extension, as `where` does:
  // npm's global bin holds an extensionless sh script beside hitloop.cmd.
  const names = windows
    ? (env.PATHEXT ?? '.COM;.EXE;.BAT;.CMD')
        .split(';')
        .filter(Boolean)
        .map((ext) => name + ext.toLowerCase())
    : [name];
  for (const dir of dirs) {
    if (!dir || !isAbsolute(dir)) continue;
    for (const candidate of names) {
      const full = join(dir, candidate);
      if (isExecutableFile(full, windows)) return full;
    }
  }
  return undefined;
}

function isExecutableFile(path: string, windows: boolean): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    if (!windows) accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A launcher, or why there is none; `note` says why a setting was not used as given. */
export type LauncherResolution = { launcher: Launcher; note?: string } | { problem: string };

/** What {@link resolveProxyLauncher} may fall back on besides PATH. */
export interface ResolveOptions extends FindOptions {
  /**
   * The proxy the extension carries (see mcp-server/wrap/embedded.ts), used
   * when the setting is empty; absent when the extension's copy is missing
   * (a development checkout not built yet).
   */
  bundled?: Launcher;
}

/**
 * The launcher for `hitloop.proxyLauncher`: the words given; when the setting
 * is empty (its default), the proxy bundled in the extension (`bundled`);
 * without one, the `hitloop` command found on PATH, resolved to an absolute
 * path now so that the client starting the server does not depend on its own
 * PATH. A setting that fetches hitloop from the npm registry (`npx -y
 * hitloop`, an old default that cannot work: the name is not ours there) is
 * treated as empty, with a `note`. When nothing is found the problem says how
 * to install hitloop or set the launcher.
 *
 * @example
 * const r = resolveProxyLauncher([], { bundled: { command: '/usr/bin/node', args: ['/ext/dist/cli/main.js'] } });
 * if ('problem' in r) showError(r.problem); else wrapFile(file, { launcher: r.launcher });
 */
export function resolveProxyLauncher(
  setting: readonly string[],
  options: ResolveOptions = {},
): LauncherResolution {
  let note: string | undefined;
  if (setting.length > 0) {
    const given = { command: setting[0]!, args: setting.slice(1) };
    if (!isRegistryLauncher(given)) return { launcher: given };
    note = `hitloop.proxyLauncher is ${JSON.stringify(setting)}, which fetches hitloop from the npm registry, where the name hitloop is not this project: using ${options.bundled ? 'the proxy bundled with the extension' : 'the hitloop found on PATH'} instead. Remove the setting to silence this.`;
  }
  const withNote = (launcher: Launcher): LauncherResolution =>
    note ? { launcher, note } : { launcher };
  if (options.bundled) return withNote(options.bundled);
  const found = findOnPath('hitloop', options);
  if (found) return withNote({ command: found, args: [] });
  const env = options.env ?? process.env;
  return {
    problem: `hitloop: the proxy bundled with the extension is missing, and the hitloop command was not found on the PATH VS Code has (${env.PATH ?? env.Path ?? 'not set'}) nor in the usual npm folders. Reinstall the extension (or run npm run build in a checkout), or set the setting hitloop.proxyLauncher to how to start hitloop, e.g. ["node", "/abs/path/hitloop/dist/cli/main.js"]. Nothing was changed.`,
  };
}
