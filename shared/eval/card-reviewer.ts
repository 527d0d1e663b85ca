import { z } from 'zod';
import type { ApprovalRequest } from '../models/approval-request.js';
import { CARD_PAGE_CHARS, type CardView, renderCardView } from './card-view.js';
import { keyedUniform } from './random.js';
import { type ReviewerConfigInput, type ReviewJudgement, SimulatedReviewer } from './reviewers.js';
import { firstSecret } from './scenarios/common.js';
import type { AnyScenario, TaskBase } from './types.js';

const Rate = z.number().min(0).max(1);

/**
 * Fields people read on an approval card, by key: who, what, where, which
 * record. Keys ending in `_id` count too. Anything else is skimmed unless its
 * value is short (see `shortFieldChars`).
 *
 * @example
 * DEFAULT_READ_FIELDS.includes('to') // true
 */
export const DEFAULT_READ_FIELDS = [
  'to',
  'cc',
  'bcc',
  'recipient',
  'recipients',
  'subject',
  'path',
  'file',
  'url',
  'command',
  'amount',
  'id',
  'field',
] as const;

/**
 * How visible a discrepancy is on the card; see {@link visibility}. The
 * reviewer's sensitivity (after fatigue) is its catch rate for a maximally
 * visible mistake.
 * Defaults describe a person who reads the heading and the short fields,
 * skims long text, and rarely clicks "Show more".
 *
 * @example
 * const model = CardModel.parse({ skimmedFieldWeight: 0.3, positionHalfLifeLines: 10 });
 */
export const CardModel = z
  .object({
    /** Keys of fields people read (plus any key ending in `_id`). */
    readFields: z.array(z.string().min(1)).default([...DEFAULT_READ_FIELDS]),
    /** A field not in `readFields` whose value fits on one line this short is read too; 0 turns that off. */
    shortFieldChars: z.number().int().min(0).default(60),
    /** Multiplier for a discrepancy in a skimmed field (a long body, a file's content). */
    skimmedFieldWeight: Rate.default(0.5),
    /** Attention halves every this many lines down the arguments. */
    positionHalfLifeLines: z.number().positive().default(30),
    /** Length penalty `1 / (1 + chars / lengthScaleChars)` over the whole arguments text. */
    lengthScaleChars: z.number().positive().default(4000),
    /** Multiplier for text past the card's first page (behind "Show N more bytes"). */
    foldedWeight: Rate.default(0.1),
  })
  .strict();
export type CardModel = z.infer<typeof CardModel>;
export type CardModelInput = z.input<typeof CardModel>;

/**
 * A difference between the card and what the task asks for, located on the
 * card. `line` is the argument line (0 = the opening brace); heading
 * discrepancies (the tool) have line 0 and kind `heading`.
 *
 * @example
 * const d: CardDiscrepancy = { key: 'to', kind: 'read', line: 1, offset: 10, finding: 'to differs from the task' };
 */
export interface CardDiscrepancy {
  key: string;
  kind: 'heading' | 'read' | 'skimmed';
  line: number;
  offset: number;
  finding: string;
}

/**
 * Everything the card reviewer perceives: the card and the task the agent
 * was given. Nothing else reaches {@link findCardDiscrepancies}.
 *
 * @example
 * const seen: CardPerception = { card: renderCardView(request), task };
 */
export interface CardPerception {
  card: CardView;
  task: TaskBase;
}

/**
 * Compares the card with the action the task calls for, field by field, as
 * a person does holding the task next to the card: the tool in the heading,
 * then each argument (first differing character, a missing or an extra one),
 * and any credential or personal identifier shown. One discrepancy per field,
 * at the first place it shows. `expected` comes from the task alone
 * (`scenario.generateAction(task)`).
 *
 * @example
 * const found = findCardDiscrepancies(renderCardView(request), renderCardView({ ...request, action: scenario.generateAction(task) }), CardModel.parse({}));
 */
