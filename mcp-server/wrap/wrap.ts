import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../../shared/errors.js';
import { parseJsonc } from '../proxy/config/jsonc.js';
import { SERVER_KEYS, sanitizeServerName } from '../proxy/config/load.js';
import { SERVER_NAME } from '../proxy/config/schema.js';

// `hitloop wrap` rewrites a client's MCP config so every server is started
// through `hitloop proxy`. Only the server entries it changes are rewritten;
// every other byte of the file (other keys, comments, formatting) stays as
// it was, which is what makes wrapping twice byte-identical and an undo of
// an untouched file exact.

/** How a wrapped entry starts hitloop: `command` and the arguments before `proxy`. */
export interface Launcher {
  command: string;
  args: string[];
}

/** The launchers `hitloop wrap --launcher` offers. */
export const LAUNCHER_KINDS = ['npx', 'node', 'hitloop'] as const;
export type LauncherKind = (typeof LAUNCHER_KINDS)[number];

/**
 * The launcher of a kind. `npx` (the default) works wherever Node is, with
 * nothing installed; `node` pins this very installation by absolute paths
 * (no download, no PATH lookup, but it breaks when Node or hitloop moves);
 * `hitloop` uses a global install found on PATH.
 *
 * @example
 * launcherFor('npx') // { command: 'npx', args: ['-y', 'hitloop'] }
 */
export function launcherFor(kind: LauncherKind): Launcher {
  switch (kind) {
    case 'npx':
      return { command: 'npx', args: ['-y', 'hitloop'] };
    case 'node':
      return {
        command: process.execPath,
        args: [fileURLToPath(new URL('../cli/main.js', import.meta.url))],
      };
    case 'hitloop':
      return { command: 'hitloop', args: [] };
  }
}

export interface WrapOptions {
  launcher: Launcher;
  /** Absolute path of a hitloop config passed to every proxy with `--config`. */
  configFile?: string;
}

/** What happened to one server. */
export interface ServerChange {
  /** Where the server is, as written: `mcpServers.fs`. */
  field: string;
  server: string;
  change: 'wrapped' | 'unwrapped' | 'unchanged' | 'skipped';
  /** One line for people, e.g. `wrapped (stdio: npx -y server-memory)`. */
  detail: string;
}

/** The result of rewriting a config's text. */
export interface RewriteResult {
  text: string;
  changed: boolean;
  changes: ServerChange[];
  /** True when comments inside rewritten entries were dropped. */
  droppedComments: boolean;
}

/** Environment variables that carry an HTTP upstream's headers (`Name: value`). */
export const HEADER_ENV_PREFIX = 'HITLOOP_HEADER_';

type Entry = Record<string, unknown>;

/**
 * Wraps every server in a config's text so it runs through `hitloop proxy`.
 * Already-wrapped servers are left alone.
 *
 * @example
 * wrapConfigText('{"mcpServers": {"memory": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-memory"]}}}', 'x.json', { launcher: launcherFor('npx') }).text
 * // {"mcpServers": {"memory": {"command": "npx", "args": ["-y", "hitloop", "proxy", "--name", "memory", "--", "npx", "-y", ...]}}}
 */
export function wrapConfigText(text: string, file: string, options: WrapOptions): RewriteResult {
  return rewrite(text, file, (entry, ctx) => wrapEntry(entry, ctx, options));
}

/**
 * Undoes wrapConfigText entry by entry: each wrapped server gets back its
 * command and arguments (or URL, type and headers).
 *
 * @example
 * unwrapConfigText(wrapped, 'x.json').text
 */
export function unwrapConfigText(text: string, file: string): RewriteResult {
  return rewrite(text, file, (entry, ctx) => unwrapEntry(entry, ctx));
}

interface EntryContext {
  key: (typeof SERVER_KEYS)[number];
  name: string;
  field: string;
}

type EntryOutcome = { entry?: Entry; change: ServerChange['change']; detail: string };

