import type { z } from 'zod';

/**
 * A problem with something the user wrote (a config file, a rules file, a JSON
 * argument on the command line). The CLI prints `message` and exits with code
 * 2; no stack trace reaches the user.
 *
 * @example
 * throw new ConfigError({ file: 'hitloop.json', field: 'policy.rules[2].effect', problem: 'expected allow, ask or deny, got "permit"', fix: 'use one of allow, ask, deny' });
 */
export class ConfigError extends Error {
  readonly code = 'HITLOOP_CONFIG' as const;
  readonly file: string | undefined;
  readonly field: string | undefined;
  readonly problem: string;
  readonly fix: string | undefined;

  constructor(opts: { file?: string; field?: string; problem: string; fix?: string }) {
    super(formatConfigProblem(opts));
    this.name = 'ConfigError';
    this.file = opts.file;
    this.field = opts.field;
    this.problem = opts.problem;
    this.fix = opts.fix;
  }
}

function formatConfigProblem(opts: {
  file?: string;
  field?: string;
  problem: string;
  fix?: string;
}): string {
  const where = [opts.file, opts.field].filter(Boolean).join(': ');
  const head = where ? `${where}: ${opts.problem}` : opts.problem;
  return opts.fix ? `${head}\n  fix: ${opts.fix}` : head;
}

/**
 * Renders a zod issue path as the user would write it: `rules[2].args.path`.
 *
 * @example
 * formatIssuePath(['rules', 2, 'effect']) // 'rules[2].effect'
 */
export function formatIssuePath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out || '(top level)';
}

/**
 * Turns a failed zod parse into a ConfigError naming the file, the first
 * offending field, what is wrong, and (where zod knows) the allowed values.
 *
 * @example
 * const parsed = Schema.safeParse(json);
 * if (!parsed.success) throw configErrorFromZod(parsed.error, 'rules.json', 'policy');
 */
export function configErrorFromZod(error: z.ZodError, file?: string, prefix?: string): ConfigError {
  const first = error.issues[0];
  if (!first) return new ConfigError({ file, problem: 'invalid configuration' });
  // A record key that fails its own schema: zod says only "Invalid key in
  // record" and nests the key's own problem, which is the one to show.
  const issue = (first.code === 'invalid_key' && first.issues[0]) || first;
  const path = [...(prefix ? [prefix] : []), ...first.path, ...(issue === first ? [] : issue.path)];
  const extra = error.issues.length > 1 ? ` (and ${error.issues.length - 1} more problem(s))` : '';
  return new ConfigError({
    file,
    field: formatIssuePath(path),
    problem: issue.message + extra,
    fix: fixHintFor(issue),
  });
}

function fixHintFor(issue: z.core.$ZodIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_value':
      return `use one of: ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'unrecognized_keys':
      return `remove or correct the unknown key(s): ${issue.keys.join(', ')}`;
    case 'invalid_type':
      return `give a value of type ${issue.expected}`;
    default:
      return undefined;
  }
}

/**
 * Parses JSON text from a user, reporting the location of a syntax error in
 * terms they can act on.
 *
 * @example
 * parseJsonText('{"a":1}', '--args') // { a: 1 }
 */
export function parseJsonText(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    throw new ConfigError({
      file: source,
      problem: `not valid JSON (${detail})`,
      fix: 'check quotes, commas and brackets; keys must be double-quoted',
    });
  }
}
