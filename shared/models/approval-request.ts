import { z } from 'zod';
import { Action } from './action.js';

/**
 * What a policy sends to a human: the action, why approval is needed, and
 * when the request stops being answerable. Timestamps are ISO-8601 strings so
 * the request crosses process and JSON boundaries unchanged.
 *
 * @example
 * const req = ApprovalRequest.parse({ runId: 'r1', action, policyName: 'risk_based', policyReason: 'high risk', createdAt: new Date().toISOString() });
 */
export const ApprovalRequest = z.object({
  runId: z.string().min(1),
  action: Action,
  policyName: z.string().min(1),
  policyReason: z.string().default(''),
  context: z.record(z.string(), z.unknown()).default({}),
  createdAt: z.string().min(1),
  expiresAt: z.string().optional(),
});
export type ApprovalRequest = z.infer<typeof ApprovalRequest>;
export type ApprovalRequestInput = z.input<typeof ApprovalRequest>;
