import { type Command, Option } from 'commander';
import { ConfigError } from '../../../shared/errors.js';
import { RiskClass } from '../../../shared/models/risk.js';
import { parseJsonc } from '../../proxy/config/jsonc.js';
import {
  configFromCommand,
  loadProxyConfig,
  readConfigText,
  SERVER_KEYS,
} from '../../proxy/config/load.js';
import { proxyPolicy } from '../../proxy/config/proxy-policy.js';
import { HITLOOP_SECTIONS } from '../../proxy/config/schema.js';
import type { ResolvedProxyConfig } from '../../proxy/config/types.js';
import { splitExposedName, toolCallAction } from '../../proxy/session/tool-call.js';
import type { CliIo } from '../program.js';

interface CheckOptions {
  config: string;
  tool: string;
  args: string;
  server?: string;
  annotations?: string;
  risk?: RiskClass;
  rationale?: string;
  runId?: string;
  json?: boolean;
}

/** The server name assumed for a file that lists no servers, when --server is not given. */
const UNNAMED_SERVER = 'upstream';

/** `hitloop policy check`: what would the proxy's policy say about this call, and why. */
export function registerPolicyCommands(program: Command, io: CliIo): void {
  const policy = program.command('policy').description('inspect approval policies');
  policy
    .command('check')
    .description(
      'print the verdict the proxy gives a tool call under a config, and the rule that produced it',
    )
    .requiredOption(
      '-c, --config <file>',
      'hitloop config (as for hitloop proxy --config) or policy file (as for --policy); JSONC',
    )
    .requiredOption(
      '-t, --tool <name>',
      'tool name as the client calls it, e.g. fs__write_file (prefixed) or write_file',
    )
    .option('-a, --args <json>', 'tool arguments as a JSON object', '{}')
    .option(
      '-s, --server <name>',
      `MCP server that owns the tool (default: from the tool's prefix, the only server, or "${UNNAMED_SERVER}")`,
    )
    .option(
      '--annotations <json>',
      "the tool's MCP annotations, e.g. '{\"readOnlyHint\":true}' (they set risk for trusted servers)",
    )
    .addOption(
      new Option(
        '-r, --risk <class>',
        "override the risk the proxy would compute (medium, or from a trusted server's annotations)",
      ).choices(RiskClass.options),
    )
    .option('--rationale <text>', "the agent's stated reason for the call")
    .option('--run-id <id>', 'run id (for policies that keep per-run state)')
    .option('--json', 'print the result as JSON')
    .action(async (opts: CheckOptions) => {
      const config = loadConfigAsProxy(opts.config, opts.server);
      const args = objectFlag(opts.args, '--args', `--args '{"path": "/tmp/a.txt"}'`);
      const annotations =
        opts.annotations === undefined
          ? undefined
          : objectFlag(opts.annotations, '--annotations', `--annotations '{"readOnlyHint": true}'`);
      const names = config.servers.map((s) => s.name);
      const split = splitExposedName(opts.tool, names, config.proxy, opts.server);
      if (typeof split === 'string')
        throw new ConfigError({ file: '--tool', problem: split, fix: toolFix(config) });
      const spec = config.servers.find((s) => s.name === split.server)!;
      const action = toolCallAction(spec, { name: split.tool, annotations }, args);
      if (opts.risk) action.riskClass = opts.risk;
      if (opts.rationale) action.rationale = opts.rationale;
      const policy = proxyPolicy(config);
      const decision = await policy.evaluate(action, {
        runId: opts.runId,
        cwd: process.cwd(),
      });
      if (opts.json) {
        io.stdout(
          `${JSON.stringify({ policy: policy.name, server: split.server, tool: split.tool, ...decision })}\n`,
        );
        return;
      }
      io.stdout(
        [
          `verdict: ${decision.verdict}`,
          `reason:  ${decision.reason}`,
          `rule:    ${decision.rule ?? '-'}`,
          `policy:  ${policy.name}`,
          `call:    tool ${split.tool} of server ${split.server}`,
          ...(decision.riskClass ? [`risk:    ${decision.riskClass}`] : []),
        ].join('\n') + '\n',
      );
    });
}

/**
 * The config `hitloop proxy` would run with this file, read by the proxy's
 * own loaders: a file listing servers as `hitloop proxy --config FILE`; a
 * bare policy (`{"type": ...}`, `{"rules": [...]}`) as `hitloop proxy
 * --policy FILE -- COMMAND`; any other file (hitloop's sections only) as
 * `hitloop proxy --config FILE -- COMMAND`, with `server` as `--name`.
 */
function loadConfigAsProxy(file: string, server: string | undefined): ResolvedProxyConfig {
  const { value } = parseJsonc(readConfigText(file), file);
  const record =
    value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  if (record && SERVER_KEYS.some((k) => k in record)) return loadProxyConfig(file);
  const sections = HITLOOP_SECTIONS as readonly string[];
  const barePolicy =
    !record ||
    (!Object.keys(record).some((k) => sections.includes(k)) &&
      ['type', 'rules', 'default', 'trustedServers'].some((k) => k in record));
  try {
    return configFromCommand({
      command: 'hitloop-policy-check',
      name: server ?? UNNAMED_SERVER,
      ...(barePolicy ? { policyFile: file } : { configFile: file }),
    });
  } catch (err) {
    // The server name is checked as the proxy's --name; here it is --server.
    if (err instanceof ConfigError && err.file === '--name')
      throw new ConfigError({
        file: '--server',
        problem: err.problem,
        fix: err.fix?.replace('--name', '--server'),
      });
    throw err;
  }
}

function objectFlag(text: string, flag: string, example: string): Record<string, unknown> {
  const { value } = parseJsonc(text, flag);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError({
      file: flag,
      problem: `expected a JSON object, got ${Array.isArray(value) ? 'an array' : JSON.stringify(value)}`,
      fix: `pass an object, e.g. ${example}`,
    });
  }
  return value as Record<string, unknown>;
}

function toolFix(config: ResolvedProxyConfig): string {
  const first = config.servers[0]?.name ?? 'fs';
  return config.proxy.prefixNames
    ? `give the name the client sees, e.g. --tool ${first}${config.proxy.separator}write_file`
    : `add --server NAME (one of ${config.servers.map((s) => s.name).join(', ')})`;
}
