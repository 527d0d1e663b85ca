import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type Command, Option } from 'commander';
import type { ApprovalBackend } from '../../../shared/backends/backend.js';
import { CLIBackend } from '../../../shared/backends/cli.js';
import { ConfigError } from '../../../shared/errors.js';
import type { CardModelInput } from '../../../shared/eval/card-reviewer.js';
import {
  CONDITION_NAMES,
  CONDITION_SETS,
  type ConditionName,
  STANDARD_CONDITIONS,
} from '../../../shared/eval/conditions.js';
import {
  type ExperimentConfigInput,
  type ExperimentOutcome,
  runExperiment,
} from '../../../shared/eval/experiment.js';
import { withTaskAsRationale, withTaskBriefing } from '../../../shared/eval/reviewers.js';
import { createScenario } from '../../../shared/eval/scenarios/index.js';
import { ErrorType, errorTypeFromName, ScenarioName } from '../../../shared/eval/types.js';
import { ApprovalHub } from '../../../shared/hub/approval-hub.js';
import { hitloopHome } from '../../../shared/hub/discovery.js';
import { HubBackend } from '../../../shared/hub/hub-backend.js';
import { SqliteApprovalStore } from '../../../shared/stores/sqlite-store.js';
import { packageVersion } from '../../version.js';
import type { CliIo } from '../program.js';
import { registerReportCommand } from './report.js';
import { runResumable } from './resumable-run.js';

interface ExperimentOptions {
  scenario: ScenarioName;
  nTrials: string;
  injectionRate: string;
  errorTypes?: string;
  seed: string;
  out: string;
  conditions?: string;
  reviewer: 'simulated' | 'card' | 'cli' | 'hub';
  cardSkimmedWeight?: string;
  cardHalfLifeLines?: string;
  cardLengthScaleChars?: string;
  reviewerSensitivity?: string;
  reviewerSpecificity?: string;
  reviewerLatencyMedianMs?: string;
  reviewerLatencySigma?: string;
  reviewerFatigue?: string;
  reviewerFatigueFloor?: string;
  auditSampleRate?: string;
  reviewTimeoutMs?: string;
  bootstrapResamples?: string;
  realtime?: boolean;
  telemetry: boolean;
  fresh?: boolean;
  progress: boolean;
}

/**
 * `hitloop experiment` (run the standard conditions for a scenario) and
 * `hitloop report` (render a finished experiment).
 *
 * @example
 * registerExperimentCommands(program, io);
 * // hitloop experiment --scenario email_draft --n-trials 200 --injection-rate 0.2 --seed 42 --out results/email
 */
export function registerExperimentCommands(program: Command, io: CliIo): void {
  program
    .command('experiment')
    .description(
      'measure how well oversight policies catch injected agent errors, and at what cost to the reviewer',
    )
    .addOption(
      new Option('--scenario <name>', 'task environment')
        .choices(ScenarioName.options)
        .makeOptionMandatory(),
    )
    .option('--n-trials <n>', 'trials per condition', '20')
    .option('--injection-rate <rate>', 'share of trials with a planted mistake (0 to 1)', '0.2')
    .option(
      '--error-types <list>',
      `comma-separated mistake kinds (default: all the scenario supports; kinds: ${ErrorType.options.join(', ')})`,
    )
    .option('--seed <n>', 'seed for tasks, mistakes, reviewer and audit sampling', '42')
    .requiredOption('--out <dir>', 'directory for results.csv, summary.json, journal and telemetry')
    .option(
      '--conditions <list>',
      `comma-separated conditions, or "seed" for the Python hitloop's four (${CONDITION_SETS.seed.join(',')}) (default: ${STANDARD_CONDITIONS.join(',')})`,
    )
    .addOption(
      new Option(
        '--reviewer <kind>',
        'simulated (coin flip); card (sees only the approval card: misses depend on where a mistake shows); cli for a person at this terminal; hub for people using the VS Code sidebar or hitloop approve',
      )
        .choices(['simulated', 'card', 'cli', 'hub'])
        .default('simulated'),
    )
    .option('--reviewer-sensitivity <p>', 'P(reject | wrong action), 0 to 1 (default 0.9)')
    .option('--reviewer-specificity <p>', 'P(approve | right action), 0 to 1 (default 0.95)')
    .option('--reviewer-latency-median-ms <ms>', 'median decision time (default 8000)')
    .option('--reviewer-latency-sigma <s>', 'lognormal spread of decision time (default 0.6)')
    .option(
      '--reviewer-fatigue <d>',
      'sensitivity lost per approval in a row, 0 to 1 (default 0.02)',
    )
    .option(
      '--reviewer-fatigue-floor <p>',
      'sensitivity of a fully fatigued reviewer (default 0.5)',
    )
    .option(
      '--card-skimmed-weight <w>',
      '--reviewer card: visibility of a mistake in a skimmed field (long text), 0 to 1 (default 0.5)',
    )
    .option(
      '--card-half-life-lines <n>',
      '--reviewer card: attention halves every N lines down the arguments (default 30)',
    )
    .option(
      '--card-length-scale-chars <n>',
      '--reviewer card: visibility falls as 1/(1 + chars/N) with the arguments length (default 4000)',
    )
    .option('--audit-sample-rate <rate>', 'audit_plus_escalate sample rate (default 0.1)')
    .option('--review-timeout-ms <ms>', 'a slower review counts as a timeout (default: none)')
    .option('--bootstrap-resamples <n>', 'resamples for latency intervals (default 2000)')
    .option('--realtime', 'sleep each simulated review for its latency (results do not change)')
    .option('--no-telemetry', 'do not write telemetry.db')
    .option('--fresh', 'discard an earlier, unfinished run in --out instead of resuming it')
    .option('--no-progress', 'no progress bar or progress lines on stderr')
    .action(async (opts: ExperimentOptions) => {
      await runExperimentCommand(opts, io);
    });
  registerReportCommand(program, io);
}

