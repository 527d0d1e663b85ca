/**
 * hitloop/langchain: hitloop as LangChain v1 agent middleware, a drop-in for
 * `humanInTheLoopMiddleware` in `createAgent`. Needs the peer dependencies
 * `langchain`, `@langchain/langgraph` and `@langchain/core`; `hitloop/langgraph`
 * does not load this module, so it works without `langchain`.
 *
 * @example
 * import { hitloopMiddleware } from 'hitloop/langchain';
 */
export {
  type CallDecision,
  type DecisionType,
  parseHitlResponse,
} from './hitl-response.js';
export { type HitloopMiddlewareOptions, hitloopMiddleware } from './middleware.js';
