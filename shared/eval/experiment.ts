import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { ApprovalBackend } from '../backends/backend.js';
import { TelemetryLogger } from '../telemetry/logger.js';
import { argsHash } from '../util/canonical-json.js';
import { CardModel, CardReviewer } from './card-reviewer.js';
import {
  CONDITION_NAMES,
  createStandardConditions,
  type ExperimentCondition,
  STANDARD_CONDITIONS,
} from './conditions.js';
import {
  buildSummary,
  EXPERIMENT_FILES,
  type ExperimentSummary,
  writeExperimentOutputs,
} from './export.js';
import { checkInjectionTypes } from './injector.js';
import { TrialJournal } from './journal.js';
import { MetricsCalculator } from './metrics.js';
import { ReviewerConfig } from './reviewers.js';
import { type ExperimentProgress, ExperimentRunner } from './runner.js';
import { createScenario } from './scenarios/index.js';
import type { TrialRecord } from './trial-record.js';
import { ErrorTypeName, ScenarioName } from './types.js';

/**
 * Everything that determines an experiment's results. Two runs with equal
 * configs produce byte-identical `results.csv` and `summary.json` (with the
 * simulated reviewer); the journal's fingerprint is a hash of this object.
 *
 * @example
 * const config = ExperimentConfig.parse({ scenario: 'email_draft', nTrials: 20, injectionRate: 0.2, seed: 42 });
 */
export const ExperimentConfig = z
  .object({
    scenario: ScenarioName,
    nTrials: z.number().int().min(1).max(1_000_000),
    injectionRate: z.number().min(0).max(1),
    /** The seed's names (`WRONG_RECIPIENT`) are accepted too. */
    errorTypes: z.array(ErrorTypeName).min(1).optional(),
    seed: z.union([z.number().int(), z.string().min(1)]),
    /** Ours (the default four) and/or the seed's four (`SEED_CONDITIONS`). */
    conditions: z
      .array(z.enum(CONDITION_NAMES))
      .min(1)
      .default([...STANDARD_CONDITIONS]),
    /**
     * `simulated`: the seeded coin-flip model (the baseline); `card`: the
     * seeded model that sees only the approval card (CardReviewer); `cli`: a person at this terminal; `hub`:
     * people deciding through the approval hub (VS Code sidebar, `hitloop
     * approve`). The live kinds are pilots with people.
     */
    reviewerKind: z.enum(['simulated', 'card', 'cli', 'hub']).default('simulated'),
    reviewer: ReviewerConfig.omit({ seed: true, realtime: true }).prefault({}),
    /** The card reviewer's visibility model (`reviewerKind: 'card'`); absent: its defaults. */
    card: CardModel.optional(),
    auditSampleRate: z.number().min(0).max(1).default(0.1),
    bootstrapResamples: z.number().int().min(100).max(100_000).default(2000),
    /** A review slower than this counts as a timeout (not executed, not a rejection). */
    reviewTimeoutMs: z.number().int().positive().optional(),
  })
  .strict();
export type ExperimentConfig = z.infer<typeof ExperimentConfig>;
export type ExperimentConfigInput = z.input<typeof ExperimentConfig>;

/**
 * Options for {@link runExperiment} that do not change the results.
 *
 * @example
 * const options: RunExperimentOptions = { outDir: 'results/email', realtime: false, onProgress: (p) => console.error(p.done) };
 */
export interface RunExperimentOptions {
  /** Where results.csv, summary.json, the journal and telemetry go. Without it nothing is written. */
  outDir?: string;
  /** Record telemetry in `<outDir>/telemetry.db` (true, the default with outDir), another file, or not at all. */
  telemetry?: boolean | string;
  /** Discard a journal left by an earlier run instead of resuming it. */
  fresh?: boolean;
  /** Sleep each simulated review's latency. */
  realtime?: boolean;
  /** The reviewer for `reviewerKind: 'cli'` (or any live channel). */
  liveReviewer?: () => ApprovalBackend;
  onProgress?: (progress: ExperimentProgress) => void;
  signal?: AbortSignal;
}

