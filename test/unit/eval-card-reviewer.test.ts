import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  type Action,
  type AnyScenario,
  type ApprovalRequest,
  CardModel,
  type CardPerception,
  CardReviewer,
  createAction,
  createScenario,
  createStandardConditions,
  displayArgs,
  ErrorInjector,
  ErrorType,
  ExperimentRunner,
  formatArgsForDisplay,
  renderCardView,
  runExperiment,
  ScenarioName,
  toResultsCsv,
} from '../../shared/index.js';

// A memo scenario whose task fixes every argument, so a test can put one
// discrepancy exactly where it wants it: which field, which line, how long
// the arguments are. Only what the card reviewer uses is implemented.
const MemoTask = z.object({
  id: z.string(),
  description: z.string(),
  args: z.record(z.string(), z.unknown()),
});
type MemoTask = z.infer<typeof MemoTask>;
const memo = {
  name: 'email_draft',
  taskSchema: MemoTask,
  generateAction: (task: MemoTask) =>
    createAction({ id: `${task.id}:expected`, toolName: 'post_memo', toolArgs: task.args }),
} as unknown as AnyScenario;

const NO_FATIGUE = { decayPerApproval: 0, floor: 0 };
const N = 3000;

function request(action: Action, task: unknown): ApprovalRequest {
  return {
    runId: 'r',
    action,
    policyName: 'always_review',
    policyReason: '',
    context: { runId: 'session', task },
    createdAt: new Date(0).toISOString(),
  };
}

function lines(n: number, width = 60): string {
  return Array.from({ length: n }, (_, i) => `line ${i} `.padEnd(width, 'x')).join('\n');
}

/**
 * The share of N wrong memos the reviewer rejects, where `wrong` makes the
 * shown arguments from the task's; each memo a distinct action id (its own
 * coin). Sensitivity 1, specificity 1: every rejection is a noticed mistake.
 */
async function catchRate(
  args: Record<string, unknown>,
  wrong: (args: Record<string, unknown>) => Record<string, unknown>,
  n = N,
  seed = 11,
): Promise<{ rate: number; pNotice: number }> {
  const reviewer = new CardReviewer(memo, {
    sensitivity: 1,
    specificity: 1,
    fatigue: NO_FATIGUE,
    seed,
  });
  const task: MemoTask = { id: 'memo', description: 'Post the memo as given.', args };
  let rejected = 0;
  let pNotice = Number.NaN;
  for (let i = 0; i < n; i++) {
    const action = createAction({ id: `memo-${i}`, toolName: 'post_memo', toolArgs: wrong(args) });
    if (!(await reviewer.requestApproval(request(action, task))).approved) rejected++;
    pNotice = reviewer.lastPerception!.pNotice;
  }
  return { rate: rejected / n, pNotice };
}

/** Four binomial standard errors: a fixed-seed draw outside it would be a 1-in-15,000 event. */
function tolerance(p: number): number {
  return 4 * Math.sqrt((p * (1 - p)) / N);
}

describe('card view', () => {
  it('lays the arguments out as the card does: formatArgsForDisplay plus a break after each \\n escape', () => {
    const args = {
      to: 'a@b.example',
      body: 'Hi,\n\nthanks.\nBye',
      meta: { n: [1, 2] },
      rtl: 'x\u202Ey',
    };
    const { text, fields } = displayArgs(args);
    expect(text.replace(/\\n\n/g, '\\n')).toBe(formatArgsForDisplay(args));
    const shown = text.split('\n');
    for (const f of fields) {
      expect(shown[f.line]!.trimStart().startsWith(`"${f.key}"`)).toBe(true);
      expect(text.slice(f.offset, f.offset + f.text.length)).toBe(f.text);
    }
    expect(fields.map((f) => [f.key, f.line])).toEqual([
      ['to', 1],
      ['body', 2],
      ['meta', 6],
      ['rtl', 12],
    ]);
    expect(text).toContain('⟦U+202E');
  });

  it('matches formatArgsForDisplay for every action of every scenario', () => {
    for (const name of ScenarioName.options) {
      const scenario = createScenario(name);
      const injector = new ErrorInjector(scenario, { rate: 0.5, seed: 3 });
      for (let i = 0; i < 200; i++) {
        const { action } = injector.prepare(scenario.createTask(`3|${name}|task|${i}`), i);
        const card = renderCardView(request(action, undefined));
        expect(card.argsText.replace(/\\n\n/g, '\\n')).toBe(formatArgsForDisplay(action.toolArgs));
      }
    }
  });
});

