export * from './approval-gate.js';
