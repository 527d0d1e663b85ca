import { extname } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { z } from 'zod';
import { ConfigError, configErrorFromZod, formatIssuePath } from '../../errors.js';
import { argsHash } from '../../util/canonical-json.js';
import { CONDITION_NAMES, CONDITION_SETS, STANDARD_CONDITIONS } from '../conditions.js';
import { parseInputJson, readInputFile } from '../read-input.js';
import { createScenario } from '../scenarios/index.js';
import { ErrorType, ScenarioName } from '../types.js';

/**
 * The most trials one sweep may run: beyond it the journal and memory grow past a laptop's.
 *
 * @example
 * sweepTrialCount(grid) <= MAX_SWEEP_TRIALS // true for any grid parseSweepGrid accepts
 */
export const MAX_SWEEP_TRIALS = 10_000_000;

const Rate = z.number().min(0).max(1);

/**
 * A list axis of the grid: one value or a non-empty list of distinct values
 * (a repeated value would count its cell twice), kept in the order given.
 */
function axis<T extends z.ZodType>(item: T) {
  return z.preprocess(
    (v) => (Array.isArray(v) ? v : [v]),
    z
      .array(item)
      .min(1, 'must list at least one value')
      .superRefine((values, ctx) => {
        const seen = new Set<string>();
        values.forEach((v, i) => {
          const key = JSON.stringify(v);
          if (seen.has(key))
            ctx.addIssue({ code: 'custom', path: [i], message: `lists ${key} twice` });
          seen.add(key);
        });
      }),
  );
}

/** Expands the set names `standard` and `seed` into their conditions, in order. */
function expandConditionSets(v: unknown): unknown {
  const items = Array.isArray(v) ? v : typeof v === 'string' ? v.split(',') : v;
  if (!Array.isArray(items)) return items;
  return items.flatMap((item) => {
    const name = typeof item === 'string' ? item.trim() : item;
    return (
      (typeof name === 'string' && CONDITION_SETS[name as keyof typeof CONDITION_SETS]) || [name]
    );
  });
}

/**
 * A sweep: every combination of scenario × injection rate × reviewer
 * sensitivity × specificity × fatigue is a cell; each cell runs every
 * condition with every seed, `nTrials` trials each. Lists keep the order
 * given (it is the order of the CSV rows and the report's panels); a single
 * value may be written without brackets. The defaults are the benchmark
 * grid: 3 injection rates × 3 sensitivities × 4 conditions × 3 seeds × 200 trials.
 *
 * @example
 * const grid = SweepGrid.parse({ injectionRates: [0.1, 0.3], sensitivities: [0.6, 0.9], seeds: [1, 2] });
 * grid.conditions // ['no_oversight', 'risk_based', 'audit_plus_escalate', 'always_review']
 */
export const SweepGrid = z
  .object({
    scenarios: axis(ScenarioName).default(['email_draft']),
    injectionRates: axis(Rate).default([0.1, 0.2, 0.3]),
    /** P(reject | the action looks wrong), before fatigue. */
    sensitivities: axis(Rate).default([0.6, 0.75, 0.9]),
    /** P(approve | the action looks right). */
    specificities: axis(Rate).default([0.95]),
    /** Share of the sensitivity margin above the floor lost per approval in a row. */
    fatigues: axis(Rate).default([0.02]),
    /** The sensitivity a fully fatigued reviewer keeps (not an axis). */
    fatigueFloor: Rate.default(0.5),
    /** Condition names, or the sets `standard` (ours) and `seed` (the Python hitloop's). */
    conditions: z
      .preprocess(expandConditionSets, axis(z.enum(CONDITION_NAMES)))
      .default([...STANDARD_CONDITIONS]),
    seeds: axis(
      z
        .number()
        .int()
        .min(-(2 ** 31))
        .max(2 ** 31 - 1),
    ).default([1, 2, 3]),
    /** Trials per condition, seed and cell. */
    nTrials: z.number().int().min(1).max(100_000).default(200),
    /** Restricts the planted mistakes; every scenario of the grid must support each. */
    errorTypes: axis(ErrorType).optional(),
    /** The audit_plus_escalate sample rate. */
    auditSampleRate: Rate.default(0.1),
  })
  .strict();