function rewrite(
  text: string,
  file: string,
  transform: (entry: Entry, ctx: EntryContext) => EntryOutcome,
): RewriteResult {
  const doc = parseJsonc(text, file);
  const root = doc.value;
  if (root === null || typeof root !== 'object' || Array.isArray(root)) {
    throw new ConfigError({
      file,
      problem: 'expected a JSON object',
      fix: 'point wrap at an mcp.json, claude_desktop_config.json or .mcp.json',
    });
  }
  const json = root as Record<string, unknown>;
  const maps = SERVER_KEYS.filter((k) => k in json);
  if (maps.length === 0) {
    throw new ConfigError({
      file,
      problem:
        'no "servers" (VS Code mcp.json) or "mcpServers" (Claude Desktop, Cursor, Claude Code) key',
      fix: 'point wrap at the file that lists your MCP servers',
    });
  }
  const style = detectStyle(text);
  const edits: Array<{ start: number; end: number; text: string }> = [];
  const changes: ServerChange[] = [];
  let droppedComments = false;
  for (const key of maps) {
    const map = json[key];
    if (map === null || typeof map !== 'object' || Array.isArray(map)) {
      throw new ConfigError({
        file,
        field: key,
        problem: 'expected an object mapping server names to servers',
        fix: `write "${key}": { "NAME": { "command": "...", "args": [...] } }`,
      });
    }
    for (const [name, raw] of Object.entries(map)) {
      const field = SERVER_NAME.test(name) ? `${key}.${name}` : `${key}[${JSON.stringify(name)}]`;
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
        throw new ConfigError({
          file,
          field,
          problem: 'expected an object describing the server',
          fix: 'give "command" and "args" for a local server, or "url" for a remote one',
        });
      }
      const outcome = transform(raw as Entry, { key, name, field });
      changes.push({ field, server: name, change: outcome.change, detail: outcome.detail });
      if (!outcome.entry) continue;
      const span = doc.spanOf(raw);
      if (!span) throw new Error(`internal: no source position for ${field}`);
      if (doc.hasCommentIn(span)) droppedComments = true;
      edits.push({ ...span, text: formatValue(outcome.entry, text, span.start, style) });
    }
  }
  let out = text;
  for (const edit of edits.sort((a, b) => b.start - a.start))
    out = out.slice(0, edit.start) + edit.text + out.slice(edit.end);
  return { text: out, changed: out !== text, changes, droppedComments };
}

// ---- one entry ---------------------------------------------------------------

function wrapEntry(entry: Entry, ctx: EntryContext, options: WrapOptions): EntryOutcome {
  const wrapped = parseWrapped(entry);
  if (wrapped) return { change: 'unchanged', detail: 'already goes through hitloop' };
  const name = SERVER_NAME.test(ctx.name) ? ctx.name : sanitizeServerName(ctx.name);
  const renamed = name === ctx.name ? '' : ` as "${name}"`;
  const head = [
    ...options.launcher.args,
    'proxy',
    '--name',
    name,
    ...(options.configFile ? ['--config', options.configFile] : []),
  ];
  const kind = entryKind(entry);
  if (kind === undefined) {
    return {
      change: 'skipped',
      detail: `not wrapped: ${typeof entry.type === 'string' ? `type "${entry.type}" is not supported` : 'it has neither "command" nor "url"'}`,
    };
  }
  if (kind === 'stdio') {
    if (typeof entry.command !== 'string' || entry.command === '')
      return { change: 'skipped', detail: 'not wrapped: "command" is not a string' };
    const args = Array.isArray(entry.args) ? entry.args : [];
    if (!args.every((a) => typeof a === 'string' || typeof a === 'number'))
      return {
        change: 'skipped',
        detail: 'not wrapped: "args" holds something other than strings',
      };
    const original = [entry.command, ...args.map(String)];
    const out: Entry = {};
    for (const [k, v] of Object.entries(entry)) {
      if (k === 'command') {
        out.command = options.launcher.command;
        out.args = [...head, '--', ...original];
      } else if (k !== 'args') {
        out[k] = v;
      }
    }
    return {
      entry: out,
      change: 'wrapped',
      detail: `wrapped${renamed} (stdio: ${original.join(' ')})`,
    };
  }
  if (typeof entry.url !== 'string' || entry.url === '')
    return { change: 'skipped', detail: 'not wrapped: "url" is not a string' };
  const headers = entry.headers;
  if (
    headers !== undefined &&
    (headers === null ||
      typeof headers !== 'object' ||
      Object.values(headers).some((v) => typeof v !== 'string'))
  ) {
    return { change: 'skipped', detail: 'not wrapped: "headers" is not an object of strings' };
  }
  const headerEntries = Object.entries((headers ?? {}) as Record<string, string>);
  const args = [
    ...head,
    '--upstream-url',
    entry.url,
    ...(kind === 'sse' ? ['--upstream-type', 'sse'] : []),
  ];
  const out: Entry = {};
  const addHeaderEnv = () => {
    if (headerEntries.length === 0) return;
    // Headers usually carry secrets; the environment keeps them out of the
    // process list, where command-line arguments are visible to other users.
    const env: Entry = {};
    if (entry.env && typeof entry.env === 'object') Object.assign(env, entry.env);
    let n = 1;
    for (const [k, v] of headerEntries) {
      while (`${HEADER_ENV_PREFIX}${n}` in env) n++;
      env[`${HEADER_ENV_PREFIX}${n}`] = `${k}: ${v}`;
    }
    out.env = env;
  };
  for (const [k, v] of Object.entries(entry)) {
    if (k === 'type') out.type = 'stdio';
    else if (k === 'url') {
      out.command = options.launcher.command;
      out.args = args;
    } else if (k === 'headers') addHeaderEnv();
    else if (k === 'env') {
      if (headerEntries.length === 0) out.env = v;
    } else if (k !== 'command' && k !== 'args') out[k] = v;
  }
  if (headerEntries.length > 0 && !('env' in out)) addHeaderEnv();
  const headerNote = headerEntries.length
    ? `, ${headerEntries.length} header(s) passed in env ${HEADER_ENV_PREFIX}n`
    : '';
  return {
    entry: out,
    change: 'wrapped',
    detail: `wrapped${renamed} (${kind}: ${entry.url}${headerNote})`,
  };
}

