import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { ConfigError } from '../../../shared/errors.js';
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
      'rewrite an MCP client config (mcp.json, claude_desktop_config.json, .mcp.json, ~/.claude.json, ~/.gemini/settings.json, ~/.codex/config.toml) so every server runs through hitloop proxy',
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
        'how the client starts hitloop: node (default: this installation, by the absolute paths of its Node and main.js) or hitloop (the command on the PATH the client starts it with)',
      )
        .argParser(parseLauncherKind)
        .default('node'),
    )
    .action((file: string, opts: WrapCommandOptions) => {
      let result: WrapFileResult;
      if (opts.undo) {
        result = unwrapFile(file, { dryRun: opts.dryRun });
      } else {
        let configFile: string | undefined;
        if (opts.config) {
          // Fail now, not in every client on its next start.
          configFile = absoluteConfigPath(opts.config);
          if (!existsSync(configFile)) {
            throw new ConfigError({
              file: `--config ${configFile}`,
              problem: 'file not found; every wrapped server would fail to start with it',
              fix: `create it (for example {"approval": {"backend": "hub"}}; see docs/proxy-config.md), or drop --config to use the defaults`,
            });
          }
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

function parseLauncherKind(value: string): LauncherKind {
  if ((LAUNCHER_KINDS as readonly string[]).includes(value)) return value as LauncherKind;
  if (value === 'npx') {
    throw new InvalidArgumentError(
      'npx is no longer offered: hitloop is not on the npm registry, so "npx -y hitloop" fails (or would run a package someone else publishes under that name). Use node (the default) or hitloop.',
    );
  }
  throw new InvalidArgumentError(`Allowed choices are ${LAUNCHER_KINDS.join(', ')}.`);
}

/**
 * `--config` as an absolute path; a leading `~/` is the home folder even
 * where the shell left it alone (`--config=~/...`).
 */
function absoluteConfigPath(path: string): string {
  if (path === '~' || path.startsWith('~/')) return join(homedir(), path.slice(1));
  return resolve(path);
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
