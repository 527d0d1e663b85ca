export * from './action.js';
export * from './approval-request.js';
export * from './decision.js';
export * from './risk.js';
export * from './tool-result.js';
export * from './trace-event.js';
