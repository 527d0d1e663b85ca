// The core loop in one file: an agent proposes actions, a policy decides,
// a person approves or rejects in the terminal, and every step lands in SQLite.
//
//   npm run build && node dist/examples/quickstart.js          # you decide at the prompt
//   node dist/examples/quickstart.js --auto                    # auto-approve what the policy asks
//
// In your project, import from 'hitloop'; this example imports the source so it builds in the repo.
import { parseArgs } from 'node:util';
import {
  type ApprovalBackend,
  AutoApproveBackend,
  CLIBackend,
  createAction,
  gateAction,
  notExecutedMessage,
  RiskBasedPolicy,
  TelemetryLogger,
} from '../shared/index.js';

const { values } = parseArgs({
  options: {
    auto: { type: 'boolean', default: false },
    db: { type: 'string', default: 'hitloop-quickstart.db' },
  },
});

// Stand-ins for real tools: the point is the gate in front of them.
const balances = new Map([
  ['C-1', 120],
  ['C-2', 4_300],
]);
const tools: Record<string, (args: Record<string, unknown>) => unknown> = {
  get_balance: (a) => balances.get(String(a.customer)) ?? null,
  refund: (a) =>
    balances
      .set(String(a.customer), (balances.get(String(a.customer)) ?? 0) + Number(a.amount))
      .get(String(a.customer)),
  delete_customer: (a) => balances.delete(String(a.customer)),
};

const policy = new RiskBasedPolicy({ highRiskTools: ['delete_customer'], amountThreshold: 1_000 });
const backend: ApprovalBackend = values.auto ? new AutoApproveBackend() : new CLIBackend();
const logger = new TelemetryLogger({ dbPath: values.db });
const runId = logger.startRun({ condition: policy.name, scenario: 'quickstart' });

const proposals = [
  createAction({
    toolName: 'get_balance',
    toolArgs: { customer: 'C-1' },
    rationale: 'customer asked',
  }),
  createAction({
    toolName: 'refund',
    toolArgs: { customer: 'C-2', amount: 2_500 },
    riskClass: 'medium',
    rationale: 'duplicate charge',
  }),
  createAction({
    toolName: 'delete_customer',
    toolArgs: { customer: 'C-1' },
    riskClass: 'high',
    rationale: 'GDPR request',
  }),
];

let succeeded = 0;
for (const action of proposals) {
  const outcome = await gateAction(action, { policy, backend, runId, logger, timeoutMs: 120_000 });
  if (outcome.kind === 'denied' || outcome.kind === 'rejected') {
    console.log(`✗ ${notExecutedMessage(outcome)}`);
    continue;
  }
  const started = performance.now();
  logger.logToolExecutionStart(runId, action, outcome.args);
  const output = tools[action.toolName]!(outcome.args);
  const durationMs = performance.now() - started;
  logger.logToolExecutionEnd(runId, {
    actionId: action.id,
    success: true,
    output,
    durationMs,
    executed: true,
  });
  succeeded++;
  console.log(
    `✓ ${action.toolName}(${JSON.stringify(outcome.args)}) -> ${JSON.stringify(output)} [${outcome.kind}]`,
  );
}

logger.endRun(runId, { success: succeeded === proposals.length });
const events = logger.getRunEvents(runId).length;
logger.close();
await backend.close?.();
console.log(
  `\nrun ${runId}: ${succeeded}/${proposals.length} actions ran; ${events} events in ${values.db}`,
);
console.log(`export them with: npx hitloop telemetry export --db ${values.db} --format csv`);
