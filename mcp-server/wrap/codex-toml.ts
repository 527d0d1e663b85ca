import { parse, TomlError } from 'smol-toml';
import { ConfigError } from '../../shared/errors.js';
import { SERVER_NAME } from '../proxy/config/schema.js';
import { scanToml, type TomlKeyval, tomlString, tomlStringArray } from './toml-text.js';
import {
  parseWrapped,
  proxyHead,
  proxyName,
  type RewriteResult,
  relaunch,
  relaunchedDetail,
  type ServerChange,
  SUPPORTED_FORMATS,
  type WrapOptions,
} from './wrap.js';

// `hitloop wrap` for Codex's `~/.codex/config.toml` (and a project's
// `.codex/config.toml`): `[mcp_servers.NAME]` tables. smol-toml decides what
// each server is; the text is then edited in place, value by value, so that
// comments, key order and quoting everywhere else stay exactly as written
// and `--undo` can hand back the original bytes.
//
// What a wrapped stdio server looks like:
//
//   [mcp_servers.memory]
//   command = "/usr/bin/node"
//   args = ["/usr/lib/node_modules/hitloop/dist/mcp-server/cli/main.js", "proxy", "--name", "memory", "--", "npx", "-y", "@modelcontextprotocol/server-memory"]
//   env_vars = ["HITLOOP_HOME"]
//
// `env`, `env_vars`, `cwd` and the timeouts stay Codex's: it applies them to
// the process it starts (the proxy), which passes them on to the server.
// Codex gives a server only a short list of variables (HOME, PATH, ...) plus
// those named in `env_vars`, so HITLOOP_HOME is added there: the proxy then
// sees the same HITLOOP_HOME as under any other client (the one of Codex's
// environment, whatever it is when Codex starts), and the approvals it opens
// are where `hitloop approvals` and the VS Code sidebar look.

/** The variable every wrapped Codex server is given through `env_vars`. */
export const CODEX_PASSED_VARIABLE = 'HITLOOP_HOME';

/** Keys of a remote Codex server whose meaning a proxy cannot carry. */
const REMOTE_ONLY_KEYS = [
  'bearer_token_env_var',
  'bearer_token',
  'http_headers',
  'env_http_headers',
  'http_headers_helper',
  'oauth',
  'oauth_resource',
  'scopes',
];

type Table = Record<string, unknown>;

interface Edit {
  start: number;
  end: number;
  text: string;
}

/**
 * Wraps every server of a Codex `config.toml` so it runs through `hitloop
 * proxy`, editing only the values it changes.
 *
 * @example
 * wrapTomlText('[mcp_servers.memory]\ncommand = "npx"\nargs = ["-y", "@modelcontextprotocol/server-memory"]\n', 'config.toml', { launcher: { command: 'hitloop', args: [] } }).text
 * // '[mcp_servers.memory]\ncommand = "hitloop"\nargs = ["proxy", "--name", "memory", "--", "npx", "-y", ...]\nenv_vars = ["HITLOOP_HOME"]\n'
 */
export function wrapTomlText(text: string, file: string, options: WrapOptions): RewriteResult {
  return rewriteToml(text, file, (server) => wrapServer(server, options));
}

/**
 * Undoes wrapTomlText server by server: each wrapped server gets back its
 * `command` and `args` (or `url`), and HITLOOP_HOME leaves `env_vars`.
 *
 * @example
 * unwrapTomlText(wrapped, 'config.toml').text
 */
export function unwrapTomlText(text: string, file: string): RewriteResult {
  return rewriteToml(text, file, unwrapServer);
}

/**
 * The launcher and `--config` of the first wrapped server, to replay a wrap
 * when undoing it; undefined when none is wrapped.
 *
 * @example
 * tomlWrapOptions(wrapped, 'config.toml') // { launcher: { command: '/usr/bin/node', args: ['/…/main.js'] } }
 */
export function tomlWrapOptions(text: string, file: string): WrapOptions | undefined {
  const servers = parseToml(text, file).mcp_servers;
  if (!isTable(servers)) return undefined;
  for (const entry of Object.values(servers)) {
    if (!isTable(entry)) continue;
    const wrapped = parseWrapped(entry);
    if (wrapped?.upstream) {
      return {
        launcher: wrapped.launcher,
        ...(wrapped.configFile !== undefined ? { configFile: wrapped.configFile } : {}),
      };
    }
  }
  return undefined;
}