describe('CardReviewer: visibility', () => {
  const model = CardModel.parse({});

  it('catches a mistake less often the further down the card it is (skimmed field)', async () => {
    const args = { title: 'Q3 memo', body: lines(60) };
    const at = (line: number) => (a: Record<string, unknown>) => ({
      ...a,
      body: String(a.body).replace(`line ${line} `, `LINE ${line} `),
    });
    const early = await catchRate(args, at(1));
    const late = await catchRate(args, at(55));
    // The documented formula: weight · 0.5^(line/halfLife) / (1 + chars/scale).
    const chars = displayArgs(args).text.length;
    const expected = (line: number) =>
      (model.skimmedFieldWeight * 0.5 ** (line / model.positionHalfLifeLines)) /
      (1 + chars / model.lengthScaleChars);
    // "body" is on line 2; its line k is argument line 2 + k.
    expect(early.pNotice).toBeCloseTo(expected(3), 12);
    expect(late.pNotice).toBeCloseTo(expected(57), 12);
    expect(Math.abs(early.rate - early.pNotice)).toBeLessThan(tolerance(early.pNotice));
    expect(Math.abs(late.rate - late.pNotice)).toBeLessThan(tolerance(late.pNotice));
    expect(early.rate - late.rate).toBeGreaterThan(0.15);
  });

  it('catches the same mistake less often in longer arguments', async () => {
    const wrongTo = (a: Record<string, unknown>) => ({ ...a, to: 'carol@acme.example' });
    const short = await catchRate({ to: 'bob@acme.example', body: 'Short note.' }, wrongTo);
    const long = await catchRate({ to: 'bob@acme.example', body: 'y'.repeat(12_000) }, wrongTo);
    for (const r of [short, long])
      expect(Math.abs(r.rate - r.pNotice)).toBeLessThan(tolerance(r.pNotice));
    expect(short.rate).toBeGreaterThan(0.9);
    expect(short.rate - long.rate).toBeGreaterThan(0.5);
  });

  it('catches a mistake in a field people read more often than the same one in a skimmed field', async () => {
    // The same line (1), the same length: only the field differs.
    const body = lines(8);
    const read = await catchRate({ subject: 'Budget 2025 v2', body }, (a) => ({
      ...a,
      subject: 'Budget 2025 v3',
    }));
    const skimmed = await catchRate({ body, subject: 'Budget 2025 v2' }, (a) => ({
      ...a,
      body: String(a.body).replace('line 0 ', 'line O '),
    }));
    for (const r of [read, skimmed])
      expect(Math.abs(r.rate - r.pNotice)).toBeLessThan(tolerance(r.pNotice));
    expect(skimmed.pNotice / read.pNotice).toBeCloseTo(model.skimmedFieldWeight, 12);
    expect(read.rate - skimmed.rate).toBeGreaterThan(0.3);
  });

  it('text past the first page (behind "Show more") is rarely checked', async () => {
    const args = { body: 'z'.repeat(70_000), to: 'bob@acme.example' };
    const eve = (a: Record<string, unknown>) => ({ ...a, to: 'eve@acme.example' });
    const r = await catchRate(args, eve, 300);
    expect(r.pNotice).toBeLessThan(0.01);
    expect(r.rate).toBeLessThan(0.03);
    // The same slip above the body (line 1, not line 2): only the fold differs.
    const onPageOne = await catchRate({ to: 'bob@acme.example', body: 'z'.repeat(70_000) }, eve, 1);
    expect(r.pNotice / onPageOne.pNotice).toBeCloseTo(
      model.foldedWeight * 0.5 ** (1 / model.positionHalfLifeLines),
      12,
    );
  });

  it('approves a card that matches the task at the specificity, whatever its length', async () => {
    const reviewer = new CardReviewer(memo, { specificity: 0.8, fatigue: NO_FATIGUE, seed: 4 });
    const task: MemoTask = {
      id: 'm',
      description: 'd',
      args: { to: 'a@b.example', body: lines(40) },
    };
    let approved = 0;
    for (let i = 0; i < N; i++) {
      const action = createAction({ id: `ok-${i}`, toolName: 'post_memo', toolArgs: task.args });
      if ((await reviewer.requestApproval(request(action, task))).approved) approved++;
      expect(reviewer.lastPerception!.discrepancies).toEqual([]);
    }
    expect(Math.abs(approved / N - 0.8)).toBeLessThan(tolerance(0.8));
  });
});

