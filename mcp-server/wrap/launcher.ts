import { accessSync, constants, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter as hostDelimiter, isAbsolute, join } from 'node:path';
import type { Launcher } from './wrap.js';

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

/** A launcher, or why there is none. */
export type LauncherResolution = { launcher: Launcher } | { problem: string };

/**
 * The launcher for `hitloop.proxyLauncher`: the words given, or, when the
 * setting is empty (its default), the `hitloop` command found on PATH,
 * resolved to an absolute path now so that the client starting the server
 * does not depend on its own PATH. When nothing is found the problem says
 * how to install hitloop or set the launcher.
 *
 * @example
 * const r = resolveProxyLauncher([]);
 * if ('problem' in r) showError(r.problem); else wrapFile(file, { launcher: r.launcher });
 */
export function resolveProxyLauncher(
  setting: readonly string[],
  options: FindOptions = {},
): LauncherResolution {
  if (setting.length > 0) return { launcher: { command: setting[0]!, args: setting.slice(1) } };
  const found = findOnPath('hitloop', options);
  if (found) return { launcher: { command: found, args: [] } };
  const env = options.env ?? process.env;
  return {
    problem: `hitloop: the hitloop command was not found on the PATH VS Code has (${env.PATH ?? env.Path ?? 'not set'}) nor in the usual npm folders. Install it (npm install -g ./hitloop-X.tgz, or npm install -g . in a checkout of hitloop, after npm ci), or set the setting hitloop.proxyLauncher to how to start it, e.g. ["node", "/abs/path/hitloop/dist/cli/main.js"]. Nothing was changed.`,
  };
}
