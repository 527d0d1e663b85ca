import { spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createAction } from '../../shared/models/action.js';
import { openSqlite } from '../../shared/sqlite/open.js';
import { TelemetryLogger } from '../../shared/telemetry/logger.js';
import {
  filesystemServer,
  startStdioProxy,
  tempDir,
  waitUntil,
  writeConfig,
} from '../helpers/proxy-harness.js';
import { runHitloop } from '../helpers/run-cli.js';
import { makeTempDir } from '../helpers/temp-dir.js';

// A researcher's script written for the Python hitloop's documented outputs
// and tables (standard library only), run unchanged on what we write.
const SCRIPT = fileURLToPath(new URL('../fixtures/seed-analysis.py', import.meta.url));
const PYTHON = process.env.HITLOOP_PYTHON ?? 'python3';

const dirs: string[] = [];
const tmp = () => {
  const dir = makeTempDir('hitloop-seed-analysis-');
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface ScriptRun {
  code: number | null;
  // The script's JSON, read the way a test reads it.
  // biome-ignore lint/suspicious/noExplicitAny: the script's output is untyped JSON
  json: Record<string, any>;
  stderr: string;
}

function analyse(...args: string[]): ScriptRun {
  const r = spawnSync(PYTHON, [SCRIPT, ...args], { encoding: 'utf8', timeout: 60_000 });
  if (r.error) {
    throw new Error(
      `cannot run ${PYTHON} (${r.error.message}); install Python 3.11+ or set HITLOOP_PYTHON to its path`,
    );
  }
  return { code: r.status, json: r.stdout ? JSON.parse(r.stdout) : {}, stderr: r.stderr };
}

function experiment(out: string, ...extra: string[]): void {
  const r = runHitloop([
    'experiment',
    '--scenario',
    'email_draft',
    '--n-trials',
    '200',
    '--injection-rate',
    '0.2',
    '--seed',
    '42',
    '--out',
    out,
    '--no-progress',
    ...extra,
  ]);
  expect(r.stderr).toContain('wrote');
  expect(r.code).toBe(0);
}

describe('the seed-analysis script runs unchanged on our outputs', () => {
  it('results.csv, summary.json and telemetry.db of `hitloop experiment` agree with each other under the seed’s definitions', {
    timeout: 120_000,
  }, () => {
    const out = tmp();
    experiment(out);
    const r = analyse('results', out);
    expect(r.stderr).toBe('');
    expect(r.json.problems).toEqual([]);
    expect(r.code).toBe(0);
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    expect(Object.keys(r.json.conditions)).toEqual([
      'no_oversight',
      'risk_based',
      'audit_plus_escalate',
      'always_review',
    ]);
    for (const [name, c] of Object.entries<Record<string, number>>(r.json.conditions)) {
      expect(c.n_runs).toBe(200);
      expect(c.success_rate).toBeCloseTo(summary[name].success_rate, 10);
      // Telemetry read the seed's way (runs.task_success, injected_error
      // events, approval payloads) gives the same numbers.
      expect(r.json.telemetry[name].success_rate).toBeCloseTo(summary[name].success_rate, 4);
      expect(r.json.telemetry[name].approval_rate).toBeCloseTo(summary[name].approval_rate, 4);
      expect(c.harmed! / 200).toBeCloseTo(summary[name].harm_rate, 10);
    }
    // Oversight raises the seed's success_rate and lowers harm; both are visible.
    expect(summary.always_review.success_rate).toBeGreaterThan(summary.no_oversight.success_rate);
    expect(summary.always_review.harm_rate).toBeLessThan(summary.no_oversight.harm_rate);
    expect(r.json.telemetry.risk_based.channels).toEqual(['simulated']);
    // The per-error-type breakdown shows what a policy does not look at:
    // risk_based asks about only some of the leaked credentials.
    const leaks = summary.risk_based.by_error_type.sensitive_data;
    expect(leaks.n_injected).toBe(summary.always_review.by_error_type.sensitive_data.n_injected);
    expect(leaks.n_approval_requests).toBeLessThan(leaks.n_injected);
    expect(summary.always_review.by_error_type.sensitive_data.approval_rate).toBe(1);
    const harmByType = Object.values<{ harm_rate: number }>(summary.risk_based.by_error_type);
    expect(harmByType.reduce((sum, t) => sum + t.harm_rate, 0)).toBeCloseTo(
      summary.risk_based.harm_rate,
      12,
    );
  });

  it('--conditions seed: the seed’s four condition names, checked the same way', {
    timeout: 120_000,
  }, () => {
    const out = tmp();
    experiment(out, '--conditions', 'seed');
    const r = analyse('results', out);
    expect(r.json.problems).toEqual([]);
    expect(r.code).toBe(0);
    expect(Object.keys(r.json.conditions)).toEqual([
      'always_approve',
      'risk_based_auto',
      'risk_based_human',
      'audit_escalate',
    ]);
    // risk_based_auto asks but approves everything, so it catches nothing.
    expect(r.json.conditions.risk_based_auto.approval_rate).toBeGreaterThan(0);
    expect(r.json.conditions.risk_based_auto.error_catch_rate).toBe(0);
    expect(r.json.conditions.risk_based_human.error_catch_rate).toBeGreaterThan(0);
  });

  it('fails, naming the mismatch, when results.csv and summary.json disagree', {
    timeout: 120_000,
  }, () => {
    const out = tmp();
    experiment(out, '--n-trials', '20', '--no-telemetry');
    const path = join(out, 'summary.json');
    const summary = JSON.parse(readFileSync(path, 'utf8'));
    summary.risk_based.success_rate = 0.123;
    writeFileSync(path, JSON.stringify(summary));
    const r = analyse('results', out);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('risk_based: success_rate summary.json 0.123');
  });

  it('a telemetry file the TypeScript TelemetryLogger wrote: the seed’s MetricsCalculator numbers', () => {
    const file = join(tmp(), 'app.db');
    // An older hitloop's file (schema version 2) with one finished run: the
    // logger migrates it and keeps the run.
    const old = openSqlite(file);
    old.exec(`
      CREATE TABLE runs (run_id TEXT PRIMARY KEY, condition TEXT, start_time TEXT, end_time TEXT, success INTEGER, metadata TEXT, scenario TEXT);
      CREATE TABLE trace_events (event_id TEXT PRIMARY KEY, run_id TEXT, event_type TEXT, timestamp TEXT, payload TEXT);
      INSERT INTO runs VALUES ('old-1', 'pilot', '2026-01-01T10:00:00.000Z', '2026-01-01T10:00:02.500Z', 1, '{"seed":3}', 'inbox');
      INSERT INTO trace_events VALUES ('e1', 'old-1', 'run_start', '2026-01-01T10:00:00.000Z', '{}');
      INSERT INTO trace_events VALUES ('e2', 'old-1', 'run_end', '2026-01-01T10:00:02.500Z', '{"success":true}');
    `);
    old.pragma('user_version = 2');
    old.close();

    const logger = new TelemetryLogger({ dbPath: file });
    // Run 1: an LLM call, a risky action a person approves after 1.5 s, it runs.
    const r1 = logger.startRun({ condition: 'pilot', scenario: 'inbox', seed: 1, model: 'm' });
    logger.logLlmCall(r1, { model: 'm', tokensIn: 100, tokensOut: 20, latencyMs: 300 });
    const a1 = createAction({
      toolName: 'send_email',
      toolArgs: { to: 'a@b.c' },
      riskClass: 'high',
    });
    logger.logActionProposed(r1, a1);
    const request = {
      runId: r1,
      action: a1,
      policyName: 'risk_based',
      policyReason: 'high risk',
      context: {},
      createdAt: new Date().toISOString(),
    };
    logger.logApprovalRequested(r1, request, 'hub');
    logger.logApprovalDecided(r1, {
      actionId: a1.id,
      approved: true,
      reason: 'ok',
      decidedBy: 'hub:alice',
      latencyMs: 1500,
      tags: [],
    });
    logger.logToolExecutionEnd(r1, {
      actionId: a1.id,
      success: true,
      durationMs: 12,
      executed: true,
    });
    logger.endRun(r1, { success: true, validationDetails: { checked: 1 } });
    // Run 2: a planted mistake a person rejects after 500 ms; a second LLM call.
    const r2 = logger.startRun({ condition: 'pilot', scenario: 'inbox' });
    logger.logLlmCall(r2, { tokensIn: 30, tokensOut: 0 });
    const a2 = createAction({
      toolName: 'send_email',
      toolArgs: { to: 'x@evil.example' },
      riskClass: 'high',
    });
    logger.logActionProposed(r2, a2);
    logger.logApprovalRequested(r2, { ...request, runId: r2, action: a2 }, 'hub');
    logger.logApprovalDecided(r2, {
      actionId: a2.id,
      approved: false,
      reason: 'wrong recipient',
      decidedBy: 'hub:alice',
      latencyMs: 500,
      tags: ['wrong_recipient'],
    });
    logger.endRun(r2, { success: true });
    logger.logEvent({
      runId: r2,
      eventType: 'injected_error',
      payload: { action_id: a2.id, tool_name: 'send_email' },
    });
    // Run 3: a correct action that is rejected (a false reject) and a failing tool elsewhere.
    const r3 = logger.startRun({ condition: 'baseline' });
    logger.logToolExecutionEnd(r3, {
      actionId: 'x',
      success: false,
      error: 'boom',
      durationMs: 3,
      executed: true,
    });
    logger.endRun(r3, { success: false });
    logger.close();

    const r = analyse('telemetry', file);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.json.conditions.pilot).toEqual({
      n_runs: 3,
      success_rate: 1,
      approval_rate: 0.6667,
      human_latency_mean_ms: 1000,
      error_catch_rate: 1,
      false_reject_rate: 0,
      tool_failure_rate: 0,
      cost_proxy: 150,
      channels: ['hub'],
    });
    expect(r.json.conditions.baseline).toMatchObject({
      n_runs: 1,
      success_rate: 0,
      tool_failure_rate: 1,
      cost_proxy: 0,
    });
    // The migrated run kept its times, seed and scenario.
    expect(r.json.runs['old-1']).toMatchObject({
      scenario_id: 'inbox',
      condition_id: 'pilot',
      seed: 3,
      task_success: true,
      time_to_complete_ms: 2500,
    });
    expect(r.json.runs[r1]).toMatchObject({ seed: 1, tokens_used: 120, llm_calls: 1 });
  });

  it('a file the previous hitloop wrote (schema 2), once a logger has migrated it', () => {
    const file = join(tmp(), 'old.db');
    copyFileSync(fileURLToPath(new URL('../fixtures/telemetry-v2.db', import.meta.url)), file);
    new TelemetryLogger({ dbPath: file }).close();
    const r = analyse('telemetry', file);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.json.conditions.risk_based).toEqual({
      n_runs: 1,
      success_rate: 0,
      approval_rate: 1,
      human_latency_mean_ms: 2500,
      error_catch_rate: 1,
      false_reject_rate: 0,
      tool_failure_rate: 0,
      cost_proxy: 15,
      // Added by the migration: requested on an unknown channel, decided at the CLI.
      channels: ['cli', 'unknown'],
    });
    expect(r.json.conditions.no_oversight).toMatchObject({ n_runs: 2, success_rate: 0.5 });
    expect(r.json.runs['v2-run-1']).toMatchObject({ seed: 42, time_to_complete_ms: 3000 });
  });

  it('the telemetry file of `hitloop proxy` in front of a real MCP server', {
    timeout: 120_000,
  }, async () => {
    const home = tempDir();
    const files = tempDir('hitloop-files-');
    dirs.push(home.dir, files.dir);
    const db = join(home.dir, 'telemetry.db');
    const config = writeConfig(home.dir, {
      mcpServers: { fs: filesystemServer(files.dir) },
      policy: {
        type: 'rules',
        default: 'allow',
        rules: [{ tool: 'write_file', effect: 'ask', reason: 'writes need a person' }],
      },
      approval: { backend: 'elicitation', fallback: 'auto-reject', timeoutMs: 600_000 },
      telemetry: { db },
      proxy: { prefixNames: true },
    });
    let answer = 'approve';
    const proxy = await startStdioProxy(config, home.dir, {
      capabilities: { elicitation: {} },
      handlers: {
        elicit: () => ({ action: 'accept', content: { decision: answer, reason: 'checked' } }),
      },
    });
    try {
      const write = (name: string) =>
        proxy.client.callTool({
          name: 'fs__write_file',
          arguments: { path: join(files.dir, name), content: 'x' },
        });
      expect((await write('ok.txt')).isError).toBeFalsy();
      answer = 'reject';
      expect((await write('no.txt')).isError).toBe(true);
      await proxy.client.callTool({
        name: 'fs__list_directory',
        arguments: { path: files.dir },
      });
    } finally {
      await proxy.close();
    }
    // The proxy writes its last rows as it exits.
    await waitUntil(() => {
      const check = openSqlite(db, { readonly: true });
      try {
        return check.prepare("SELECT 1 FROM trace_events WHERE event_type = 'run_end'").get();
      } finally {
        check.close();
      }
    }, 'the proxy’s run_end');

    const r = analyse('telemetry', db);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // One session is one run; its condition is the policy's name.
    const [name, c] = Object.entries<Record<string, unknown>>(r.json.conditions)[0]!;
    expect(Object.keys(r.json.conditions)).toEqual([name]);
    expect(c).toMatchObject({ n_runs: 1, approval_rate: 1, channels: ['elicitation'] });
    const run = Object.values<Record<string, unknown>>(r.json.runs)[0]!;
    expect(run).toMatchObject({ scenario_id: 'mcp-proxy', approval_requested: true });
    // Three calls proposed, each with the seed's args_hash.
    expect(run.args_hashes).toHaveLength(3);
    // The seed's run metric keeps the last decision: the rejection.
    expect(run.approval_granted).toBe(false);
  });
});
