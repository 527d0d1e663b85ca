// A LangGraph.js agent with hitloop in front of its tools: a real StateGraph
// (agent -> gate -> tools -> agent), a simulated chat model, no API key.
//
//   npm run build && node dist/examples/langgraph-agent.js --simulate --auto   # accept every interrupt
//   node dist/examples/langgraph-agent.js --simulate                          # answer at the terminal (interrupt/resume)
//   node dist/examples/langgraph-agent.js --simulate --channel vscode         # decide in the VS Code sidebar (hub)
//
// In your project, import from 'hitloop' and 'hitloop/langgraph'; this example
// imports the source so it builds in the repo.
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { AIMessage, type BaseMessage, HumanMessage, ToolMessage } from '@langchain/core/messages';
import { tool } from '@langchain/core/tools';
import { Command, END, MemorySaver, START, StateGraph } from '@langchain/langgraph';
import { z } from 'zod';
import {
  ApprovalHub,
  MemoryApprovalStore,
  RiskBasedPolicy,
  TelemetryLogger,
} from '../shared/index.js';
import {
  createExecuteToolNode,
  createHitlGateNode,
  HitlAnnotation,
  type HitlGateOptions,
  type HumanInterrupt,
  ScriptedChatModel,
  validateArgsWith,
} from '../shared/langgraph/index.js';

const { values } = parseArgs({
  options: {
    simulate: { type: 'boolean', default: false },
    auto: { type: 'boolean', default: false },
    channel: { type: 'string', default: 'cli' },
    db: { type: 'string', default: 'hitloop-langgraph.db' },
  },
});
if (!values.simulate) {
  console.error('Only --simulate is supported: it runs a scripted chat model, no API key needed.');
  process.exit(2);
}
if (values.channel !== 'cli' && values.channel !== 'vscode') {
  console.error(`--channel must be cli or vscode, not ${values.channel}`);
  process.exit(2);
}

const readInbox = tool(async () => 'From: ana@example.com — "Can you send me the Q3 numbers?"', {
  name: 'read_inbox',
  description: 'Read the latest email',
  schema: z.object({}),
});
const sendEmail = tool(
  async ({ to, body }: { to: string; body: string }) => `sent to ${to}: ${body}`,
  {
    name: 'send_email',
    description: 'Send an email',
    schema: z.object({ to: z.string(), body: z.string() }),
  },
);

// The simulated model: read the inbox, reply by email, then sum up.
const model = new ScriptedChatModel({
  replies: [
    new AIMessage({ content: '', tool_calls: [{ id: 'call_read', name: 'read_inbox', args: {} }] }),
    new AIMessage({
      content: '',
      tool_calls: [
        {
          id: 'call_send',
          name: 'send_email',
          args: { to: 'ana@example.com', body: 'Q3 revenue: 1.2M' },
        },
      ],
    }),
    (messages: BaseMessage[]) => `Finished. Last tool said: ${String(messages.at(-1)?.content)}`,
  ],
});

const policy = new RiskBasedPolicy({ highRiskTools: ['send_email'] });
const logger = new TelemetryLogger({ dbPath: values.db });
let hub: ApprovalHub | undefined;
// An edit that does not fit a tool's schema is rejected at the decision.
const validateArgs = validateArgsWith([readInbox, sendEmail]);
let gateOptions: HitlGateOptions = { policy, logger, validateArgs };
if (values.channel === 'vscode' && !values.auto) {
  hub = new ApprovalHub({ store: new MemoryApprovalStore(), name: 'hitloop langgraph example' });
  await hub.start();
  gateOptions = { policy, logger, validateArgs, mode: 'backend', hub };
  console.log('Waiting for decisions in the VS Code sidebar (hitloop: Approvals)…');
}

const graph = new StateGraph(HitlAnnotation)
  .addNode('agent', async (state) => ({ messages: [await model.invoke(state.messages)] }))
  .addNode('gate', createHitlGateNode(gateOptions))
  .addNode('tools', createExecuteToolNode([readInbox, sendEmail], { logger }))
  .addEdge(START, 'agent')
  .addConditionalEdges('agent', (s) =>
    (s.messages.at(-1) as AIMessage).tool_calls?.length ? 'gate' : END,
  )
  .addEdge('gate', 'tools')
  .addEdge('tools', 'agent')
  .compile({ checkpointer: new MemorySaver() });

const config = { configurable: { thread_id: `example-${Date.now()}` } };
let input: unknown = { messages: [new HumanMessage('Answer my latest email.')] };
const rl =
  values.auto || hub
    ? undefined
    : createInterface({ input: process.stdin, output: process.stderr });
const lines = rl?.[Symbol.asyncIterator]();
for (;;) {
  const result = await graph.invoke(input as never, config);
  const pending = (await graph.getState(config)).tasks.flatMap((t) => t.interrupts);
  if (pending.length === 0) {
    for (const m of result.messages.filter((x) => ToolMessage.isInstance(x)) as ToolMessage[])
      console.log(`${m.status === 'error' ? '✗' : '✓'} ${m.name}: ${String(m.content)}`);
    console.log(String(result.messages.at(-1)?.content));
    break;
  }
  const ask = pending[0]?.value as HumanInterrupt;
  console.log(
    `? ${ask.description}\n  ${ask.action_request.action}(${JSON.stringify(ask.action_request.args)})`,
  );
  input = new Command({ resume: rl ? await askTerminal(ask) : { type: 'accept', args: null } });
}
rl?.close();
await hub?.stop();
logger.close();
console.log(`telemetry: ${values.db} (run langgraph:${config.configurable.thread_id})`);

/** Reads an Agent Inbox HumanResponse at the terminal. */
async function askTerminal(ask: HumanInterrupt): Promise<unknown> {
  const choice = (await question('[a]ccept, [e]dit, [r]eject? ')).trim().toLowerCase();
  if (choice.startsWith('e')) {
    const json = await question('new arguments as JSON: ');
    return { type: 'edit', args: { action: ask.action_request.action, args: JSON.parse(json) } };
  }
  if (choice.startsWith('r')) return { type: 'response', args: await question('reason: ') };
  return { type: 'accept', args: null };
}

/** One line from the terminal (works with piped input too). */
async function question(prompt: string): Promise<string> {
  process.stderr.write(prompt);
  const next = await lines?.next();
  if (!next || next.done) throw new Error('stdin closed before an answer');
  return next.value;
}
