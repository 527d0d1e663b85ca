import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Launcher } from './wrap.js';

// The proxy the VS Code extension carries in its VSIX (dist/cli/main.js),
// started with the runtime that runs the extension host: no Node install and
// no checkout needed. No vscode import: the extension calls these with its
// own paths, tests call them with made-up ones.

/**
 * The JavaScript runtime that runs the extension host, and so the bundled
 * proxy. In desktop VS Code `execPath` is the Electron binary, which runs
 * plain Node only with `ELECTRON_RUN_AS_NODE=1`; in code-server and VS Code's
 * remote server it is a Node binary.
 *
 * @example
 * const runtime: HostRuntime = { execPath: '/usr/share/code/code', electron: true };
 */
export interface HostRuntime {
  execPath: string;
  electron: boolean;
}

/**
 * This process's runtime.
 *
 * @example
 * hostRuntime() // { execPath: '/usr/bin/node', electron: false } in code-server
 */
export function hostRuntime(): HostRuntime {
  return { execPath: process.execPath, electron: Boolean(process.versions.electron) };
}

/** A launcher plus the environment it needs (an MCP server definition carries both). */
export interface LaunchCommand extends Launcher {
  env: Record<string, string>;
}

/**
 * How to start the bundled CLI `cliPath` directly with `runtime`: what the
 * extension's MCP server definitions use, since VS Code asks for them again
 * at every start and the extension's folder is then current.
 *
 * @example
 * bundledLaunch('/ext/dist/cli/main.js', { execPath: '/usr/share/code/code', electron: true })
 * // { command: '/usr/share/code/code', args: ['/ext/dist/cli/main.js'], env: { ELECTRON_RUN_AS_NODE: '1' } }
 */
export function bundledLaunch(cliPath: string, runtime: HostRuntime): LaunchCommand {
  return {
    command: runtime.execPath,
    args: [cliPath],
    env: runtime.electron ? { ELECTRON_RUN_AS_NODE: '1' } : {},
  };
}

/**
 * The file name of the stable launcher on a platform. On Windows a `.cmd`:
 * VS Code looks a stdio server's command up and starts `.bat`/`.cmd` files
 * through the shell (as read in VS Code 1.139's extension host), so a batch
 * file works where a shell script could not.
 *
 * @example
 * stableLauncherName('win32') // 'hitloop.cmd'
 */
export function stableLauncherName(platform: NodeJS.Platform = process.platform): string {
  return platform === 'win32' ? 'hitloop.cmd' : 'hitloop';
}

/**
 * The text of the stable launcher: a script that starts the bundled CLI with
 * the runtime given, and fails with a message naming the fix when either has
 * gone (VS Code or the extension was updated and has not run since).
 *
 * Why a script at a fixed path: Route writes the launcher into the user's
 * `.vscode/mcp.json`, which outlives this version of the extension, whose
 * folder name carries its version. The extension rewrites the script at every
 * activation, so the entries keep pointing at the current version.
 *
 * @example
 * stableLauncherScript('/ext/dist/cli/main.js', hostRuntime(), { version: '0.2.0' })
 */
export function stableLauncherScript(
  cliPath: string,
  runtime: HostRuntime,
  options: { platform?: NodeJS.Platform; version?: string; home?: string } = {},
): string {
  const version = options.version ? ` ${options.version}` : '';
  const stale =
    'hitloop: the VS Code runtime or the hitloop extension this launcher starts is gone (VS Code or the extension was updated). Open VS Code once, so the hitloop extension rewrites this launcher, or set the setting hitloop.proxyLauncher.';
  if ((options.platform ?? process.platform) === 'win32') {
    const q = (s: string) => `"${s.replace(/"/g, '""')}"`;
    return [
      '@echo off',
      `rem Written by the hitloop VS Code extension${version} at each activation; edits are lost.`,
      'rem Starts the hitloop proxy bundled in the extension with VS Code runtime.',
      `set "HITLOOP_RUNTIME=${runtime.execPath}"`,
      `set "HITLOOP_CLI=${cliPath}"`,
      'if not exist "%HITLOOP_RUNTIME%" goto stale',
      'if not exist "%HITLOOP_CLI%" goto stale',
      runtime.electron ? 'set ELECTRON_RUN_AS_NODE=1' : 'rem plain Node: nothing to set',
      ...(options.home ? [`set "HITLOOP_HOME=${options.home}"`] : []),
      '"%HITLOOP_RUNTIME%" "%HITLOOP_CLI%" %*',
      'exit /b %ERRORLEVEL%',
      ':stale',
      `echo ${stale.replace(/[&|<>^%]/g, '^$&')} 1>&2`,
      `echo runtime: ${q(runtime.execPath)} 1>&2`,
      'exit /b 127',
      '',
    ].join('\r\n');
  }
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return [
    '#!/bin/sh',
    `# Written by the hitloop VS Code extension${version} at each activation; edits are lost.`,
    "# Starts the hitloop proxy bundled in the extension with VS Code's own runtime,",
    '# so MCP servers routed through hitloop keep working across extension updates.',
    `runtime=${q(runtime.execPath)}`,
    `cli=${q(cliPath)}`,
    'if [ ! -x "$runtime" ] || [ ! -f "$cli" ]; then',
    `  echo ${q(stale)} >&2`,
    '  echo "runtime: $runtime; proxy: $cli" >&2',
    '  exit 127',
    'fi',
    // The extension's hitloop.home: the proxy must announce where the sidebar looks.
    ...(options.home ? [`HITLOOP_HOME=${q(options.home)}`, 'export HITLOOP_HOME'] : []),
    runtime.electron
      ? 'ELECTRON_RUN_AS_NODE=1 exec "$runtime" "$cli" "$@"'
      : 'exec "$runtime" "$cli" "$@"',
    '',
  ].join('\n');
}

/**
 * Writes (or refreshes) the stable launcher in `dir` and returns its path.
 * Written to a temporary name and renamed, so a client starting a server at
 * that moment never runs half a script; left alone when already current.
 *
 * @example
 * const file = writeStableLauncher(join(hitloopHome(), 'bin'), '/ext/dist/cli/main.js', hostRuntime());
 * // .vscode/mcp.json entries then start `${file} proxy --name NAME -- <the server>`
 */
export function writeStableLauncher(
  dir: string,
  cliPath: string,
  runtime: HostRuntime,
  options: { platform?: NodeJS.Platform; version?: string; home?: string } = {},
): string {
  const file = join(dir, stableLauncherName(options.platform));
  const text = stableLauncherScript(cliPath, runtime, options);
  let current: string | undefined;
  try {
    current = readFileSync(file, 'utf8');
  } catch {
    // Not written yet.
  }
  if (current !== text) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const temp = `${file}.${process.pid}.tmp`;
    writeFileSync(temp, text, { mode: 0o755 });
    renameSync(temp, file);
  }
  // A file left with other modes (copied, restored from a backup) must still run.
  chmodSync(file, 0o755);
  return file;
}
