import type { LangGraphRunnableConfig } from '@langchain/langgraph';

const chains = new WeakMap<object, Promise<unknown>>();

/**
 * Runs `gate` after the gates of this graph task that started before it have
 * settled. `createReactAgent` v1 runs all of a turn's tool calls in one task,
 * and LangGraph matches resume values to that task's `interrupt()` calls by
 * the order they are made; a policy that answers faster for one call than for
 * another would otherwise change that order between the run that showed an
 * interrupt and the run that reads its answer, and the answer would go to a
 * call the reviewer never saw. Tasks are told apart by LangGraph's per-task
 * scratchpad; outside a graph task, `gate` just runs.
 *
 * @example
 * const outcome = await inTaskOrder(config, () => gateToolCall(call, threadId, backend, options));
 */
export function inTaskOrder<T>(
  config: LangGraphRunnableConfig | undefined,
  gate: () => Promise<T>,
): Promise<T> {
  const pad = (config?.configurable as Record<string, unknown> | undefined)?.__pregel_scratchpad;
  if (!pad || typeof pad !== 'object') return gate();
  const previous = chains.get(pad) ?? Promise.resolve();
  const next = previous.then(gate, gate);
  // The chain only orders; each caller gets its own gate's result or error.
  chains.set(
    pad,
    next.catch(() => undefined),
  );
  return next;
}
