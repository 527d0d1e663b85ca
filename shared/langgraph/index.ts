/**
 * hitloop/langgraph: hitloop's policies, approval channels and telemetry for
 * LangGraph.js. Needs the peer dependencies `@langchain/langgraph` and
 * `@langchain/core`; importing `hitloop` alone does not load them.
 *
 * @example
 * import { createHitlGateNode, createExecuteToolNode, HitlAnnotation } from 'hitloop/langgraph';
 */
export { createExecuteToolNode, type ExecuteToolNodeOptions } from './execute-node.js';
export {
  ExecutionLedger,
  type ExecutionResult,
  type LedgerCall,
  type LedgerEntry,
  stringifyToolOutput,
} from './execution-ledger.js';
export {
  gateToolCall,
  type HitlGateOptions,
  type HitlMode,
  type HitlOutcome,
  resolveBackend,
  type ToolCallLike,
} from './gate.js';
export { createHitlGateNode, proposedCalls, withEditedArgs } from './gate-node.js';
export { actionIdFor, callKeyFor, KeyedLogger, runIdFor, threadIdOf } from './ids.js';
export {
  DEFAULT_INTERRUPT_CONFIG,
  humanInterruptFor,
  InterruptBackend,
  type OnRefusedResume,
  ResumeRefusedError,
} from './interrupt-backend.js';
export { ResumableHubBackend } from './resumable-hub-backend.js';
export { peekResume, pendingInterruptCount, type ResumeSource } from './resume-source.js';
export {
  type HumanInterrupt,
  type HumanInterruptConfig,
  parseResumeValue,
  type ResumeAnswer,
} from './resume-value.js';
export { ScriptedChatModel } from './scripted-model.js';
export {
  HitlAnnotation,
  type HitlStateShape,
  type PendingAction,
  type PendingResult,
} from './state.js';
export { toolArgsProblems, validateArgsWith } from './tool-schema.js';
export { withApproval } from './with-approval.js';
