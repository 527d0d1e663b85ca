import { z } from 'zod';

/**
 * A regular-expression source that must compile. Checked when the config is
 * read, so a typo fails at start-up with the field named, not on the first
 * tool call.
 */
export const RegexSource = z.string().superRefine((source, ctx) => {
  try {
    new RegExp(source);
  } catch (err) {
    ctx.addIssue({
      code: 'custom',
      message: `not a valid regular expression: ${err instanceof Error ? err.message : String(err)}`,
    });
  }
});

/** A probability in [0, 1]. */
export const Rate = z.number().min(0, 'must be between 0 and 1').max(1, 'must be between 0 and 1');