function unwrapEntry(entry: Entry, _ctx: EntryContext): EntryOutcome {
  const wrapped = parseWrapped(entry);
  if (!wrapped) return { change: 'unchanged', detail: 'not wrapped' };
  if (wrapped.upstream === undefined) {
    return {
      change: 'skipped',
      detail: 'runs hitloop proxy with its own config (no single upstream); left alone',
    };
  }
  const out: Entry = {};
  const up = wrapped.upstream;
  if ('command' in up) {
    for (const [k, v] of Object.entries(entry)) {
      if (k === 'command') {
        out.command = up.command;
        out.args = up.args;
      } else if (k !== 'args') out[k] = v;
    }
    return {
      entry: out,
      change: 'unwrapped',
      detail: `unwrapped (stdio: ${[up.command, ...up.args].join(' ')})`,
    };
  }
  // Remote: the header env variables become `headers` again.
  const env: Entry = {};
  const headers: Record<string, string> = {};
  if (entry.env && typeof entry.env === 'object') {
    const headerKeys = Object.keys(entry.env)
      .filter((k) => /^HITLOOP_HEADER_\d+$/.test(k))
      .sort(
        (a, b) =>
          Number(a.slice(HEADER_ENV_PREFIX.length)) - Number(b.slice(HEADER_ENV_PREFIX.length)),
      );
    for (const [k, v] of Object.entries(entry.env)) if (!headerKeys.includes(k)) env[k] = v;
    for (const k of headerKeys) {
      const line = String((entry.env as Entry)[k]);
      const colon = line.indexOf(':');
      if (colon > 0) headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
    }
  }
  for (const line of up.headers) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  const type = up.type === 'sse' ? 'sse' : 'http';
  for (const [k, v] of Object.entries(entry)) {
    if (k === 'type') out.type = type;
    else if (k === 'command') {
      // No `type` key: "url" alone means Streamable HTTP, so only SSE needs saying.
      if (!('type' in entry) && type === 'sse') out.type = 'sse';
      out.url = up.url;
    } else if (k === 'env') {
      if (Object.keys(headers).length) out.headers = headers;
      if (Object.keys(env).length) out.env = env;
    } else if (k !== 'args') out[k] = v;
  }
  if (Object.keys(headers).length && !('headers' in out)) out.headers = headers;
  return { entry: out, change: 'unwrapped', detail: `unwrapped (${type}: ${up.url})` };
}