export function findCardDiscrepancies(
  card: CardView,
  expected: CardView,
  model: CardModel,
): CardDiscrepancy[] {
  const found: CardDiscrepancy[] = [];
  if (card.tool !== expected.tool) {
    found.push({
      key: 'tool',
      kind: 'heading',
      line: 0,
      offset: 0,
      finding: `calls ${card.tool}, but the task calls for ${expected.tool}`,
    });
  }
  const want = new Map(expected.fields.map((f) => [f.key, f]));
  for (const field of card.fields) {
    const kind = fieldKind(field.key, field.text, model);
    const other = want.get(field.key);
    const diffAt = other ? firstDifference(field.text, other.text) : 0;
    const secret = firstSecret(field.text);
    const at = Math.min(
      diffAt ?? Number.POSITIVE_INFINITY,
      secret?.index ?? Number.POSITIVE_INFINITY,
    );
    if (!Number.isFinite(at)) continue;
    found.push({
      key: field.key,
      kind,
      line: field.line + countBreaks(field.text, at),
      offset: field.offset + at,
      finding: secret
        ? `${field.key} shows ${secret.kind}`
        : other
          ? `${field.key} differs from what the task asks for`
          : `unexpected argument ${field.key}`,
    });
  }
  const shown = new Set(card.fields.map((f) => f.key));
  const lastLine = card.argsText.split('\n').length - 1;
  for (const field of expected.fields) {
    if (shown.has(field.key)) continue;
    // Absence is seen where the field should have been: at the end.
    found.push({
      key: field.key,
      kind: fieldKind(field.key, field.text, model),
      line: lastLine,
      offset: card.argsText.length,
      finding: `${field.key} is missing`,
    });
  }
  return found;
}

/**
 * How visible a discrepancy is, in [0, 1]:
 * `weight(kind) · 0.5^(line / positionHalfLifeLines) · 1 / (1 + chars /
 * lengthScaleChars) · (offset past the first page ? foldedWeight : 1)`, where
 * `weight` is 1 for the heading and read fields and `skimmedFieldWeight`
 * otherwise, and `chars` is the length of the displayed arguments.
 *
 * @example
 * visibility({ key: 'to', kind: 'read', line: 1, offset: 4, finding: '' }, 200, CardModel.parse({})) // ≈ 0.93
 */
export function visibility(d: CardDiscrepancy, argsChars: number, model: CardModel): number {
  const weight = d.kind === 'skimmed' ? model.skimmedFieldWeight : 1;
  const position = 0.5 ** (d.line / model.positionHalfLifeLines);
  const length = 1 / (1 + argsChars / model.lengthScaleChars);
  const folded = d.offset >= CARD_PAGE_CHARS ? model.foldedWeight : 1;
  return weight * position * length * folded;
}

/**
 * The chance that a reviewer with sensitivity `s` (after fatigue) notices
 * that a card is wrong: `s · (1 − Π(1 − visibility_i))` over its
 * discrepancies. `s` is the catch rate for a maximally visible mistake; 0
 * when the card matches the task.
 *
 * @example
 * noticeProbability(findCardDiscrepancies(card, expected, model), card.argsText.length, 0.9, model)
 */
export function noticeProbability(
  discrepancies: readonly CardDiscrepancy[],
  argsChars: number,
  sensitivity: number,
  model: CardModel,
): number {
  let hidden = 1;
  for (const d of discrepancies) hidden *= 1 - visibility(d, argsChars, model);
  return sensitivity * (1 - hidden);
}

