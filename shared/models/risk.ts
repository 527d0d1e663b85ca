import { z } from 'zod';

/**
 * How much damage an action can do if it is wrong.
 *
 * @example
 * RiskClass.parse('high') // 'high'
 */
export const RiskClass = z.enum(['low', 'medium', 'high']);
export type RiskClass = z.infer<typeof RiskClass>;

const ORDER: Record<RiskClass, number> = { low: 0, medium: 1, high: 2 };

/**
 * Orders risk classes; positive when `a` is riskier than `b`.
 *
 * @example
 * compareRisk('high', 'low') > 0 // true
 */
export function compareRisk(a: RiskClass, b: RiskClass): number {
  return ORDER[a] - ORDER[b];
}
