export * from './approval-store.js';
export * from './memory-store.js';
export * from './sqlite-store.js';
