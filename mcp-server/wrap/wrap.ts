import { realpathSync } from 'node:fs';
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

/**
 * The launchers `hitloop wrap --launcher` offers. There is no `npx`: the name
 * `hitloop` is not ours on the npm registry, so `npx -y hitloop` fails today
 * (E404) and would run whatever someone publishes under that name tomorrow; a
 * version pin would not change who owns the name. Entries older versions
 * wrote that way are still recognised, so `--undo` restores them and a new
 * wrap moves them to the launcher given.
 */
export const LAUNCHER_KINDS = ['node', 'hitloop'] as const;
export type LauncherKind = (typeof LAUNCHER_KINDS)[number];

/**
 * The launcher of a kind. `node` (the default) pins this very installation:
 * the Node running the CLI and this CLI's main.js, both absolute and with
 * symlinks resolved (a global install's `bin/hitloop` link becomes the file
 * it points to), so the client needs no PATH lookup and no download; it
 * breaks when Node or hitloop moves, and wrapping again fixes it. `hitloop`
 * writes the bare command name, found on the client's PATH when it starts
 * the server.
 *
 * @example
 * launcherFor('node') // { command: '/usr/bin/node', args: ['/usr/lib/node_modules/hitloop/dist/mcp-server/cli/main.js'] }
 * launcherFor('hitloop') // { command: 'hitloop', args: [] }
 */
export function launcherFor(kind: LauncherKind): Launcher {
  switch (kind) {
    case 'node':
      return { command: realPath(process.execPath), args: [realPath(cliMainPath())] };
    case 'hitloop':
      return { command: 'hitloop', args: [] };
  }
}

/** This CLI's main.js, beside this file in dist/ (computed lazily: the extension bundles this module). */
function cliMainPath(): string {
  return fileURLToPath(new URL('../cli/main.js', import.meta.url));
}

function realPath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/**
 * True for a launcher that fetches hitloop from the npm registry
 * (`npx -y hitloop`, `npx hitloop@0.1.0`), as versions before 0.2 wrote.
 * Wrapping again replaces it; it is never written any more.
 *
 * @example
 * isRegistryLauncher({ command: 'npx', args: ['-y', 'hitloop'] }) // true
 */
export function isRegistryLauncher(launcher: Launcher): boolean {
  const base = basename(launcher.command.replace(/\\/g, '/')).toLowerCase();
  return (
    (base === 'npx' || base === 'npx.cmd') && launcher.args.some((a) => /^hitloop(@.+)?$/.test(a))
  );
}

/**
 * The words a wrapped entry starts with, up to `--` or the upstream flags:
 * the launcher, `proxy`, `--name NAME` and, when given, `--config FILE`.
 *
 * @example
 * proxyHead('memory', { launcher: launcherFor('hitloop') }) // ['proxy', '--name', 'memory']
 */
export function proxyHead(name: string, options: WrapOptions): string[] {
  return [
    ...options.launcher.args,
    'proxy',
    '--name',
    name,
    ...(options.configFile ? ['--config', options.configFile] : []),
  ];
}

/**
 * The entry's command and arguments with its launcher replaced by `launcher`
 * when it still fetches hitloop from the registry (see isRegistryLauncher);
 * undefined when there is nothing to replace.
 *
 * @example
 * relaunch({ command: 'npx', args: ['-y', 'hitloop', 'proxy', '--', 'srv'] }, launcherFor('hitloop'))
 * // { command: 'hitloop', args: ['proxy', '--', 'srv'] }
 */
