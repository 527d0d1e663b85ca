import { z } from 'zod';
import { ConfigError, configErrorFromZod } from '../errors.js';
import type { Action } from '../models/action.js';
import { seedKeyError } from '../util/seed-names.js';
import { keyedUniform, pick } from './random.js';
import {
  type AnyScenario,
  type ErrorType,
  ErrorTypeName,
  type Scenario,
  type TaskBase,
} from './types.js';

/**
 * How often, and which, mistakes to plant. `types` defaults to every kind the
 * scenario supports, and takes the seed's names too (`WRONG_RECIPIENT`,
 * {@link InjectionType}`.WRONG_RECIPIENT`). `seed` makes the choice
 * reproducible: trial N gets the same decision in every process, whatever
 * ran before it.
 *
 * @example
 * const config = InjectionConfig.parse({ rate: 0.2, seed: 42 });
 * InjectionConfig.parse({ rate: 0.2, seed: 42, types: ['WRONG_RECIPIENT'] }).types // ['wrong_recipient']
 */
export const InjectionConfig = z.strictObject(
  {
    rate: z.number().min(0).max(1),
    types: z.array(ErrorTypeName).min(1).optional(),
    seed: z.union([z.number(), z.string()]),
  },
  {
    error: seedKeyError('InjectionConfig', {
      injectionRate: 'rate',
      injection_rate: 'rate',
      injectionTypes: 'types',
      injection_types: 'types',
    }),
  },
);
export type InjectionConfig = z.infer<typeof InjectionConfig>;
export type InjectionConfigInput = z.input<typeof InjectionConfig>;

/**
 * The ground truth about one action: was a mistake planted, and which. It is
 * returned beside the action, never inside it, and only the experiment runner
 * holds it (see {@link ErrorInjector}).
 *
 * @example
 * const truth: InjectionTruth = { injected: true, errorType: 'wrong_recipient' };
 */
export interface InjectionTruth {
  injected: boolean;
  errorType: ErrorType | null;
}

/**
 * Plants mistakes in agent actions at a configured rate.
 *
 * Honesty by construction: the seed's injector wrote the label into the
 * action, where every policy could read it. Here `prepare` returns the action
 * and the truth as two separate values; the action carries no trace of the
 * label (same id, same rationale, a risk class computed from the visible
 * arguments by the scenario), and the runner keeps the truth in its own map.
 *
 * Draws are keyed by (seed, trial index), not by condition, so every
 * condition of an experiment sees the same tasks with the same mistakes: a
 * paired design, where differences between conditions come from oversight
 * alone.
 *
 * @example
 * const injector = new ErrorInjector(scenario, { rate: 0.2, seed: 42 });
 * const { action, truth } = injector.prepare(task, 17);
 * // `action` goes to the policy and the reviewer; `truth` stays with the runner.
 */
export class ErrorInjector<TTask extends TaskBase = TaskBase> {
  readonly config: InjectionConfig;
  private readonly scenario: Scenario<TTask>;
  private readonly types: readonly ErrorType[];

  constructor(scenario: Scenario<TTask>, config: InjectionConfigInput) {
    if (scenario === null || typeof scenario !== 'object' || !('errorTypes' in scenario)) {
      // The seed's ErrorInjector(InjectionConfig(...)) took no scenario.
      throw new TypeError(
        'ErrorInjector needs the scenario whose actions it plants mistakes in: new ErrorInjector(scenario, { rate: 0.2, seed: 42, types: [InjectionType.WRONG_RECIPIENT] })',
      );
    }
    const parsed = InjectionConfig.safeParse(config);
    if (!parsed.success) throw configErrorFromZod(parsed.error, undefined, 'injection');
    this.config = parsed.data;
    this.scenario = scenario;
    this.types = checkInjectionTypes(scenario, this.config.types);
  }

  /**
   * Whether trial `index` gets a mistake, and of which kind; `null` when not.
   * A trial drawn for injection whose task cannot express any of the
   * configured kinds (a wrong amount in a task without an amount) stays
   * correct, so the realised rate can fall below `rate` when `types` is narrow.
   *
   * @example
   * injector.plan(task, 3) // 'wrong_amount' or null
   */
  plan(task: TTask, index: number): ErrorType | null {
    const seed = this.config.seed;
    if (keyedUniform(seed, 'inject', index) >= this.config.rate) return null;
    const possible = this.scenario.errorTypesFor(task).filter((t) => this.types.includes(t));
    if (possible.length === 0) return null;
    return pick(possible, keyedUniform(seed, 'inject-kind', index));
  }

  /**
   * The action the agent proposes for trial `index`, and the truth about it.
   *
   * @example
   * const { action, truth } = injector.prepare(task, 0);
   */
  prepare(task: TTask, index: number): { action: Action; truth: InjectionTruth } {
    const correct = this.scenario.generateAction(task);
    const errorType = this.plan(task, index);
    if (errorType === null) return { action: correct, truth: { injected: false, errorType: null } };
    const seed = this.config.seed;
    const action = this.scenario.injectError(correct, task, errorType, (label) =>
      keyedUniform(seed, 'mutate', index, label),
    );
    return { action, truth: { injected: true, errorType } };
  }
}

/**
 * The error types to plant in `scenario`: `types` (any name
 * {@link errorTypeFromName} accepts), or every kind it supports. A kind the
 * scenario cannot plant is a ConfigError naming the scenario and the kinds it
 * supports: planting nothing while labelling the trial "injected" (what the
 * seed did) would make every metric a lie.
 *
 * @example
 * checkInjectionTypes(new EmailDraftScenario(), ['WRONG_RECIPIENT']) // ['wrong_recipient']
 * checkInjectionTypes(new EmailDraftScenario(), ['wrong_record_id']) // throws: scenario email_draft cannot express wrong_record_id; ...
 */
export function checkInjectionTypes(
  scenario: Pick<AnyScenario, 'name' | 'errorTypes'>,
  types: readonly string[] | undefined,
): readonly ErrorType[] {
  if (types === undefined) return scenario.errorTypes;
  const parsed = z.array(ErrorTypeName).min(1).safeParse(types);
  if (!parsed.success) throw configErrorFromZod(parsed.error, undefined, 'injection.types');
  const unsupported = parsed.data.filter((t) => !scenario.errorTypes.includes(t));
  if (unsupported.length > 0) {
    const usable = parsed.data.filter((t) => scenario.errorTypes.includes(t));
    throw new ConfigError({
      field: 'injection.types',
      problem: `scenario ${scenario.name} cannot express ${unsupported.join(', ')}; it supports ${scenario.errorTypes.join(', ')}`,
      fix: usable.length
        ? `drop ${unsupported.join(', ')} (types: [${usable.map((t) => `'${t}'`).join(', ')}]), or run a scenario that supports ${unsupported.length === 1 ? 'it' : 'them'}`
        : `choose from ${scenario.errorTypes.join(', ')}, or leave types out for all of them`,
    });
  }
  return [...new Set(parsed.data)];
}