/**
 * Parses TOML, turning a syntax error into a ConfigError with its line and column.
 *
 * @example
 * parseToml('[mcp_servers.a]\ncommand = \n', 'config.toml') // throws: config.toml: not valid TOML at line 2, column 11: invalid value
 */
export function parseToml(text: string, file: string): Table {
  try {
    return parse(text) as Table;
  } catch (err) {
    if (err instanceof TomlError) {
      const what = err.message.split('\n')[0]!.replace(/^Invalid TOML document: /, '');
      throw new ConfigError({
        file,
        problem: `not valid TOML at line ${err.line}, column ${err.column}: ${what}`,
        fix: 'correct the file (Codex would not start with it either)',
      });
    }
    throw err;
  }
}

// ---- the document -------------------------------------------------------------

interface Server {
  name: string;
  field: string;
  entry: Table;
  /** This server's own keys (`command`, `args`, ...) as written. */
  keys: Map<string, TomlKeyval>;
  text: string;
  eol: string;
}

type Outcome = { edits: Edit[]; change: ServerChange['change']; detail: string; dropped?: boolean };

function rewriteToml(
  text: string,
  file: string,
  transform: (server: Server) => Outcome,
): RewriteResult {
  const doc = parseToml(text, file);
  const servers = doc.mcp_servers;
  if (servers === undefined) {
    throw new ConfigError({
      file,
      problem: 'no [mcp_servers] table (the servers of Codex config.toml)',
      fix: `point wrap at the file that lists your MCP servers; supported: ${SUPPORTED_FORMATS}`,
    });
  }
  if (!isTable(servers)) {
    throw new ConfigError({
      file,
      field: 'mcp_servers',
      problem: 'expected a table of servers',
      fix: 'write one [mcp_servers.NAME] table per server, with command and args (or url)',
    });
  }
  let keyvals: TomlKeyval[];
  try {
    keyvals = scanToml(text);
  } catch (err) {
    // smol-toml accepted the text, so this is a gap in the scanner, not the user's mistake.
    throw new ConfigError({
      file,
      problem: `hitloop could not locate the servers in the text (${(err as Error).message})`,
      fix: 'wrap the servers by hand (see docs/proxy-config.md), and please report this file layout',
    });
  }
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const edits: Edit[] = [];
  const changes: ServerChange[] = [];
  let droppedComments = false;
  for (const [name, entry] of Object.entries(servers)) {
    const field = `mcp_servers.${SERVER_NAME.test(name) ? name : JSON.stringify(name)}`;
    if (!isTable(entry)) {
      throw new ConfigError({
        file,
        field,
        problem: 'expected a table describing the server',
        fix: `write [${field}] with command = "..." and args = [...], or url = "..."`,
      });
    }
    const keys = new Map<string, TomlKeyval>();
    for (const kv of keyvals) {
      if (kv.path.length === 3 && kv.path[0] === 'mcp_servers' && kv.path[1] === name)
        keys.set(kv.path[2]!, kv);
    }
    const outcome = transform({ name, field, entry, keys, text, eol });
    changes.push({ field, server: name, change: outcome.change, detail: outcome.detail });
    edits.push(...outcome.edits);
    if (outcome.dropped) droppedComments = true;
  }
  const out = applyEdits(text, edits);
  return { text: out, changed: out !== text, changes, droppedComments };
}

// ---- one server ----------------------------------------------------------------

