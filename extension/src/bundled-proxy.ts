import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type * as vscode from 'vscode';
import {
  bundledLaunch,
  hostRuntime,
  type LaunchCommand,
  writeStableLauncher,
} from '../../mcp-server/wrap/embedded.js';
import { resolveProxyLauncher } from '../../mcp-server/wrap/launcher.js';
import type { Launcher } from '../../mcp-server/wrap/wrap.js';
import { hitloopHome } from '../../shared/hub/discovery.js';

// The proxy this extension carries (dist/cli/main.js in the VSIX), and how
// each consumer starts it:
// - MCP server definitions (asked for at every start): VS Code's runtime on
//   the CLI in this version's folder, directly;
// - entries Route writes into .vscode/mcp.json (which outlive this version):
//   a launcher script at a fixed path under HITLOOP_HOME, rewritten at each
//   activation. Under HITLOOP_HOME because the proxy already refuses tool
//   calls that name paths there, so an agent's file tool cannot rewrite the
//   script to start something that does not gate.

/** What activation found: the bundled proxy, and the fixed-path launcher for mcp.json. */
export interface BundledProxy {
  /** Starts the bundled CLI directly; absent when the extension has no dist/cli (a checkout not built). */
  direct?: LaunchCommand;
  /** The fixed-path launcher script; absent when it could not be written. */
  stable?: Launcher;
}

/**
 * Finds the bundled CLI and (re)writes the fixed-path launcher for it.
 * Problems are logged, never thrown: the sidebar must come up regardless.
 *
 * @example
 * const bundled = prepareBundledProxy(context, readSettings().home, (m) => output.appendLine(m));
 */
export function prepareBundledProxy(
  context: Pick<vscode.ExtensionContext, 'extensionPath'> & {
    extension?: { packageJSON?: { version?: unknown } };
  },
  home: string,
  log: (message: string) => void,
): BundledProxy {
  const cli = join(context.extensionPath, 'dist', 'cli', 'main.js');
  if (!existsSync(cli)) {
    log(
      `the proxy bundled with the extension is missing (${cli}); using hitloop.proxyLauncher or the hitloop on PATH`,
    );
    return {};
  }
  const runtime = hostRuntime();
  const direct = bundledLaunch(cli, runtime);
  const version = context.extension?.packageJSON?.version;
  try {
    const file = writeStableLauncher(join(home || hitloopHome(), 'bin'), cli, runtime, {
      ...(typeof version === 'string' ? { version } : {}),
      // hitloop.home set: routed servers start without it in their environment.
      ...(home ? { home } : {}),
    });
    log(
      `bundled proxy: ${runtime.execPath}${runtime.electron ? ' (ELECTRON_RUN_AS_NODE=1)' : ''} ${cli}; launcher for mcp.json: ${file}`,
    );
    return { direct, stable: { command: file, args: [] } };
  } catch (err) {
    log(
      `could not write the launcher for .vscode/mcp.json (${err instanceof Error ? err.message : String(err)}); Route will use hitloop.proxyLauncher or the hitloop on PATH`,
    );
    return { direct };
  }
}

/** A launch command, or why there is none; `note` says why the setting was set aside. */
export type ProxyLaunch = { launch: LaunchCommand; note?: string } | { problem: string };

/**
 * How to start `hitloop` for one purpose: an MCP server definition
 * (`definition`, the bundled CLI directly) or an entry of `.vscode/mcp.json`
 * (`mcp.json`, the fixed-path launcher). An explicit `hitloop.proxyLauncher`
 * wins in both.
 *
 * @example
 * const r = proxyLaunch(settings.proxyLauncher, bundled, 'definition');
 * if ('launch' in r) new McpStdioServerDefinition(label, r.launch.command, [...r.launch.args, 'proxy'], r.launch.env);
 */
export function proxyLaunch(
  setting: readonly string[],
  bundled: BundledProxy,
  purpose: 'definition' | 'mcp.json',
): ProxyLaunch {
  const mine: LaunchCommand | undefined =
    purpose === 'definition' ? bundled.direct : bundled.stable && { ...bundled.stable, env: {} };
  const resolved = resolveProxyLauncher(setting, mine ? { bundled: mine } : {});
  if ('problem' in resolved) return resolved;
  const launch: LaunchCommand =
    resolved.launcher === mine ? mine : { ...resolved.launcher, env: {} };
  return resolved.note ? { launch, note: resolved.note } : { launch };
}
