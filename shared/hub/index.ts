export * from './approval-hub.js';
export * from './discovery.js';
export * from './hub-backend.js';
export * from './hub-client.js';
export * from './protocol.js';