function entryKind(entry: Entry): 'stdio' | 'http' | 'sse' | undefined {
  const type = entry.type;
  if (type === 'stdio') return 'stdio';
  if (type === 'sse') return 'sse';
  if (type === 'http' || type === 'streamable-http' || type === 'streamableHttp') return 'http';
  if (type !== undefined) return undefined;
  if (entry.command !== undefined) return 'stdio';
  if (entry.url !== undefined) return 'http';
  return undefined;
}

// ---- recognising a wrapped entry ---------------------------------------------

/** What a wrapped entry runs. */
export interface WrappedEntry {
  launcher: Launcher;
  name?: string;
  configFile?: string;
  /** The original server; undefined for `hitloop proxy --config FILE` without one. */
  upstream?:
    | { command: string; args: string[] }
    | { url: string; type: 'http' | 'sse'; headers: string[] };
}

/**
 * Recognises an entry that already starts `hitloop proxy`, in any launcher
 * form (`npx -y hitloop[@version] proxy`, `node …/mcp-server/cli/main.js proxy`,
 * `hitloop proxy`), and reads what it proxies.
 *
 * @example
 * parseWrapped({ command: 'npx', args: ['-y', 'hitloop', 'proxy', '--name', 'm', '--', 'srv'] })
 * // { launcher: { command: 'npx', args: ['-y', 'hitloop'] }, name: 'm', upstream: { command: 'srv', args: [] } }
 */
export function parseWrapped(entry: Entry): WrappedEntry | undefined {
  if (typeof entry.command !== 'string' || !Array.isArray(entry.args)) return undefined;
  const full = [entry.command, ...entry.args];
  if (!full.every((a) => typeof a === 'string')) return undefined;
  const words = full as string[];
  let at = -1;
  for (let i = 1; i < words.length; i++) {
    if (words[i] === 'proxy' && isHitloopProgram(words[i - 1]!)) {
      at = i;
      break;
    }
  }
  if (at === -1) return undefined;
  const launcher = { command: words[0]!, args: words.slice(1, at) };
  const result: WrappedEntry = { launcher };
  let url: string | undefined;
  let type: 'http' | 'sse' = 'http';
  const headers: string[] = [];
  for (let i = at + 1; i < words.length; i++) {
    const w = words[i]!;
    if (w === '--') {
      const rest = words.slice(i + 1);
      if (rest.length > 0) result.upstream = { command: rest[0]!, args: rest.slice(1) };
      return result;
    }
    const [flag, inline] =
      w.startsWith('--') && w.includes('=')
        ? [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)]
        : [w, undefined];
    const value = () => inline ?? words[++i] ?? '';
    if (flag === '--name' || flag === '-n') result.name = value();
    else if (flag === '--config' || flag === '-c') result.configFile = value();
    else if (flag === '--upstream-url') url = value();
    else if (flag === '--upstream-type') type = value() === 'sse' ? 'sse' : 'http';
    else if (flag === '--header') headers.push(value());
  }
  if (url !== undefined) result.upstream = { url, type, headers };
  return result;
}

function isHitloopProgram(word: string): boolean {
  if (/^hitloop(@.+)?$/.test(word)) return true;
  const base = basename(word.replace(/\\/g, '/')).toLowerCase();
  if (base === 'hitloop' || base === 'hitloop.cmd' || base === 'hitloop.exe') return true;
  return /[\\/]mcp-server[\\/]cli[\\/]main\.js$/.test(word);
}

// ---- formatting ------------------------------------------------------------

interface Style {
  indent: string;
  eol: string;
}

/** The file's own indentation unit and line ending. */
function detectStyle(text: string): Style {
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const m = /\n([ \t]+)\S/.exec(text);
  return { indent: m?.[1] ?? '  ', eol };
}

/** JSON for a value placed at `offset`, indented to match the line it starts on. */
function formatValue(value: unknown, text: string, offset: number, style: Style): string {
  const lineStart = text.lastIndexOf('\n', offset - 1) + 1;
  const base = /^[ \t]*/.exec(text.slice(lineStart, offset))?.[0] ?? '';
  return JSON.stringify(value, null, style.indent)
    .split('\n')
    .map((line, i) => (i === 0 ? line : base + line))
    .join(style.eol);
}
