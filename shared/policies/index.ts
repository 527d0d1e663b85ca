export * from './always-approve.js';
export * from './audit-plus-escalate.js';
export * from './config.js';
export * from './policy.js';
export * from './risk-based.js';
export * from './rules.js';
export * from './rules-schema.js';
export * from './tool-risk.js';