/**
 * What {@link runExperiment} returns.
 *
 * @example
 * const { summary, files } = await runExperiment(config, { outDir: 'out' });
 */
export interface ExperimentOutcome {
  config: ExperimentConfig;
  fingerprint: string;
  records: TrialRecord[];
  /** Null when interrupted: metrics of a partial experiment would mislead. */
  summary: ExperimentSummary | null;
  resumed: number;
  interrupted: boolean;
  files: {
    results?: string;
    summary?: string;
    manifest?: string;
    journal?: string;
    telemetry?: string;
  };
}

/**
 * A short stable hash of a config: the journal's fingerprint, and the prefix
 * of the experiment's telemetry run ids.
 *
 * @example
 * experimentFingerprint(ExperimentConfig.parse({ scenario: 'coding', nTrials: 10, injectionRate: 0.2, seed: 1 }))
 */
export function experimentFingerprint(config: ExperimentConfig): string {
  // /2: records carry the seed's task_success, completed and harm (issue 15);
  // a journal of /1 records cannot be resumed into them.
  return argsHash({ format: 'hitloop-experiment/2', ...config }).slice(0, 16);
}

/**
 * Runs a whole experiment: the standard conditions for one scenario, the
 * simulated (or a live) reviewer, metrics with intervals, and (with `outDir`)
 * `results.csv`, `summary.json`, a resume journal and telemetry.
 *
 * Rerunning with the same config and `outDir` after a crash resumes: finished
 * trials are read from the journal, telemetry of the trial that was cut off
 * is removed, and the final files are byte-identical to an uninterrupted run.
 *
 * @example
 * const outcome = await runExperiment(
 *   { scenario: 'record_update', nTrials: 200, injectionRate: 0.2, seed: 42 },
 *   { outDir: 'results/crm' },
 * );
 * outcome.summary?.conditions.risk_based?.error_catch_rate;
 */