/**
 * A simulated reviewer who sees only the approval card: the tool, server,
 * risk, policy, rationale and the arguments as the card lays them out, plus
 * the task the agent was given. It finds discrepancies by comparing the card
 * with the task ({@link findCardDiscrepancies}), never with the injector's
 * label; only its chance of *noticing* each one depends on how visible it is
 * ({@link noticeProbability}): where it is on the card, how long the
 * arguments are, and whether it is in a field people read.
 *
 * Decision: it notices that the card is wrong with probability
 * {@link noticeProbability} and then rejects; otherwise the action looks
 * right and it approves with probability `specificity`. Fatigue, latency, time-outs and
 * keyed draws are those of {@link SimulatedReviewer}. `decided_by` is
 * `simulated:card-reviewer`.
 *
 * @example
 * const reviewer = new CardReviewer(scenario, { seed: 42, card: { skimmedFieldWeight: 0.3 } });
 * const decision = await reviewer.requestApproval(request); // request.context.task holds the task
 */
export class CardReviewer extends SimulatedReviewer {
  readonly model: CardModel;
  /** What the last review perceived and found (for tests and analysis). */
  lastPerception:
    | (CardPerception & { discrepancies: CardDiscrepancy[]; pNotice: number })
    | undefined;

  constructor(scenario: AnyScenario, config: ReviewerConfigInput & { card?: CardModelInput } = {}) {
    const { card, ...reviewer } = config;
    super(scenario, reviewer);
    this.model = CardModel.parse(card ?? {});
  }

  protected override get decidedBy(): string {
    return 'simulated:card-reviewer';
  }

  protected override judge(
    request: ApprovalRequest,
    task: TaskBase,
    sensitivity: number,
  ): ReviewJudgement {
    // The card is rendered from the request's displayed fields only; the task
    // comes from the request's context. These two are all it perceives.
    const perception: CardPerception = { card: renderCardView(request), task };
    const { pNotice, discrepancies } = this.perceive(perception, sensitivity);
    const seed = this.config.seed;
    const key = request.action.id;
    const noticeDraw = keyedUniform(seed, 'card-review', key, 'notice');
    const noticed = noticeDraw < pNotice;
    this.lastPerception = { ...perception, discrepancies, pNotice };
    if (noticed) {
      return {
        inspection: { erroneous: true, findings: discrepancies.map((d) => d.finding) },
        draw: noticeDraw,
        approved: false,
      };
    }
    const draw = keyedUniform(seed, 'review', key, 'decide');
    return {
      inspection: { erroneous: false, findings: [] },
      draw,
      approved: draw < this.config.specificity,
    };
  }

  /**
   * The discrepancies on the card and the chance of noticing at least one.
   * A pure function of the perception, the model and the sensitivity.
   *
   * @example
   * const { pNotice } = reviewer.perceive({ card, task }, 0.9);
   */
  perceive(
    perception: CardPerception,
    sensitivity: number,
  ): { discrepancies: CardDiscrepancy[]; pNotice: number } {
    const expectedAction = this.scenarioUnderReview.generateAction(perception.task);
    const expected = renderCardView({
      runId: '-',
      action: expectedAction,
      policyName: '-',
      policyReason: '',
      context: {},
      createdAt: '',
    });
    const discrepancies = findCardDiscrepancies(perception.card, expected, this.model);
    const chars = perception.card.argsText.length;
    return {
      discrepancies,
      pNotice: noticeProbability(discrepancies, chars, sensitivity, this.model),
    };
  }
}

function fieldKind(key: string, text: string, model: CardModel): 'read' | 'skimmed' {
  if (model.readFields.includes(key) || key.endsWith('_id')) return 'read';
  const value = text.slice(text.indexOf(': ') + 2);
  return model.shortFieldChars > 0 && !value.includes('\n') && value.length <= model.shortFieldChars
    ? 'read'
    : 'skimmed';
}

/** Index of the first character where `a` and `b` differ; undefined when equal. */
function firstDifference(a: string, b: string): number | undefined {
  if (a === b) return undefined;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

function countBreaks(text: string, end: number): number {
  let n = 0;
  for (let i = 0; i < end && i < text.length; i++) if (text.charCodeAt(i) === 10) n++;
  return n;
}
