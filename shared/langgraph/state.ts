import type { BaseMessage } from '@langchain/core/messages';
import { Annotation, MessagesAnnotation } from '@langchain/langgraph';
import type { HitlOutcome } from './gate.js';

/** A proposed action that did not come from a model's tool call. */
export interface PendingAction {
  /** Stable across re-runs; defaults to `pending`. Key for resume safety and telemetry. */
  id?: string;
  toolName: string;
  toolArgs: Record<string, unknown>;
}

/** What the execute node leaves for a `pendingAction`. */
export interface PendingResult {
  id: string;
  toolName: string;
  executed: boolean;
  content: string;
}

/** The state the gate and execute nodes read and write. */
export interface HitlStateShape {
  messages: BaseMessage[];
  hitl?: Record<string, HitlOutcome>;
  pendingAction?: PendingAction | null;
  pendingResult?: PendingResult | null;
}

/**
 * Messages plus the gate's outcomes (`hitl`, keyed by tool-call id) and the
 * optional `pendingAction` / `pendingResult` fields. Spread
 * `HitlAnnotation.spec` into your own `Annotation.Root` to add fields.
 *
 * @example
 * const graph = new StateGraph(HitlAnnotation).addNode('gate', createHitlGateNode({ policy })) ...
 */
export const HitlAnnotation = Annotation.Root({
  ...MessagesAnnotation.spec,
  hitl: Annotation<Record<string, HitlOutcome>>({
    reducer: (current, update) => ({ ...current, ...update }),
    default: () => ({}),
  }),
  pendingAction: Annotation<PendingAction | null>({
    reducer: (_current, update) => update,
    default: () => null,
  }),
  pendingResult: Annotation<PendingResult | null>({
    reducer: (_current, update) => update,
    default: () => null,
  }),
});