export async function runExperiment(
  input: ExperimentConfigInput,
  options: RunExperimentOptions = {},
): Promise<ExperimentOutcome> {
  const config = ExperimentConfig.parse(input);
  const fingerprint = experimentFingerprint(config);
  const scenario = createScenario(config.scenario);
  checkInjectionTypes(scenario, config.errorTypes);
  const conditions = createStandardConditions(scenario, config.nTrials, config.injectionRate, {
    seed: config.seed,
    auditSampleRate: config.auditSampleRate,
    only: config.conditions,
    ...(config.errorTypes ? { errorTypes: config.errorTypes } : {}),
  }).map((c): ExperimentCondition => {
    const live = isLiveKind(config.reviewerKind) ? options.liveReviewer : undefined;
    // The card model replaces the runner's coin-flip reviewer; a condition
    // with its own reviewer (risk_based_auto's auto-approver) keeps it.
    const card =
      config.reviewerKind === 'card' && !c.createReviewer
        ? () =>
            new CardReviewer(scenario, {
              ...config.reviewer,
              seed: config.seed,
              realtime: options.realtime === true,
              ...(config.card ? { card: config.card } : {}),
            })
        : undefined;
    return {
      ...c,
      ...(live ? { createReviewer: live } : {}),
      ...(card ? { createReviewer: card } : {}),
      ...(config.reviewTimeoutMs ? { reviewTimeoutMs: config.reviewTimeoutMs } : {}),
    };
  });
  if (isLiveKind(config.reviewerKind) && !options.liveReviewer) {
    throw new RangeError(`reviewerKind "${config.reviewerKind}" needs options.liveReviewer`);
  }

  const files: ExperimentOutcome['files'] = {};
  let journal: TrialJournal | undefined;
  let logger: TelemetryLogger | undefined;
  const prefix = `exp-${fingerprint}:`;
  try {
    if (options.outDir) {
      mkdirSync(options.outDir, { recursive: true });
      files.journal = join(options.outDir, EXPERIMENT_FILES.journal);
      journal = TrialJournal.open(files.journal, fingerprint, journalHeader(config), {
        fresh: options.fresh,
      });
    }
    const telemetryPath =
      typeof options.telemetry === 'string'
        ? options.telemetry
        : options.telemetry !== false && options.outDir
          ? join(options.outDir, EXPERIMENT_FILES.telemetry)
          : undefined;
    if (telemetryPath) {
      files.telemetry = telemetryPath;
      logger = new TelemetryLogger({ dbPath: telemetryPath, flushIntervalMs: 0 });
      forgetUnfinishedRuns(logger, prefix, journal, options.fresh === true);
    }
    const runner = new ExperimentRunner({
      seed: config.seed,
      reviewer: { ...config.reviewer, seed: config.seed, realtime: options.realtime === true },
      ...(logger ? { logger } : {}),
      ...(journal ? { journal } : {}),
      runIdPrefix: prefix,
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const result = await runner.run(conditions);
    if (result.interrupted) {
      return {
        config,
        fingerprint,
        records: result.records,
        summary: null,
        resumed: result.resumed,
        interrupted: true,
        files,
      };
    }
    const metrics = new MetricsCalculator({
      seed: config.seed,
      resamples: config.bootstrapResamples,
    }).compute(result.records);
    const summary = buildSummary(metrics, {
      scenario: config.scenario,
      seed: config.seed,
      nTrials: config.nTrials,
      injectionRate: config.injectionRate,
      errorTypes: config.errorTypes ?? scenario.errorTypes,
      reviewer:
        config.reviewerKind === 'simulated'
          ? { kind: 'simulated', ...config.reviewer }
          : config.reviewerKind === 'card'
            ? { kind: 'card', ...config.reviewer, card: CardModel.parse(config.card ?? {}) }
            : { kind: config.reviewerKind },
      resamples: config.bootstrapResamples,
      conditions: new Map(
        conditions.map((c) => [
          c.name,
          { description: c.description, policy: c.createPolicy().name },
        ]),
      ),
    });
    if (options.outDir)
      Object.assign(files, writeExperimentOutputs(options.outDir, result.records, summary));
    return {
      config,
      fingerprint,
      records: result.records,
      summary,
      resumed: result.resumed,
      interrupted: false,
      files,
    };
  } finally {
    journal?.close();
    logger?.close();
  }
}

function isLiveKind(kind: ExperimentConfig['reviewerKind']): boolean {
  return kind === 'cli' || kind === 'hub';
}

function journalHeader(config: ExperimentConfig): Record<string, unknown> {
  return {
    scenario: config.scenario,
    n_trials: config.nTrials,
    injection_rate: config.injectionRate,
    seed: config.seed,
    conditions: config.conditions.join('+'),
    reviewer: config.reviewerKind,
    settings: config,
  };
}

/**
 * Deletes this experiment's telemetry runs that the journal does not list as
 * finished: the trial a crash cut off left a partial run, and it is about to
 * run again under the same run id.
 */
function forgetUnfinishedRuns(
  logger: TelemetryLogger,
  prefix: string,
  journal: TrialJournal | undefined,
  fresh: boolean,
): void {
  const db = logger.database;
  const finished = new Set<string>();
  if (journal && !fresh) {
    for (const r of journal.completed.values()) finished.add(`${prefix}${r.trial_id}`);
  }
  const like = `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  const runIds = (
    db
      .prepare(
        `SELECT run_id FROM runs WHERE run_id LIKE ? ESCAPE '\\'
         UNION SELECT DISTINCT run_id FROM trace_events WHERE run_id LIKE ? ESCAPE '\\'`,
      )
      .all(like, like) as { run_id: string }[]
  )
    .map((r) => r.run_id)
    .filter((id) => !finished.has(id));
  if (runIds.length === 0) return;
  const deleteEvents = db.prepare('DELETE FROM trace_events WHERE run_id = ?');
  const deleteRun = db.prepare('DELETE FROM runs WHERE run_id = ?');
  db.transaction(() => {
    for (const id of runIds) {
      deleteEvents.run(id);
      deleteRun.run(id);
    }
  })();
}