function wrapServer(server: Server, options: WrapOptions): Outcome {
  const { entry, keys } = server;
  const moved = relaunch(entry, options.launcher);
  if (moved) {
    const command = keys.get('command');
    const args = keys.get('args');
    if (!command || !args) return locateFailure();
    return {
      edits: [
        replaceValue(command, tomlString(moved.command)),
        replaceValue(args, tomlStringArray(moved.args)),
      ],
      change: 'relaunched',
      detail: relaunchedDetail(moved.from),
      dropped: args.commentInValue,
    };
  }
  if (parseWrapped(entry)) {
    return { edits: [], change: 'unchanged', detail: 'already goes through hitloop' };
  }
  const name = proxyName(server.name);
  const renamed = name === server.name ? '' : ` as "${name}"`;
  const head = proxyHead(name, options);
  if (typeof entry.command === 'string') {
    if (entry.command === '')
      return { edits: [], change: 'skipped', detail: 'not wrapped: "command" is empty' };
    const args = entry.args === undefined ? [] : entry.args;
    if (!Array.isArray(args) || !args.every((a) => typeof a === 'string')) {
      return {
        edits: [],
        change: 'skipped',
        detail: 'not wrapped: "args" holds something other than strings',
      };
    }
    const command = keys.get('command');
    const argsKey = keys.get('args');
    if (!command || (entry.args !== undefined && !argsKey)) return locateFailure();
    const newArgs = tomlStringArray([...head, '--', entry.command, ...args]);
    const edits = [replaceValue(command, tomlString(options.launcher.command))];
    const after: Array<[string, string]> = [];
    if (argsKey) edits.push(replaceValue(argsKey, newArgs));
    else after.push(['args', newArgs]);
    const passed = passVariable(server, after);
    if (passed === undefined) return locateFailure();
    edits.push(...passed);
    if (after.length) edits.push(insertAfter(server, argsKey ?? command, after));
    return {
      edits,
      change: 'wrapped',
      detail: `wrapped${renamed} (stdio: ${[entry.command, ...args].join(' ')})`,
      dropped: argsKey?.commentInValue,
    };
  }
  if (typeof entry.url === 'string') {
    const blocking = REMOTE_ONLY_KEYS.filter((k) => k in entry);
    if (blocking.length > 0) {
      // Codex refuses these keys next to `command`, and the proxy has no way
      // to read a token from a variable Codex names or to log in with OAuth.
      return {
        edits: [],
        change: 'skipped',
        detail: `not wrapped: ${blocking.join(', ')} cannot be carried over to a proxy (Codex does that authentication itself); left as it is`,
      };
    }
    const url = keys.get('url');
    if (!url) return locateFailure();
    const prefix = server.text.slice(url.keyStart, url.lastKeyStart);
    const edits: Edit[] = [
      {
        start: url.keyStart,
        end: url.valueEnd,
        text: `${prefix}command = ${tomlString(options.launcher.command)}`,
      },
    ];
    const after: Array<[string, string]> = [
      ['args', tomlStringArray([...head, '--upstream-url', entry.url])],
    ];
    // A remote server cannot have env_vars (Codex refuses them next to url), so there is none to extend.
    after.push(['env_vars', tomlStringArray([CODEX_PASSED_VARIABLE])]);
    edits.push(insertAfter(server, url, after));
    return { edits, change: 'wrapped', detail: `wrapped${renamed} (http: ${entry.url})` };
  }
  return {
    edits: [],
    change: 'skipped',
    detail: 'not wrapped: it has neither "command" nor "url"',
  };
}

function unwrapServer(server: Server): Outcome {
  const { entry, keys } = server;
  const wrapped = parseWrapped(entry);
  if (!wrapped) return { edits: [], change: 'unchanged', detail: 'not wrapped' };
  if (wrapped.upstream === undefined) {
    return {
      edits: [],
      change: 'skipped',
      detail: 'runs hitloop proxy with its own config (no single upstream); left alone',
    };
  }
  const command = keys.get('command');
  const args = keys.get('args');
  if (!command || !args) return locateFailure();
  const edits: Edit[] = [];
  const up = wrapped.upstream;
  let detail: string;
  if ('command' in up) {
    edits.push(replaceValue(command, tomlString(up.command)));
    // Codex's default for a missing `args` is none, which is what wrap found when it added one.
    if (up.args.length === 0) edits.push(removeKeyval(server.text, args));
    else edits.push(replaceValue(args, tomlStringArray(up.args)));
    detail = `unwrapped (stdio: ${[up.command, ...up.args].join(' ')})`;
  } else {
    const prefix = server.text.slice(command.keyStart, command.lastKeyStart);
    edits.push({
      start: command.keyStart,
      end: command.valueEnd,
      text: `${prefix}url = ${tomlString(up.url)}`,
    });
    edits.push(removeKeyval(server.text, args));
    detail = `unwrapped (http: ${up.url})`;
  }
  const envVars = keys.get('env_vars');
  if (
    envVars?.elements &&
    Array.isArray(entry.env_vars) &&
    entry.env_vars.includes(CODEX_PASSED_VARIABLE)
  ) {
    // Gone entirely when it held only HITLOOP_HOME: a remote server may not keep even an empty env_vars.
    if (entry.env_vars.length === 1) edits.push(removeKeyval(server.text, envVars));
    else edits.push(removeElement(envVars, entry.env_vars.indexOf(CODEX_PASSED_VARIABLE)));
  }
  return { edits, change: 'unwrapped', detail };
}