export type SweepGrid = z.infer<typeof SweepGrid>;
export type SweepGridInput = z.input<typeof SweepGrid>;

/**
 * One cell of the grid: the setting a point of the trade-off curve stands for.
 *
 * @example
 * const cell: SweepCell = { scenario: 'email_draft', injectionRate: 0.2, sensitivity: 0.9, specificity: 0.95, fatigue: 0.02 };
 */
export interface SweepCell {
  scenario: ScenarioName;
  injectionRate: number;
  sensitivity: number;
  specificity: number;
  fatigue: number;
}

/**
 * One unit of work, and of resume: a cell with one seed (every condition).
 *
 * @example
 * const unit: SweepUnit = { ...cell, seed: 2 };
 */
export interface SweepUnit extends SweepCell {
  seed: number;
}

/**
 * The grid's cells, scenario outermost, then injection rate, sensitivity,
 * specificity and fatigue, each in the order the grid lists them.
 *
 * @example
 * sweepCells(SweepGrid.parse({})).length // 9 (3 rates x 3 sensitivities)
 */
export function sweepCells(grid: SweepGrid): SweepCell[] {
  const cells: SweepCell[] = [];
  for (const scenario of grid.scenarios)
    for (const injectionRate of grid.injectionRates)
      for (const sensitivity of grid.sensitivities)
        for (const specificity of grid.specificities)
          for (const fatigue of grid.fatigues)
            cells.push({ scenario, injectionRate, sensitivity, specificity, fatigue });
  return cells;
}

/**
 * Every unit of the sweep: each cell with each seed, cells outermost.
 *
 * @example
 * sweepUnits(SweepGrid.parse({})).length // 27
 */
export function sweepUnits(grid: SweepGrid): SweepUnit[] {
  return sweepCells(grid).flatMap((cell) => grid.seeds.map((seed) => ({ ...cell, seed })));
}

/**
 * The key of a cell (or unit) in the journal: its parameters as canonical JSON.
 *
 * @example
 * unitKey({ scenario: 'coding', injectionRate: 0.2, sensitivity: 0.9, specificity: 0.95, fatigue: 0, seed: 1 })
 */
export function unitKey(unit: SweepCell | SweepUnit): string {
  const { scenario, injectionRate, sensitivity, specificity, fatigue } = unit;
  const seed = 'seed' in unit ? { seed: unit.seed } : {};
  return JSON.stringify({ scenario, injectionRate, sensitivity, specificity, fatigue, ...seed });
}

/**
 * A hash of the settings every unit shares (trials, conditions, mistakes,
 * audit rate, fatigue floor): the sweep journal's fingerprint. The axes are
 * not in it, so a grid extended by a seed or a rate reuses the finished units.
 *
 * @example
 * sweepFingerprint(SweepGrid.parse({})) // '3f1c...' (16 hex digits)
 */
export function sweepFingerprint(grid: SweepGrid): string {
  return argsHash({
    format: 'hitloop-sweep/1',
    nTrials: grid.nTrials,
    conditions: grid.conditions,
    errorTypes: grid.errorTypes ?? null,
    auditSampleRate: grid.auditSampleRate,
    fatigueFloor: grid.fatigueFloor,
  }).slice(0, 16);
}

/**
 * The number of trials a grid runs: units × conditions × `nTrials`.
 *
 * @example
 * sweepTrialCount(SweepGrid.parse({})) // 21600
 */
export function sweepTrialCount(grid: SweepGrid): number {
  return sweepUnits(grid).length * grid.conditions.length * grid.nTrials;
}

/**
 * Reads a grid file: `.json`, or `.toml` (the same keys). Problems become a
 * ConfigError naming the file.
 *
 * @example
 * const raw = readGridFile('grid.json'); // then parseSweepGrid(raw, { file: 'grid.json' })
 */
