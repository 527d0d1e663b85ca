export * from './approval-store.js';
export * from './memory-store.js';
export * from './open-store.js';
// These two load their drivers (pg, redis) only when first used.
export * from './postgres-store.js';
export * from './redis-store.js';
export * from './sqlite-store.js';
