import { z } from 'zod';
import { RiskClass } from '../models/risk.js';
import { TOOL_GLOB_SYNTAX, toolGlobProblem } from './glob.js';
import { RegexSource } from './schema-helpers.js';

/** The three verdicts, as written in rule files. */
export const Effect = z.enum(['allow', 'ask', 'deny']);

const oneOrMany = <T extends z.ZodType>(item: T) => z.union([item, z.array(item).min(1)]);

/**
 * A glob over tool names (rules' `tool`, `approval.toolTimeouts`,
 * `proxy.executionTimeouts`); the syntax is glob.ts's.
 *
 * @example
 * ToolGlob.parse('{read,list}_*');
 */
export const ToolGlob = z
  .string()
  .min(1)
  .superRefine((glob, ctx) => {
    const problem = toolGlobProblem(glob);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .describe(TOOL_GLOB_SYNTAX);

/**
 * A test on one argument. All given keys must hold. `glob` matches a
 * normalised path (`a/../b` is `b`), so `..` cannot walk out of an allowed folder.
 */
export const ArgMatcher = z
  .object({
    glob: z.string().min(1).optional(),
    regex: RegexSource.optional(),
    /** Flags for `regex`, e.g. "i". */
    flags: z
      .string()
      .regex(/^[imsu]*$/, 'only the flags i, m, s and u are allowed')
      .optional(),
    gt: z.number().optional(),
    gte: z.number().optional(),
    lt: z.number().optional(),
    lte: z.number().optional(),
    equals: z.unknown().optional(),
    in: z.array(z.unknown()).optional(),
    exists: z.boolean().optional(),
  })
  .strict()
  .refine((m) => Object.keys(m).some((k) => k !== 'flags'), {
    message: 'a matcher needs at least one of glob, regex, gt, gte, lt, lte, equals, in, exists',
  });
export type ArgMatcher = z.infer<typeof ArgMatcher>;

/**
 * One rule. `tool` is a glob over the tool name (see glob.ts: `*`, `?`,
 * `[a-z]`, `{read,list}`); it is tried against both the bare name and `SERVER__TOOL`.
 * `args` keys may be dotted paths into nested objects (`options.recursive`).
 */
export const Rule = z
  .object({
    id: z.string().min(1).optional(),
    description: z.string().optional(),
    tool: oneOrMany(ToolGlob).default('*'),
    server: oneOrMany(z.string().min(1)).optional(),
    args: z.record(z.string().min(1), ArgMatcher).optional(),
    risk: oneOrMany(RiskClass).optional(),
    effect: Effect,
    reason: z.string().optional(),
  })
  .strict();
export type Rule = z.infer<typeof Rule>;

/**
 * A rules document: the rules, the verdict when none matches, and the servers
 * whose tool annotations (`readOnlyHint`, `destructiveHint`) may set risk.
 *
 * @example
 * RulesDocument.parse({ default: 'ask', rules: [{ tool: '*delete*', effect: 'deny' }] });
 */
export const RulesDocument = z
  .object({
    default: Effect.default('ask'),
    trustedServers: z.array(z.string()).default([]),
    rules: z.array(Rule).default([]),
  })
  .strict();
export type RulesDocument = z.input<typeof RulesDocument>;
