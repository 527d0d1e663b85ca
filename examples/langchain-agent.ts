// A LangChain v1 agent (createAgent) with hitloop as its human-in-the-loop
// middleware, a drop-in for humanInTheLoopMiddleware: a simulated chat model
// proposes two emails in one turn, one HITLRequest asks about both, and one
// HITLResponse ({ decisions: [...] }, one per email) answers. No API key.
//
//   npm run build && node dist/examples/langchain-agent.js --simulate --auto   # approve both
//   node dist/examples/langchain-agent.js --simulate                          # decide each at the terminal
//
// In your project, import from 'hitloop' and 'hitloop/langchain'; this example
// imports the source so it builds in the repo.
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { AIMessage, type BaseMessage, HumanMessage, ToolMessage } from '@langchain/core/messages';
import { tool } from '@langchain/core/tools';
import { Command, type Interrupt, MemorySaver } from '@langchain/langgraph';
import { createAgent, type Decision, type HITLRequest } from 'langchain';
import { z } from 'zod';
import { RiskBasedPolicy, TelemetryLogger } from '../shared/index.js';
import { ScriptedChatModel } from '../shared/langgraph/index.js';
import { hitloopMiddleware } from '../shared/langgraph/langchain/index.js';

const { values } = parseArgs({
  options: {
    simulate: { type: 'boolean', default: false },
    auto: { type: 'boolean', default: false },
    db: { type: 'string', default: 'hitloop-langchain.db' },
  },
});
if (!values.simulate) {
  console.error('Only --simulate is supported: it runs a scripted chat model, no API key needed.');
  process.exit(2);
}

const sendEmail = tool(
  async ({ to, body }: { to: string; body: string }) => `sent to ${to}: ${body}`,
  {
    name: 'send_email',
    description: 'Send an email',
    schema: z.object({ to: z.string(), body: z.string() }),
  },
);

// The simulated model: two emails in one turn, then a summary of what happened.
const model = new ScriptedChatModel({
  replies: [
    new AIMessage({
      content: '',
      tool_calls: [
        { id: 'call_ana', name: 'send_email', args: { to: 'ana@example.com', body: 'Q3: 1.2M' } },
        { id: 'call_bob', name: 'send_email', args: { to: 'bob@example.com', body: 'Q3: 1.2M' } },
      ],
    }),
    (messages: BaseMessage[]) =>
      `Finished. ${messages
        .filter((m) => ToolMessage.isInstance(m))
        .map((m) => String(m.content))
        .join(' | ')}`,
  ],
});

const logger = new TelemetryLogger({ dbPath: values.db });
const agent = createAgent({
  model,
  tools: [sendEmail],
  checkpointer: new MemorySaver(),
  middleware: [
    hitloopMiddleware({
      // The same option humanInTheLoopMiddleware takes...
      interruptOn: { send_email: { allowedDecisions: ['approve', 'edit', 'reject'] } },
      // ...plus a hitloop policy, telemetry, and the tools to check edits against.
      policy: new RiskBasedPolicy({ highRiskTools: ['send_email'] }),
      logger,
      tools: [sendEmail],
    }),
  ],
});

const config = { configurable: { thread_id: `example-${Date.now()}` } };
const rl = values.auto
  ? undefined
  : createInterface({ input: process.stdin, output: process.stderr });
const lines = rl?.[Symbol.asyncIterator]();
let result = await agent.invoke({ messages: [new HumanMessage('Send the Q3 numbers.')] }, config);
const [pending] = (result as { __interrupt__?: Interrupt<HITLRequest>[] }).__interrupt__ ?? [];
if (pending?.value) {
  const decisions: Decision[] = [];
  for (const action of pending.value.actionRequests) {
    console.log(`? ${action.name}(${JSON.stringify(action.args)})`);
    decisions.push(lines ? await askTerminal() : { type: 'approve' });
  }
  result = await agent.invoke(new Command({ resume: { decisions } }), config);
}
for (const m of result.messages.filter((x) => ToolMessage.isInstance(x)) as ToolMessage[])
  console.log(`${m.status === 'error' ? '✗' : '✓'} ${m.name}: ${String(m.content)}`);
console.log(String(result.messages.at(-1)?.content));
rl?.close();
logger.close();
console.log(`telemetry: ${values.db} (run langgraph:${config.configurable.thread_id})`);

/** Reads one decision at the terminal: `a` approves, `r` then a reason rejects. */
async function askTerminal(): Promise<Decision> {
  const next = async () => String((await lines?.next())?.value ?? '').trim();
  process.stderr.write('[a]pprove / [r]eject: ');
  if ((await next()) === 'a') return { type: 'approve' };
  process.stderr.write('reason: ');
  return { type: 'reject', message: await next() };
}