export function relaunch(
  entry: Entry,
  launcher: Launcher,
): { command: string; args: string[]; from: Launcher } | undefined {
  const wrapped = parseWrapped(entry);
  if (!wrapped || !isRegistryLauncher(wrapped.launcher) || isRegistryLauncher(launcher))
    return undefined;
  const args = entry.args as string[];
  return {
    command: launcher.command,
    args: [...launcher.args, ...args.slice(wrapped.launcher.args.length)],
    from: wrapped.launcher,
  };
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
  /** `relaunched`: a wrapped entry whose registry launcher (`npx -y hitloop`) was replaced. */
  change: 'wrapped' | 'unwrapped' | 'relaunched' | 'unchanged' | 'skipped';
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
 * wrapConfigText('{"mcpServers": {"memory": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-memory"]}}}', 'x.json', { launcher: launcherFor('hitloop') }).text
 * // {"mcpServers": {"memory": {"command": "hitloop", "args": ["proxy", "--name", "memory", "--", "npx", "-y", ...]}}}
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
  name: string;
  field: string;
  /**
   * `gemini` for Gemini CLI's settings.json, where a bare `url` is SSE and
   * Streamable HTTP is `httpUrl`; everywhere else a bare `url` is Streamable HTTP.
   */
  dialect: Dialect;
}

type Dialect = 'gemini' | 'default';

/** Gemini CLI's `.gemini/settings.json`, or a file using its `httpUrl` key. */
function dialectOf(file: string, maps: Array<{ map: unknown }>): Dialect {
  const parts = file.replace(/\\/g, '/').split('/');
  if (parts.at(-1) === 'settings.json' && parts.at(-2) === '.gemini') return 'gemini';
  for (const { map } of maps) {
    if (map === null || typeof map !== 'object') continue;
    for (const entry of Object.values(map))
      if (entry !== null && typeof entry === 'object' && 'httpUrl' in entry) return 'gemini';
  }
  return 'default';
}

/** The JSON formats wrap understands, for error messages. */
export const SUPPORTED_FORMATS =
  'JSON with "servers" (VS Code .vscode/mcp.json) or "mcpServers" (Claude Desktop claude_desktop_config.json, Claude Code .mcp.json and ~/.claude.json, Cursor, Gemini CLI ~/.gemini/settings.json), or TOML with [mcp_servers.NAME] tables (Codex ~/.codex/config.toml)';

/**
 * The server maps of a parsed JSON config, with the field each is at:
 * top-level `servers` and `mcpServers`, and the per-project `mcpServers` of
 * Claude Code's `~/.claude.json` (`projects["/path"].mcpServers`).
 *
 * @example
 * serverMaps({ mcpServers: { a: {} }, projects: { '/p': { mcpServers: { b: {} } } } })
 * // [{ field: 'mcpServers', map: { a: {} } }, { field: 'projects["/p"].mcpServers', map: { b: {} } }]
 */