describe('CardReviewer: what it perceives', () => {
  // Anything that could carry the ground truth (as in eval-injector.test.ts).
  const LABELS = [...ErrorType.options, 'inject', 'truth', 'error_type', 'errortype', 'label'];

  class RecordingCardReviewer extends CardReviewer {
    readonly seen: CardPerception[] = [];
    override perceive(perception: CardPerception, sensitivity: number) {
      this.seen.push(structuredClone(perception));
      return super.perceive(perception, sensitivity);
    }
  }

  it('perceives only the card and the task: no injection label reaches it, in any scenario', async () => {
    for (const name of ScenarioName.options) {
      const scenario = createScenario(name);
      const reviewer = new RecordingCardReviewer(scenario, { seed: 5 });
      const conditions = createStandardConditions(scenario, 150, 0.5, {
        seed: 5,
        only: ['always_review'],
      }).map((c) => ({ ...c, createReviewer: () => reviewer }));
      const { records } = await new ExperimentRunner({ seed: 5 }).run(conditions);
      expect(reviewer.seen).toHaveLength(150);
      expect(records.filter((r) => r.injected).length).toBeGreaterThan(50);
      for (const p of reviewer.seen) {
        expect(Object.keys(p).sort()).toEqual(['card', 'task']);
        const text = JSON.stringify(p).toLowerCase();
        expect(LABELS.filter((l) => text.includes(l))).toEqual([]);
      }
      // It still catches planted mistakes: the comparison with the task works.
      const caught = records.filter((r) => r.injected && r.error_caught).length;
      expect(caught).toBeGreaterThan(records.filter((r) => r.injected).length * 0.4);
    }
  });

  it('locates a leak in a real email where the card shows it: the body, a skimmed field, its last line', () => {
    const scenario = createScenario('email_draft');
    const reviewer = new CardReviewer(scenario, { seed: 1 });
    const task = scenario.createTask('1|email_draft|task|0');
    const action = scenario.generateAction(task, false, 'sensitive_data', 'k');
    const card = renderCardView(request(action, task));
    const { discrepancies } = reviewer.perceive({ card, task }, 1);
    expect(discrepancies).toHaveLength(1);
    const [leak] = discrepancies;
    expect(leak).toMatchObject({ key: 'body', kind: 'skimmed' });
    expect(leak!.finding).toMatch(
      /^body shows (a password|a payment card number|an API key|a social security number)$/,
    );
    // The leak is appended: the discrepancy starts on the blank line before it.
    expect(leak!.line).toBe(card.argsLines.length - 4);
    expect(card.argsLines[leak!.line + 2]).toMatch(/P\.S\.|card|key|SSN/);
    // The recipient of a correct card is on line 1 and is read.
    const wrong = scenario.generateAction(task, false, 'wrong_recipient', 'k');
    const [to] = reviewer.perceive(
      { card: renderCardView(request(wrong, task)), task },
      1,
    ).discrepancies;
    expect(to).toMatchObject({ key: 'to', kind: 'read', line: 1 });
  });

  it('decides the same for an injected action and the same action rebuilt by hand', async () => {
    const scenario = createScenario('email_draft');
    const injector = new ErrorInjector(scenario, { rate: 1, seed: 9 });
    const a = new CardReviewer(scenario, { seed: 9, fatigue: NO_FATIGUE });
    const b = new CardReviewer(scenario, { seed: 9, fatigue: NO_FATIGUE });
    for (let i = 0; i < 300; i++) {
      const task = scenario.createTask(`9|email_draft|task|${i}`);
      const { action } = injector.prepare(task, i);
      const handMade = createAction({
        id: action.id,
        toolName: action.toolName,
        toolArgs: JSON.parse(JSON.stringify(action.toolArgs)),
        riskClass: action.riskClass,
        sideEffects: [...action.sideEffects],
        rationale: action.rationale,
      });
      const da = await a.requestApproval(request(action, task));
      const db = await b.requestApproval(request(handMade, task));
      expect([db.approved, db.reason, db.latencyMs]).toEqual([
        da.approved,
        da.reason,
        da.latencyMs,
      ]);
    }
  });
});

describe('CardReviewer in experiments', () => {
  it('is reproducible by seed and differs across seeds', async () => {
    const csv = async (seed: number) => {
      const { records } = await runExperiment({
        scenario: 'email_draft',
        nTrials: 150,
        injectionRate: 0.4,
        seed,
        reviewerKind: 'card',
      });
      return toResultsCsv(records, { seed });
    };
    const first = await csv(21);
    expect(await csv(21)).toBe(first);
    expect(await csv(22)).not.toBe(first);
    expect(first).toContain('simulated:card-reviewer');
  });

  it('misses a leak at the end of an email body more often than the coin-flip baseline, and the auto-approver stays', async () => {
    const run = (reviewerKind: 'simulated' | 'card') =>
      runExperiment({
        scenario: 'email_draft',
        nTrials: 600,
        injectionRate: 0.5,
        seed: 3,
        errorTypes: ['sensitive_data', 'wrong_recipient'],
        conditions: ['always_review', 'risk_based_auto'],
        reviewerKind,
      });
    const [coin, card] = await Promise.all([run('simulated'), run('card')]);
    const leak = (o: typeof coin) =>
      o.summary!.conditions.always_review!.by_error_type.sensitive_data!.error_catch_rate!;
    const recipient = (o: typeof coin) =>
      o.summary!.conditions.always_review!.by_error_type.wrong_recipient!.error_catch_rate!;
    expect(leak(coin)).toBeGreaterThan(0.8);
    expect(leak(card)).toBeLessThan(0.5);
    expect(recipient(card)).toBeGreaterThan(0.7);
    expect(card.summary!.reviewer).toMatchObject({
      kind: 'card',
      card: { skimmedFieldWeight: 0.5 },
    });
    const auto = card.records.filter(
      (r) => r.condition === 'risk_based_auto' && r.approval_requested,
    );
    expect(auto.length).toBeGreaterThan(0);
    expect(auto.every((r) => r.decided_by === 'simulated:reviewer' && r.approved)).toBe(true);
  });
});
