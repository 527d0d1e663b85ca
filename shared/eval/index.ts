/**
 * The experiment harness: scenarios with real side effects, error injection
 * whose ground truth never reaches the decision path, simulated reviewers,
 * the runner with crash resume, metrics with intervals, exports and reports.
 *
 * @example
 * import { runExperiment } from 'hitloop';
 * const { summary } = await runExperiment({ scenario: 'email_draft', nTrials: 100, injectionRate: 0.2, seed: 42 }, { outDir: 'out' });
 */
export * from './card-reviewer.js';
export * from './card-view.js';
export * from './conditions.js';
export * from './experiment.js';
export * from './export.js';
export * from './injector.js';
export * from './journal.js';
export {
  bootstrapInterval,
  bootstrapQuantileInterval,
  type ConditionMetrics,
  type ErrorTypeMetrics,
  MetricsCalculator,
  type MetricsOptions,
  percentileNearestRank,
  RATE_METRICS,
  type RateEstimate,
  type RateMetric,
  VALUE_METRICS,
  type ValueEstimate,
  type ValueMetric,
  wilsonInterval,
} from './metrics.js';
export * from './progress.js';
export { keyedUniform, mulberry32 } from './random.js';
export {
  type ReportChart,
  type ReportHtmlOptions,
  type ReportSection,
  renderErrorTypeChart,
  renderLatencyChart,
  renderMultiReportHtml,
  renderRatesChart,
  renderReportCharts,
  renderReportHtml,
  renderScenarioComparisonChart,
  renderTradeoffChart,
  settingsRows,
  writeChartSvgs,
} from './report.js';
export * from './report-png.js';
export * from './reviewers.js';
export * from './runner.js';
export * from './scenarios/index.js';
export * from './seed-export.js';
export * from './sweep/index.js';
export * from './trial-record.js';
export * from './types.js';
