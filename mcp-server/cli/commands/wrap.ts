import { resolve } from 'node:path';
import { type Command, Option } from 'commander';
import { loadProxySettings } from '../../proxy/config/load.js';
import { unwrapFile, type WrapFileResult, wrapFile } from '../../wrap/files.js';
import { LAUNCHER_KINDS, type LauncherKind, launcherFor } from '../../wrap/wrap.js';
import type { CliIo } from '../program.js';

interface WrapCommandOptions {
  undo?: boolean;
  config?: string;
  dryRun?: boolean;
  launcher: LauncherKind;
}

/** `hitloop wrap FILE`: route every server of an MCP client config through hitloop. */
export function registerWrapCommands(program: Command, io: CliIo): void {
  program
    .command('wrap')
    .description(
      'rewrite an MCP client config (mcp.json, claude_desktop_config.json, .mcp.json) so every server runs through hitloop proxy',
    )
    .argument('<file>', 'the config file to rewrite')
    .option('--undo', 'restore the servers as they were before wrapping')
    .option(
      '-c, --config <file>',
      'hitloop config (policy, approval, telemetry) every wrapped proxy uses',
    )
    .option('--dry-run', 'print what would change without writing anything')
    .addOption(
      new Option(
        '--launcher <kind>',
        'how the client starts hitloop: npx (default), node (this installation, by absolute path) or hitloop (on PATH)',
      )
        .choices([...LAUNCHER_KINDS])
        .default('npx'),
    )
    .action((file: string, opts: WrapCommandOptions) => {
      let result: WrapFileResult;
      if (opts.undo) {
        result = unwrapFile(file, { dryRun: opts.dryRun });
      } else {
        let configFile: string | undefined;
        if (opts.config) {
          // Fail now, not in every client on its next start.
          configFile = resolve(opts.config);
          const settings = loadProxySettings(configFile, { onWarning: () => {} });
          if (settings.serverNames.length > 0) {
            io.stderr(
              `hitloop: note: the servers listed in ${opts.config} are ignored by wrapped proxies; each proxies its own server\n`,
            );
          }
        }
        result = wrapFile(file, {
          launcher: launcherFor(opts.launcher),
          ...(configFile ? { configFile } : {}),
          dryRun: opts.dryRun,
        });
      }
      report(result, opts, io);
    });
}

function report(result: WrapFileResult, opts: WrapCommandOptions, io: CliIo): void {
  const lines: string[] = [];
  for (const c of result.changes) lines.push(`${c.field}: ${c.detail}`);
  if (!result.changed) {
    lines.push(
      opts.undo
        ? 'nothing to undo: no server goes through hitloop'
        : 'nothing to do: every server already goes through hitloop',
    );
  } else if (opts.dryRun) {
    lines.push(`dry run: ${result.file} not written`);
  } else {
    if (result.backup) lines.push(`backup: ${result.backup}`);
    for (const b of result.restoredFrom) lines.push(`restored from ${b} (removed)`);
    lines.push(`wrote ${result.file}`);
    if (!opts.undo) lines.push('restart the MCP client (or reload its servers) to apply');
  }
  io.stdout(`${lines.join('\n')}\n`);
  for (const note of result.notes) io.stderr(`hitloop: note: ${note}\n`);
}