async function runExperimentCommand(opts: ExperimentOptions, io: CliIo): Promise<void> {
  const config = toConfig(opts);
  checkOutDir(opts.out);
  const live = opts.reviewer === 'cli' || opts.reviewer === 'hub';
  // A hub pilot: this process runs an approval hub; its requests appear in
  // the VS Code sidebar and in `hitloop approvals` like any proxy's.
  let hub: ApprovalHub | undefined;
  let liveReviewer: (() => ApprovalBackend) | undefined;
  if (opts.reviewer === 'hub') {
    hub = new ApprovalHub({
      store: new SqliteApprovalStore(join(hitloopHome(), 'approvals.db')),
      name: `hitloop experiment (${opts.scenario})`,
      version: packageVersion(),
    });
    await hub.start();
    io.stderr(
      `hitloop: approval hub running; decide in the VS Code sidebar or with \`hitloop approvals\`\n`,
    );
    const backend = withTaskAsRationale(new HubBackend(hub));
    liveReviewer = () => backend;
  } else if (opts.reviewer === 'cli') {
    liveReviewer = () => withTaskBriefing(new CLIBackend(), (text) => io.stderr(text));
  }
  // Ctrl-C finishes the current trial and keeps the journal, so the same
  // command resumes.
  let outcome: ExperimentOutcome;
  try {
    outcome = await runResumable(
      io,
      opts.progress && !live,
      'use another --out directory, or add --fresh to discard the earlier results there',
      (hooks) =>
        runExperiment(config, {
          outDir: opts.out,
          telemetry: opts.telemetry,
          fresh: opts.fresh === true,
          realtime: opts.realtime === true,
          ...(liveReviewer ? { liveReviewer } : {}),
          ...hooks,
        }),
    );
  } finally {
    await hub?.stop();
    await hub?.store.close();
  }
  const total = config.nTrials * (config.conditions?.length ?? STANDARD_CONDITIONS.length);
  if (outcome.interrupted || !outcome.summary) {
    throw new Error(
      `interrupted after ${outcome.records.length} of ${total} trials; the finished ones are in ${outcome.files.journal}. Run the same command again to resume.`,
    );
  }
  io.stdout(formatSummaryTable(outcome));
  const resumed = outcome.resumed
    ? ` (${outcome.resumed} trial(s) resumed from ${outcome.files.journal})`
    : '';
  io.stderr(
    `hitloop: wrote ${outcome.files.results}, ${outcome.files.summary} and ${outcome.files.manifest}${resumed}\n` +
      `hitloop: render the report with: hitloop report ${opts.out}\n`,
  );
}

