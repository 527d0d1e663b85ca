import { z } from 'zod';
import { ScenarioName } from '../types.js';

/** One outcome per trial, trial index i at position i: `1` yes, `0` no. */
const Bits = z.string().regex(/^[01]*$/, 'must be a string of 0 and 1');

/**
 * One condition's per-trial outcomes within a unit, as bit strings aligned by
 * trial index (the same tasks, with the same planted mistakes, in every
 * condition of the unit): everything the sweep's metrics and McNemar tests need.
 *
 * @example
 * const c: ConditionOutcomes = { condition: 'risk_based', policy_name: 'risk_based', asked: '0100', executed: '1011', completed: '1011', success: '1111' };
 */
export const ConditionOutcomes = z
  .object({
    condition: z.string(),
    policy_name: z.string(),
    /** A reviewer was asked (the policy said `ask`). */
    asked: Bits,
    /** The tool ran (allowed, or approved). */
    executed: Bits,
    /** The intended task got done (the scenario's check of the side effects passed). */
    completed: Bits,
    /** The seed's task_success: the right action did the task, or a planted mistake was stopped. */
    success: Bits,
  })
  .strict();
export type ConditionOutcomes = z.infer<typeof ConditionOutcomes>;

/**
 * The result of one unit (a cell with one seed): one line of the sweep
 * journal. `injected` is shared by every condition: that is what makes the
 * comparisons paired.
 *
 * @example
 * const line = UnitResult.parse(JSON.parse(text));
 */
export const UnitResult = z
  .object({
    key: z.string(),
    scenario: ScenarioName,
    injectionRate: z.number().min(0).max(1),
    sensitivity: z.number().min(0).max(1),
    specificity: z.number().min(0).max(1),
    fatigue: z.number().min(0).max(1),
    seed: z.number().int(),
    n_trials: z.number().int().positive(),
    /** A mistake was planted in trial i (the same in every condition). */
    injected: Bits,
    conditions: z.array(ConditionOutcomes).min(1),
  })
  .strict()
  .superRefine((u, ctx) => {
    const check = (bits: string, path: (string | number)[]) => {
      if (bits.length !== u.n_trials)
        ctx.addIssue({
          code: 'custom',
          path,
          message: `has ${bits.length} outcomes, not ${u.n_trials}`,
        });
    };
    check(u.injected, ['injected']);
    u.conditions.forEach((c, i) => {
      for (const k of ['asked', 'executed', 'completed', 'success'] as const)
        check(c[k], ['conditions', i, k]);
    });
  });
export type UnitResult = z.infer<typeof UnitResult>;

/**
 * Booleans as a bit string (`true` → `1`).
 *
 * @example
 * toBits([true, false, true]) // '101'
 */
export function toBits(values: readonly boolean[]): string {
  let out = '';
  for (const v of values) out += v ? '1' : '0';
  return out;
}
