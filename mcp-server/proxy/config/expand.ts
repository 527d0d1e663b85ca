import { sep } from 'node:path';
import { parseEnv } from 'node:util';
import { ConfigError } from '../../../shared/errors.js';

/** What `${...}` references resolve against. */
export interface ExpandContext {
  /** Environment variables (usually process.env). */
  env: Readonly<Record<string, string | undefined>>;
  /** `${workspaceFolder}`. */
  workspaceFolder: string;
  /** `${userHome}`. */
  userHome: string;
  /** The config file, for error messages. */
  file: string;
}

// `${` NAME-ish `}`: anything else containing `${` (a shell snippet such as
// `${1}` or `${a b}`) is left alone, so commands that pass scripts through
// are not broken by expansion they never asked for.
const REFERENCE = /\$\{([A-Za-z_]\w*(?::[^}]*)?|\/)\}/g;
const VAR_NAME = /^[A-Za-z_]\w*$/;

/**
 * Expands variable references in one string from a config file. Supported:
 * `${env:VAR}` (VS Code), `${VAR}` and `${VAR:-default}` (Claude Code; the
 * default also applies when VAR is empty, as in a shell), `${env:VAR:-default}`,
 * `${workspaceFolder}`, `${workspaceFolderBasename}`, `${userHome}`,
 * `${pathSeparator}` and `${/}`. An unset variable without a default, a VS Code
 * `${input:...}` prompt or another VS Code command variable is a ConfigError
 * naming `field`.
 *
 * @example
 * expandString('Bearer ${env:TOKEN}', 'servers.gh.headers.Authorization', ctx) // 'Bearer abc'
 */
export function expandString(value: string, field: string, ctx: ExpandContext): string {
  if (!value.includes('${')) return value;
  return value.replace(REFERENCE, (_whole, body: string) => resolveReference(body, field, ctx));
}

function resolveReference(body: string, field: string, ctx: ExpandContext): string {
  switch (body) {
    case 'workspaceFolder':
      return ctx.workspaceFolder;
    case 'workspaceFolderBasename':
      return ctx.workspaceFolder.split(/[\\/]/).filter(Boolean).pop() ?? '';
    case 'userHome':
      return ctx.userHome;
    case 'pathSeparator':
    case '/':
      return sep;
  }
  const colon = body.indexOf(':');
  const prefix = colon === -1 ? undefined : body.slice(0, colon);
  if (prefix === 'input') {
    throw new ConfigError({
      file: ctx.file,
      field,
      problem: `\${${body}} asks VS Code to prompt for a value, and hitloop cannot prompt`,
      fix: `set an environment variable and write \${env:NAME} instead (hitloop reads it from its own environment)`,
    });
  }
  let name: string;
  let fallback: string | undefined;
  if (prefix === 'env') {
    const rest = body.slice(colon + 1);
    const dash = rest.indexOf(':-');
    name = dash === -1 ? rest : rest.slice(0, dash);
    fallback = dash === -1 ? undefined : rest.slice(dash + 2);
  } else if (colon !== -1 && body[colon + 1] === '-') {
    name = body.slice(0, colon);
    fallback = body.slice(colon + 2);
  } else if (colon !== -1) {
    throw new ConfigError({
      file: ctx.file,
      field,
      problem: `\${${body}} is a VS Code variable hitloop does not support`,
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the config syntax, shown to the user
      fix: 'use ${env:NAME}, ${NAME}, ${NAME:-default}, ${workspaceFolder} or ${userHome}',
    });
  } else {
    name = body;
  }
  if (!VAR_NAME.test(name)) {
    throw new ConfigError({
      file: ctx.file,
      field,
      problem: `\${${body}} does not name an environment variable`,
      fix: 'variable names are letters, digits and _ and do not start with a digit',
    });
  }
  const value = ctx.env[name];
  if (fallback !== undefined) return value ? value : fallback;
  if (value === undefined) {
    throw new ConfigError({
      file: ctx.file,
      field,
      problem: `environment variable ${name} is not set`,
      fix: `set ${name} in the environment hitloop runs in, or give a default: \${${name}:-value}`,
    });
  }
  return value;
}

/**
 * Parses a dotenv file (VS Code's `envFile`) with Node's own parser
 * (`node:util.parseEnv`): `KEY=value` lines, optional `export `, `#`
 * comments, values in single, double or back quotes, which may span lines;
 * in double quotes `\n` is a line break. Where parseEnv would silently read
 * something other than the file means, a ConfigError names the line: a line
 * that is not `KEY=value`, a quote never closed, and `\"` inside double
 * quotes (not an escape for parseEnv, so the value would be cut short).
 *
 * @example
 * parseDotenv('# tokens\nexport TOKEN="abc"\nKEY="-----BEGIN\n...\n-----END"\n', '.env')
 * // { TOKEN: 'abc', KEY: '-----BEGIN\n...\n-----END' }
 */
export function parseDotenv(text: string, file: string): Record<string, string> {
  const body = text.replace(/^\uFEFF/, '');
  const definedAt = checkDotenvLines(body, file);
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(parseEnv(body))) {
    if (value === undefined) continue;
    const where = definedAt.get(key);
    if (where?.quote === '"' && value.endsWith('\\')) {
      throw new ConfigError({
        file,
        problem: `line ${where.line}: the value of ${key} has \\" inside double quotes, which ends the value there`,
        fix: `put a value that holds double quotes in single quotes: ${key}='say "hi"'`,
      });
    }
    // defineProperty: a key such as __proto__ is an ordinary key here.
    Object.defineProperty(out, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

/**
 * The shape parseEnv assumes but does not check (it drops or merges lines it
 * cannot read): every line outside a quoted value is blank, a comment or
 * `KEY=value`, and every quote opened is closed. Returns where each key is
 * last defined and how its value is quoted.
 */
function checkDotenvLines(
  body: string,
  file: string,
): Map<string, { line: number; quote: string | undefined }> {
  const definedAt = new Map<string, { line: number; quote: string | undefined }>();
  const lines = body.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^(?:export\s+)?([A-Za-z_][\w.-]*)\s*=\s*(.*)$/.exec(line);
    if (!m) {
      throw new ConfigError({
        file,
        problem: `line ${i + 1} is not KEY=value`,
        fix: 'write one KEY=value per line (a key is letters, digits, _ . and -); comments start with #',
      });
    }
    const key = m[1]!;
    const rest = m[2]!;
    const quote = ['"', "'", '`'].includes(rest[0] ?? '') ? rest[0] : undefined;
    definedAt.set(key, { line: i + 1, quote });
    if (!quote || rest.indexOf(quote, 1) !== -1) continue;
    // A quoted value that goes on: it ends on the first line holding its quote.
    let end = i + 1;
    while (end < lines.length && !lines[end]!.includes(quote)) end++;
    if (end === lines.length) {
      throw new ConfigError({
        file,
        problem: `line ${i + 1}: the value of ${key} has no closing ${quote}`,
        fix: 'close the quote (a quoted value may span lines)',
      });
    }
    i = end;
  }
  return definedAt;
}
