/**
 * Approval backends: the port every channel implements, and the channels that
 * need nothing but this process (automatic, scripted, terminal).
 *
 * @example
 * import { CLIBackend, AutoApproveBackend, type ApprovalBackend } from 'hitloop';
 * const backend: ApprovalBackend = process.stdin.isTTY ? new CLIBackend() : new AutoApproveBackend();
 */
export * from './auto-approve.js';
export * from './auto-reject.js';
export * from './backend.js';
export * from './cli.js';
export * from './scripted.js';
