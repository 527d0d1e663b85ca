import type { LangGraphRunnableConfig } from '@langchain/langgraph';

/**
 * Where the next `interrupt()` of the running task gets its answer from:
 * `named` (a `Command({ resume: { [interruptId]: value } })` entry, or a value
 * this task already received), `global` (a plain `Command({ resume: value })`,
 * which LangGraph hands to every pending interrupt), or `none` (no answer yet:
 * `interrupt()` pauses).
 *
 * It reads LangGraph's per-task scratchpad (`__pregel_scratchpad`, 1.x), the
 * same fields `interrupt()` reads; the tests pin that behaviour.
 */
export type ResumeSource = { kind: 'none' } | { kind: 'named' | 'global'; value: unknown };

interface Scratchpad {
  interruptCounter: number;
  resume: unknown[];
  nullResume?: unknown;
}

function scratchpadOf(config: LangGraphRunnableConfig | undefined): Scratchpad | undefined {
  const pad = (config?.configurable as Record<string, unknown> | undefined)?.__pregel_scratchpad;
  if (!pad || typeof pad !== 'object') return undefined;
  const p = pad as Partial<Scratchpad>;
  return typeof p.interruptCounter === 'number' && Array.isArray(p.resume)
    ? (p as Scratchpad)
    : undefined;
}

/**
 * Peeks at the answer the next `interrupt()` of this task would return,
 * without consuming it; undefined outside a graph task.
 *
 * @example
 * const source = peekResume(config); // { kind: 'global', value: { type: 'accept' } }
 */
export function peekResume(config: LangGraphRunnableConfig | undefined): ResumeSource | undefined {
  const pad = scratchpadOf(config);
  if (!pad) return undefined;
  const idx = pad.interruptCounter + 1;
  if (idx < pad.resume.length) return { kind: 'named', value: pad.resume[idx] };
  if (pad.nullResume !== undefined) return { kind: 'global', value: pad.nullResume };
  return { kind: 'none' };
}

/**
 * How many tasks of this step are paused on an interrupt, read from the
 * checkpoint's pending writes (an `__interrupt__` write and no output yet).
 * Undefined when it cannot be read (no checkpointer in the config).
 *
 * @example
 * if (peekResume(config)?.kind === 'global' && (await pendingInterruptCount(config)) > 1) refuse();
 */
export async function pendingInterruptCount(
  config: LangGraphRunnableConfig | undefined,
): Promise<number | undefined> {
  const conf = config?.configurable as Record<string, unknown> | undefined;
  const saver = conf?.__pregel_checkpointer as
    | {
        getTuple: (c: unknown) => Promise<{ pendingWrites?: Array<[string, string, unknown]> }>;
      }
    | undefined;
  if (!saver || typeof saver.getTuple !== 'function' || conf?.thread_id === undefined)
    return undefined;
  // The task's namespace is `<parent ns>|<node>:<task id>`; the pending
  // writes sit on the parent graph's checkpoint.
  const ns = typeof conf.checkpoint_ns === 'string' ? conf.checkpoint_ns : '';
  const parentNs = ns.includes('|') ? ns.slice(0, ns.lastIndexOf('|')) : '';
  const map = conf.checkpoint_map as Record<string, string> | undefined;
  const checkpointId = map?.[parentNs];
  const tuple = await saver.getTuple({
    configurable: {
      thread_id: conf.thread_id,
      checkpoint_ns: parentNs,
      ...(checkpointId ? { checkpoint_id: checkpointId } : {}),
    },
  });
  // A task that paused and has since finished (answered by id in an earlier
  // resume) keeps its `__interrupt__` write next to its output writes; only
  // tasks with no output yet are still waiting.
  const writes = tuple?.pendingWrites ?? [];
  const finished = new Set(writes.filter(([, ch]) => !ch.startsWith('__')).map(([task]) => task));
  const paused = new Set(
    writes
      .filter(([task, ch]) => ch === '__interrupt__' && !finished.has(task))
      .map(([task]) => task),
  );
  return paused.size;
}