/** Adds HITLOOP_HOME to `env_vars`: in place when the key exists, else as a new key (pushed to `after`). */
function passVariable(server: Server, after: Array<[string, string]>): Edit[] | undefined {
  const current = server.entry.env_vars;
  if (current === undefined) {
    after.push(['env_vars', tomlStringArray([CODEX_PASSED_VARIABLE])]);
    return [];
  }
  if (!Array.isArray(current) || current.includes(CODEX_PASSED_VARIABLE)) return [];
  const kv = server.keys.get('env_vars');
  if (!kv?.elements) return undefined;
  const last = kv.elements.at(-1);
  if (!last) return [replaceValue(kv, tomlStringArray([CODEX_PASSED_VARIABLE]))];
  return [{ start: last.end, end: last.end, text: `, ${tomlString(CODEX_PASSED_VARIABLE)}` }];
}

function locateFailure(): Outcome {
  return {
    edits: [],
    change: 'skipped',
    detail: 'not changed: hitloop could not find its keys in the text (please report this layout)',
  };
}

// ---- text edits -----------------------------------------------------------------

function replaceValue(kv: TomlKeyval, text: string): Edit {
  return { start: kv.valueStart, end: kv.valueEnd, text };
}

/** New keys right after `anchor`: on the following lines, or inside its inline table. */
function insertAfter(server: Server, anchor: TomlKeyval, keys: Array<[string, string]>): Edit {
  const { text, eol } = server;
  // The same dotted prefix as the anchor (`fs.` in `fs.command = ...` under [mcp_servers]).
  const prefix = text.slice(anchor.keyStart, anchor.lastKeyStart);
  if (anchor.inline) {
    return {
      start: anchor.valueEnd,
      end: anchor.valueEnd,
      text: keys.map(([k, v]) => `, ${prefix}${k} = ${v}`).join(''),
    };
  }
  const lineStart = text.lastIndexOf('\n', anchor.keyStart - 1) + 1;
  const indent = /^[ \t]*/.exec(text.slice(lineStart, anchor.keyStart))![0];
  const lines = keys.map(([k, v]) => `${indent}${prefix}${k} = ${v}`);
  const nl = text.indexOf('\n', anchor.valueEnd);
  if (nl === -1) return { start: text.length, end: text.length, text: eol + lines.join(eol) };
  return { start: nl + 1, end: nl + 1, text: lines.map((l) => l + eol).join('') };
}

/** Removes a key/value: its whole line when it is alone on it, else (inline) it and one comma. */
function removeKeyval(text: string, kv: TomlKeyval): Edit {
  if (!kv.inline) {
    const lineStart = text.lastIndexOf('\n', kv.keyStart - 1) + 1;
    const nl = text.indexOf('\n', kv.valueEnd);
    const lineEnd = nl === -1 ? text.length : nl + 1;
    if (
      /^[ \t]*$/.test(text.slice(lineStart, kv.keyStart)) &&
      /^[ \t]*(#.*)?\r?\n?$/.test(text.slice(kv.valueEnd, lineEnd))
    ) {
      return { start: lineStart, end: lineEnd, text: '' };
    }
    return { start: kv.keyStart, end: kv.valueEnd, text: '' };
  }
  // With the comma before it, so that two keys removed from one table never
  // claim the same comma; the first key of a table takes the comma after it.
  const before = /,[ \t]*$/.exec(text.slice(0, kv.keyStart));
  if (before) return { start: before.index, end: kv.valueEnd, text: '' };
  const following = /^[ \t]*,[ \t]*/.exec(text.slice(kv.valueEnd));
  return { start: kv.keyStart, end: kv.valueEnd + (following?.[0].length ?? 0), text: '' };
}

/** Removes element `i` of an array value, with the comma that separated it. */
function removeElement(kv: TomlKeyval, i: number): Edit {
  const elements = kv.elements!;
  const element = elements[i]!;
  if (i === elements.length - 1) {
    const previous = elements[i - 1];
    return { start: previous ? previous.end : element.start, end: element.end, text: '' };
  }
  return { start: element.start, end: elements[i + 1]!.start, text: '' };
}

function applyEdits(text: string, edits: Edit[]): string {
  let out = text;
  let limit = Number.POSITIVE_INFINITY;
  for (const edit of [...edits].sort((a, b) => b.start - a.start || b.end - a.end)) {
    if (edit.end > limit) throw new Error('internal: overlapping TOML edits');
    out = out.slice(0, edit.start) + edit.text + out.slice(edit.end);
    limit = edit.start;
  }
  return out;
}

function isTable(value: unknown): value is Table {
  return (
    value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Date)
  );
}