export function readGridFile(path: string): unknown {
  const ext = extname(path).toLowerCase();
  if (ext === '.yaml' || ext === '.yml') {
    throw new ConfigError({
      file: path,
      problem: 'YAML grids are not supported (hitloop has no YAML parser among its dependencies)',
      fix: 'write the same keys as JSON (grid.json) or TOML (grid.toml)',
    });
  }
  if (ext !== '.json' && ext !== '.toml') {
    throw new ConfigError({
      file: path,
      problem: `unknown grid file type "${ext || '(none)'}"`,
      fix: 'name the file *.json or *.toml',
    });
  }
  const text = readInputFile(path, 'pass the path of a sweep grid file with --grid');
  if (ext === '.toml') {
    try {
      return parseToml(text);
    } catch (err) {
      const detail = err instanceof TomlError ? err.message.split('\n')[0] : String(err);
      throw new ConfigError({
        file: path,
        problem: `not valid TOML (${detail})`,
        fix: 'check the line it names',
      });
    }
  }
  return parseInputJson(
    path,
    text,
    'check quotes, commas and brackets; keys must be double-quoted',
  );
}

/**
 * Where a grid's values came from, so an error names what the user typed:
 * the file, and for each key set by a command-line flag, that flag.
 *
 * @example
 * const source: GridSource = { file: 'grid.json', flags: { seeds: '--seeds' } };
 */
export interface GridSource {
  file?: string;
  flags?: Readonly<Record<string, string>>;
}

/**
 * Validates a grid (a file's contents merged with flags) and checks that
 * every scenario can plant every listed mistake. Errors are ConfigErrors
 * naming the flag, or the file and the field, and a fix.
 *
 * @example
 * const grid = parseSweepGrid({ seeds: [1, 2, 3] }, { file: 'grid.json' });
 */
export function parseSweepGrid(input: unknown, source: GridSource = {}): SweepGrid {
  const parsed = SweepGrid.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const key = issue?.path[0];
    const flag = typeof key === 'string' ? source.flags?.[key] : undefined;
    if (issue && flag) {
      const rest = issue.path.slice(1);
      throw new ConfigError({
        field: flag,
        problem: `${rest.length ? `${formatIssuePath(rest)}: ` : ''}${issue.message}`,
        fix: FLAG_FIXES[key as string] ?? 'see hitloop sweep --help',
      });
    }
    throw configErrorFromZod(parsed.error, source.file);
  }
  const grid = parsed.data;
  if (grid.errorTypes) {
    for (const scenario of grid.scenarios) {
      const supported = createScenario(scenario).errorTypes;
      const bad = grid.errorTypes.filter((t) => !supported.includes(t));
      if (bad.length > 0) {
        const flag = source.flags?.errorTypes;
        throw new ConfigError({
          ...(flag ? { field: flag } : { file: source.file, field: 'errorTypes' }),
          problem: `scenario ${scenario} cannot plant ${bad.join(', ')}; it supports ${supported.join(', ')}`,
          fix: 'list only mistakes every scenario of the grid supports, or sweep the scenarios separately',
        });
      }
    }
  }
  const trials = sweepTrialCount(grid);
  if (trials > MAX_SWEEP_TRIALS) {
    throw new ConfigError({
      ...(source.file ? { file: source.file } : {}),
      problem: `the grid runs ${trials.toLocaleString('en-US')} trials, more than ${MAX_SWEEP_TRIALS.toLocaleString('en-US')}`,
      fix: 'use fewer values on an axis, fewer seeds or fewer trials, or split the sweep',
    });
  }
  return grid;
}

const FLAG_FIXES: Record<string, string> = {
  scenarios: `e.g. --scenarios email_draft,coding (scenarios: ${ScenarioName.options.join(', ')})`,
  injectionRates: 'e.g. --injection-rates 0.1,0.2,0.3 (each from 0 to 1)',
  sensitivities: 'e.g. --sensitivities 0.6,0.75,0.9 (each from 0 to 1)',
  specificities: 'e.g. --specificities 0.95 (each from 0 to 1)',
  fatigues: 'e.g. --fatigues 0,0.02 (each from 0 to 1)',
  fatigueFloor: 'e.g. --fatigue-floor 0.5 (from 0 to 1)',
  conditions: `e.g. --conditions standard, --conditions seed or a list of: ${CONDITION_NAMES.join(', ')}`,
  seeds: 'e.g. --seeds 1,2,3 (whole numbers)',
  nTrials: 'e.g. --n-trials 200 (1 to 100000)',
  errorTypes: `e.g. --error-types wrong_recipient (kinds: ${ErrorType.options.join(', ')})`,
  auditSampleRate: 'e.g. --audit-sample-rate 0.1 (from 0 to 1)',
};
