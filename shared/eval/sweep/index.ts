/**
 * `hitloop sweep`: a grid of experiments (injection rates × reviewer
 * sensitivity, specificity and fatigue × conditions × seeds), aggregated
 * across seeds with intervals, conditions compared as paired trials with an
 * exact McNemar test, written as one CSV and a report of trade-off curves.
 *
 * @example
 * import { runSweepToDir } from 'hitloop';
 * const { files } = await runSweepToDir({ sensitivities: [0.6, 0.9] }, { outDir: 'results/sweep' });
 */
export * from './aggregate.js';
export * from './grid.js';
export * from './mcnemar.js';
export * from './student-t.js';
export * from './sweep.js';
export * from './sweep-csv.js';
export * from './sweep-journal.js';
export * from './sweep-report.js';
export * from './sweep-runner.js';
export * from './unit-result.js';