function formatSummaryTable(outcome: ExperimentOutcome): string {
  const summary = outcome.summary!;
  const header = [
    'condition',
    'success',
    'completion',
    'harm',
    'approval',
    'error catch',
    'false reject',
    'tool failure',
    'latency mean',
    'reviewer s/trial',
  ];
  const pct = (v: number | null) => (v === null ? 'n/a' : `${(v * 100).toFixed(1)}%`);
  const rows = summary.condition_order.map((name) => {
    const c = summary.conditions[name]!;
    return [
      name,
      pct(c.success_rate),
      pct(c.completion_rate),
      pct(c.harm_rate),
      pct(c.approval_rate),
      pct(c.error_catch_rate),
      pct(c.false_reject_rate),
      pct(c.tool_failure_rate),
      c.human_latency_mean_ms === null ? 'n/a' : `${(c.human_latency_mean_ms / 1000).toFixed(1)} s`,
      c.reviewer_seconds_per_trial === null ? 'n/a' : c.reviewer_seconds_per_trial.toFixed(2),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const injected = summary.conditions[summary.condition_order[0]!]?.n_injected ?? 0;
  return (
    `${summary.scenario}: ${summary.n_trials} trials per condition, ${injected} with a planted mistake, seed ${summary.seed}\n` +
    [line(header), ...rows.map(line)].join('\n') +
    '\n'
  );
}

/** Turns the flags into an ExperimentConfig, with a ConfigError naming the flag for anything wrong. */
function toConfig(opts: ExperimentOptions): ExperimentConfigInput {
  const scenario = createScenario(opts.scenario);
  const config: ExperimentConfigInput = {
    scenario: opts.scenario,
    nTrials: int('--n-trials', opts.nTrials, 1, 1_000_000, '--n-trials 200'),
    injectionRate: unit('--injection-rate', opts.injectionRate, '--injection-rate 0.2'),
    seed: int('--seed', opts.seed, -(2 ** 31), 2 ** 31 - 1, '--seed 42'),
    reviewerKind: opts.reviewer,
    reviewer: {
      ...(opts.reviewerSensitivity === undefined
        ? {}
        : {
            sensitivity: unit(
              '--reviewer-sensitivity',
              opts.reviewerSensitivity,
              '--reviewer-sensitivity 0.9',
            ),
          }),
      ...(opts.reviewerSpecificity === undefined
        ? {}
        : {
            specificity: unit(
              '--reviewer-specificity',
              opts.reviewerSpecificity,
              '--reviewer-specificity 0.95',
            ),
          }),
      latency: {
        ...(opts.reviewerLatencyMedianMs === undefined
          ? {}
          : {
              medianMs: positive(
                '--reviewer-latency-median-ms',
                opts.reviewerLatencyMedianMs,
                '--reviewer-latency-median-ms 8000',
              ),
            }),
        ...(opts.reviewerLatencySigma === undefined
          ? {}
          : {
              sigma: number(
                '--reviewer-latency-sigma',
                opts.reviewerLatencySigma,
                0,
                3,
                '--reviewer-latency-sigma 0.6',
              ),
            }),
      },
      fatigue: {
        ...(opts.reviewerFatigue === undefined
          ? {}
          : {
              decayPerApproval: unit(
                '--reviewer-fatigue',
                opts.reviewerFatigue,
                '--reviewer-fatigue 0.02',
              ),
            }),
        ...(opts.reviewerFatigueFloor === undefined
          ? {}
          : {
              floor: unit(
                '--reviewer-fatigue-floor',
                opts.reviewerFatigueFloor,
                '--reviewer-fatigue-floor 0.5',
              ),
            }),
      },
    },
  };
  if (opts.errorTypes !== undefined) {
    // The seed's names (WRONG_RECIPIENT) stand for ours (wrong_recipient).
    const named = opts.errorTypes
      .split(',')
      .map((name) => errorTypeFromName(name) ?? name.trim())
      .join(',');
    config.errorTypes = list('--error-types', named, scenario.errorTypes, (bad) =>
      ErrorType.options.includes(bad as ErrorType)
        ? `scenario ${opts.scenario} cannot express ${bad}`
        : `unknown error type "${bad}"`,
    ) as ErrorType[];
  }
  if (opts.conditions !== undefined) {
    // A set name ("seed", "standard") stands for its conditions, in order.
    const expanded = opts.conditions
      .split(',')
      .flatMap((item) => {
        const set = CONDITION_SETS[item.trim() as keyof typeof CONDITION_SETS];
        return set ?? [item];
      })
      .join(',');
    config.conditions = list(
      '--conditions',
      expanded,
      CONDITION_NAMES,
      (bad) => `unknown condition "${bad}" (sets: ${Object.keys(CONDITION_SETS).join(', ')})`,
    ) as ConditionName[];
  }
  const card = cardModel(opts);
  if (card) config.card = card;
  if (opts.auditSampleRate !== undefined)
    config.auditSampleRate = unit(
      '--audit-sample-rate',
      opts.auditSampleRate,
      '--audit-sample-rate 0.1',
    );
  if (opts.reviewTimeoutMs !== undefined)
    config.reviewTimeoutMs = int(
      '--review-timeout-ms',
      opts.reviewTimeoutMs,
      1,
      2 ** 31 - 1,
      '--review-timeout-ms 60000',
    );
  if (opts.bootstrapResamples !== undefined)
    config.bootstrapResamples = int(
      '--bootstrap-resamples',
      opts.bootstrapResamples,
      100,
      100_000,
      '--bootstrap-resamples 2000',
    );
  return config;
}

/** The `--card-*` flags as a CardModel input; they need `--reviewer card`. */
function cardModel(opts: ExperimentOptions): CardModelInput | undefined {
  const given = [
    ['--card-skimmed-weight', opts.cardSkimmedWeight],
    ['--card-half-life-lines', opts.cardHalfLifeLines],
    ['--card-length-scale-chars', opts.cardLengthScaleChars],
  ].filter(([, v]) => v !== undefined);
  if (given.length === 0) return undefined;
  if (opts.reviewer !== 'card') {
    throw new ConfigError({
      field: given[0]![0]!,
      problem: `only applies to the card reviewer, but --reviewer is ${opts.reviewer}`,
      fix: 'add --reviewer card, or drop the --card-* flags',
    });
  }
  return {
    ...(opts.cardSkimmedWeight === undefined
      ? {}
      : {
          skimmedFieldWeight: unit(
            '--card-skimmed-weight',
            opts.cardSkimmedWeight,
            '--card-skimmed-weight 0.5',
          ),
        }),
    ...(opts.cardHalfLifeLines === undefined
      ? {}
      : {
          positionHalfLifeLines: positive(
            '--card-half-life-lines',
            opts.cardHalfLifeLines,
            '--card-half-life-lines 30',
          ),
        }),
    ...(opts.cardLengthScaleChars === undefined
      ? {}
      : {
          lengthScaleChars: positive(
            '--card-length-scale-chars',
            opts.cardLengthScaleChars,
            '--card-length-scale-chars 4000',
          ),
        }),
  };
}

function number(flag: string, raw: string, min: number, max: number, example: string): number {
  const value = raw.trim() === '' ? Number.NaN : Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new ConfigError({
      field: flag,
      problem: `expected a number from ${min} to ${max}, got "${raw}"`,
      fix: `e.g. ${example}`,
    });
  }
  return value;
}

function unit(flag: string, raw: string, example: string): number {
  return number(flag, raw, 0, 1, example);
}

function positive(flag: string, raw: string, example: string): number {
  const value = number(flag, raw, Number.MIN_VALUE, Number.MAX_VALUE, example);
  return value;
}

function int(flag: string, raw: string, min: number, max: number, example: string): number {
  const value = number(flag, raw, min, max, example);
  if (!Number.isInteger(value)) {
    throw new ConfigError({
      field: flag,
      problem: `expected a whole number, got "${raw}"`,
      fix: `e.g. ${example}`,
    });
  }
  return value;
}

function list(
  flag: string,
  raw: string,
  allowed: readonly string[],
  why: (bad: string) => string,
): string[] {
  const items = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.length === 0) {
    throw new ConfigError({
      field: flag,
      problem: 'is empty',
      fix: `give one or more of: ${allowed.join(', ')}`,
    });
  }
  const bad = items.find((i) => !allowed.includes(i));
  if (bad !== undefined) {
    throw new ConfigError({
      field: flag,
      problem: why(bad),
      fix: `use a comma-separated list of: ${allowed.join(', ')}`,
    });
  }
  const seen = new Set<string>();
  for (const item of items) {
    if (seen.has(item)) {
      throw new ConfigError({
        field: flag,
        problem: `lists "${item}" twice`,
        fix: 'name each once',
      });
    }
    seen.add(item);
  }
  return items;
}

function checkOutDir(out: string): void {
  if (out.trim() === '') {
    throw new ConfigError({ field: '--out', problem: 'is empty', fix: 'e.g. --out results/email' });
  }
  if (existsSync(out) && !statSync(out).isDirectory()) {
    throw new ConfigError({
      field: '--out',
      problem: `${out} is a file, not a directory`,
      fix: 'name a directory (it is created if missing)',
    });
  }
}
