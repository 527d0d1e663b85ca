/**
 * hitloop — human-in-the-loop control for AI agents.
 *
 * @example
 * import { RiskBasedPolicy, createAction } from 'hitloop';
 * const policy = new RiskBasedPolicy({ highRiskTools: ['delete_record'] });
 * policy.evaluate(createAction({ toolName: 'delete_record', toolArgs: { id: 7 } })).verdict; // 'ask'
 */
export * from './backends/index.js';
export * from './errors.js';
export * from './eval/index.js';
export * from './gate/index.js';
export * from './hub/index.js';
export * from './models/index.js';
export * from './policies/index.js';
export * from './sqlite/index.js';
export * from './stores/index.js';
export * from './telemetry/index.js';
export { argsHash, canonicalJson } from './util/canonical-json.js';
export { escapeHtml } from './util/escape-html.js';
export { findDuplicateKeys, findUnshowable, unshowableReason } from './util/faithful-args.js';
export {
  DEFAULT_SECRET_KEY_WORDS,
  isDefaultSecretKey,
  redactedValue,
  redactSecrets,
  type SecretKeyTest,
  secretKeyTest,
} from './util/redact.js';
export { uniformFromKey } from './util/seeded-hash.js';
export * from './util/visible-text.js';
export * from './webhooks/index.js';
