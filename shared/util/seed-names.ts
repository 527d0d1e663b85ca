import type { z } from 'zod';

/**
 * Option names of the Python hitloop (in TypeScript casing, as a user porting
 * code would first type them) and what to write here instead.
 *
 * @example
 * const renames: SeedRenames = { maxRetries: 'maxAttempts (tries in all: maxRetries + 1)' };
 */
export type SeedRenames = Readonly<Record<string, string>>;

/**
 * An error map for a strict zod object: an unknown key that is a Python
 * hitloop name is answered with the name to use, so a port fails with a
 * message that says what to type rather than "unrecognized key".
 *
 * @example
 * z.strictObject({ maxAttempts: z.number() }, { error: seedKeyError('RetryConfig', { maxRetries: 'maxAttempts (maxRetries + 1)' }) });
 */
export function seedKeyError(
  schemaName: string,
  renames: SeedRenames,
): (issue: z.core.$ZodRawIssue) => string | undefined {
  return (issue) => {
    if (issue.code !== 'unrecognized_keys') return undefined;
    const keys = (issue as { keys?: string[] }).keys ?? [];
    const known = keys.filter((k) => Object.hasOwn(renames, k));
    if (known.length === 0) return undefined;
    const others = keys.filter((k) => !Object.hasOwn(renames, k));
    const hints = known.map((k) => `${k} → ${renames[k]}`).join('; ');
    return `${known.join(', ')} ${known.length === 1 ? 'is a name' : 'are names'} from the Python hitloop's ${schemaName}; write ${hints}${others.length ? `. Also unknown: ${others.join(', ')}` : ''}`;
  };
}
