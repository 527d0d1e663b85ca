import { type Command, Option } from 'commander';
import { ConfigError, parseJsonText } from '../../../shared/errors.js';
import { createAction } from '../../../shared/models/action.js';
import { RiskClass } from '../../../shared/models/risk.js';
import { loadPolicyFile } from '../../../shared/policies/config.js';
import type { CliIo } from '../program.js';

interface CheckOptions {
  config: string;
  tool: string;
  args: string;
  server?: string;
  risk: RiskClass;
  rationale?: string;
  runId?: string;
  json?: boolean;
}

/** `hitloop policy check`: what would the policy say about this call, and why. */
export function registerPolicyCommands(program: Command, io: CliIo): void {
  const policy = program.command('policy').description('inspect approval policies');
  policy
    .command('check')
    .description('print the verdict a policy gives a tool call, and the rule that produced it')
    .requiredOption('-c, --config <file>', 'policy or hitloop config file (JSON)')
    .requiredOption('-t, --tool <name>', 'tool name, e.g. write_file or fs__write_file')
    .option('-a, --args <json>', 'tool arguments as a JSON object', '{}')
    .option('-s, --server <name>', 'MCP server that owns the tool')
    .addOption(
      new Option('-r, --risk <class>', 'declared risk class')
        .choices(RiskClass.options)
        .default('low'),
    )
    .option('--rationale <text>', "the agent's stated reason for the call")
    .option('--run-id <id>', 'run id (for policies that keep per-run state)')
    .option('--json', 'print the result as JSON')
    .action(async (opts: CheckOptions) => {
      const policy = loadPolicyFile(opts.config);
      const args = parseJsonText(opts.args, '--args');
      if (args === null || typeof args !== 'object' || Array.isArray(args)) {
        throw new ConfigError({
          file: '--args',
          problem: `expected a JSON object, got ${Array.isArray(args) ? 'an array' : JSON.stringify(args)}`,
          fix: `pass the arguments as an object, e.g. --args '{"path": "/tmp/a.txt"}'`,
        });
      }
      const action = createAction({
        toolName: opts.tool,
        toolArgs: args as Record<string, unknown>,
        riskClass: opts.risk,
        rationale: opts.rationale ?? '',
        server: opts.server,
      });
      const decision = await policy.evaluate(action, { runId: opts.runId });
      if (opts.json) {
        io.stdout(`${JSON.stringify({ policy: policy.name, ...decision })}\n`);
        return;
      }
      io.stdout(
        [
          `verdict: ${decision.verdict}`,
          `reason:  ${decision.reason}`,
          `rule:    ${decision.rule ?? '-'}`,
          `policy:  ${policy.name}`,
          ...(decision.riskClass ? [`risk:    ${decision.riskClass}`] : []),
        ].join('\n') + '\n',
      );
    });
}