export function serverMaps(json: Record<string, unknown>): Array<{ field: string; map: unknown }> {
  const out: Array<{ field: string; map: unknown }> = [];
  for (const key of SERVER_KEYS) if (key in json) out.push({ field: key, map: json[key] });
  const projects = json.projects;
  if (projects !== null && typeof projects === 'object' && !Array.isArray(projects)) {
    for (const [path, project] of Object.entries(projects)) {
      if (project === null || typeof project !== 'object' || Array.isArray(project)) continue;
      if ('mcpServers' in project) {
        out.push({
          field: `projects[${JSON.stringify(path)}].mcpServers`,
          map: (project as Record<string, unknown>).mcpServers,
        });
      }
    }
  }
  return out;
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
      fix: `point wrap at the file that lists your MCP servers; supported: ${SUPPORTED_FORMATS}`,
    });
  }
  const json = root as Record<string, unknown>;
  const maps = serverMaps(json);
  if (maps.length === 0) {
    throw new ConfigError({
      file,
      problem:
        'no "servers" (VS Code mcp.json) or "mcpServers" (Claude Desktop, Cursor, Claude Code, Gemini CLI) key',
      fix: `point wrap at the file that lists your MCP servers; supported: ${SUPPORTED_FORMATS}`,
    });
  }
  const style = detectStyle(text);
  const dialect = dialectOf(file, maps);
  const edits: Array<{ start: number; end: number; text: string }> = [];
  const changes: ServerChange[] = [];
  let droppedComments = false;
  for (const { field: key, map } of maps) {
    if (map === null || typeof map !== 'object' || Array.isArray(map)) {
      throw new ConfigError({
        file,
        field: key,
        problem: 'expected an object mapping server names to servers',
        fix: `write "${key.replace(/^.*\./, '')}": { "NAME": { "command": "...", "args": [...] } }`,
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
      const outcome = transform(raw as Entry, { name, field, dialect });
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
  const moved = relaunch(entry, options.launcher);
  if (moved) {
    const out: Entry = {};
    for (const [k, v] of Object.entries(entry)) {
      if (k === 'command') {
        out.command = moved.command;
        out.args = moved.args;
      } else if (k !== 'args') out[k] = v;
    }
    return { entry: out, change: 'relaunched', detail: relaunchedDetail(moved.from) };
  }
  if (parseWrapped(entry)) return { change: 'unchanged', detail: 'already goes through hitloop' };
  const name = proxyName(ctx.name);
  const renamed = name === ctx.name ? '' : ` as "${name}"`;
  const head = proxyHead(name, options);
  const kind = entryKind(entry, ctx.dialect);
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
  // Gemini CLI writes Streamable HTTP as `httpUrl`.
  const urlKey = entry.url === undefined && entry.httpUrl !== undefined ? 'httpUrl' : 'url';
  const url = entry[urlKey];
  if (typeof url !== 'string' || url === '')
    return { change: 'skipped', detail: `not wrapped: "${urlKey}" is not a string` };
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
    url,
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
    else if (k === urlKey) {
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
    detail: `wrapped${renamed} (${kind}: ${url}${headerNote})`,
  };
}

/** The `--name` a server gets: its own name when it is a valid one. */
export function proxyName(name: string): string {
  return SERVER_NAME.test(name) ? name : sanitizeServerName(name);
}

/** What `hitloop wrap` prints for a relaunched entry. */
export function relaunchedDetail(from: Launcher): string {
  return `now started by this hitloop instead of "${[from.command, ...from.args].join(' ')}" (hitloop is not on the npm registry)`;
}

function unwrapEntry(entry: Entry, ctx: EntryContext): EntryOutcome {
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
      if ('type' in entry) out.url = up.url;
      else if (ctx.dialect === 'gemini') {
        // Gemini: a bare "url" is SSE, Streamable HTTP is "httpUrl".
        out[type === 'sse' ? 'url' : 'httpUrl'] = up.url;
      } else {
        // No `type` key: "url" alone means Streamable HTTP, so only SSE needs saying.
        if (type === 'sse') out.type = 'sse';
        out.url = up.url;
      }
    } else if (k === 'env') {
      if (Object.keys(headers).length) out.headers = headers;
      if (Object.keys(env).length) out.env = env;
    } else if (k !== 'args') out[k] = v;
  }
  if (Object.keys(headers).length && !('headers' in out)) out.headers = headers;
  return { entry: out, change: 'unwrapped', detail: `unwrapped (${type}: ${up.url})` };
}

function entryKind(entry: Entry, dialect: Dialect): 'stdio' | 'http' | 'sse' | undefined {
  const type = entry.type;
  if (type === 'stdio') return 'stdio';
  if (type === 'sse') return 'sse';
  if (type === 'http' || type === 'streamable-http' || type === 'streamableHttp') return 'http';
  if (type !== undefined) return undefined;
  if (entry.command !== undefined) return 'stdio';
  if (entry.url !== undefined) return dialect === 'gemini' ? 'sse' : 'http';
  if (entry.httpUrl !== undefined) return 'http';
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
 * parseWrapped({ command: 'hitloop', args: ['proxy', '--name', 'm', '--', 'srv'] })
 * // { launcher: { command: 'hitloop', args: [] }, name: 'm', upstream: { command: 'srv', args: [] } }
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
  // The CLI module by module (a checkout's dist/mcp-server/cli/main.js) or
  // the package's bundled bin (dist/cli/main.js), which is what an installed
  // hitloop writes as its own launcher.
  if (/[\\/](mcp-server|dist)[\\/]cli[\\/]main\.js$/.test(word)) return true;
  return word === realPath(cliMainPath());
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
