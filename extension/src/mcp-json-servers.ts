import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { parseJsonc } from '../../mcp-server/proxy/config/jsonc.js';
import { SERVER_NAME } from '../../mcp-server/proxy/config/schema.js';
import type { LaunchCommand } from '../../mcp-server/wrap/embedded.js';
import { serverMaps, wrapConfigText } from '../../mcp-server/wrap/wrap.js';

// The servers of VS Code's own mcp.json files (each workspace folder's
// .vscode/mcp.json, and the user's mcp.json), offered to VS Code again as
// gated copies: "files (via hitloop)" starts exactly what Route would write
// into the file for "files" (hitloop's wrap, dry run), so the copy and a
// routed entry cannot drift apart. Entries that already go through hitloop
// are not copied: once Route has run, the file's own entry is the gated one
// and the copy would only duplicate its tools. No `vscode` import.

/** One mcp.json the provider reads. */
export interface McpJsonSource {
  file: string;
  /** Where it comes from, for labels and messages: a workspace folder's name, or `user`. */
  origin: string;
  /** The workspace folder `${workspaceFolder}` means and servers start in (absent: none open). */
  folder?: string;
}

/** A gated copy of one mcp.json server: what a McpStdioServerDefinition is made from. */
export interface GatedCopy {
  /** The server's name in the file. */
  server: string;
  file: string;
  origin: string;
  /** `files (via hitloop)`; unique among the copies returned together. */
  label: string;
  command: string;
  args: string[];
  cwd?: string;
  env: Record<string, string>;
}

/** What reading the files found: the copies, files that could not be read, servers left out and why. */
export interface GatedCopies {
  copies: GatedCopy[];
  /** One message per file that exists but does not parse (it is never written). */
  problems: string[];
  /** `name in FILE: why` for each server that gets no copy, besides routed ones. */
  skipped: string[];
  /** The servers that already go through hitloop, per file. */
  routed: Array<{ file: string; server: string }>;
}

/** What `${…}` variables mean when the copies are built. */
export interface VariableContext {
  userHome: string;
  env: Readonly<Record<string, string | undefined>>;
}

/** The suffix of a copy's label. */
export const GATED_SUFFIX = ' (via hitloop)';

/**
 * The user's mcp.json (VS Code 1.102+ keeps user MCP servers in the profile's
 * folder, next to settings.json), found from the extension's global storage,
 * which lives in that same folder: `<profile>/globalStorage/<extension id>`
 * → `<profile>/mcp.json`. Works wherever the extension host runs: desktop
 * (`~/.config/Code/User`), code-server (`<user-data-dir>/User`) and a remote
 * server (`~/.vscode-server/data/User`, the remote's own user settings).
 *
 * @example
 * userMcpJson('/home/me/.config/Code/User/globalStorage/hitloop.hitloop') // '/home/me/.config/Code/User/mcp.json'
 */
export function userMcpJson(globalStoragePath: string): string {
  return join(dirname(dirname(globalStoragePath)), 'mcp.json');
}

/**
 * Reads each mcp.json and builds a gated copy of every stdio, http and sse
 * server that does not go through hitloop yet, started by `launch` as
 * `… proxy --name NAME -- <the server's command>` (or `--upstream-url`). A
 * file that does not parse is reported in `problems` and left alone.
 *
 * @example
 * const { copies } = gatedCopies([{ file: '/p/.vscode/mcp.json', origin: 'p', folder: '/p' }], launch, { userHome: '/home/me', env: process.env });
 * // [{ server: 'files', label: 'files (via hitloop)', command: launch.command, args: [...launch.args, 'proxy', '--name', 'files', '--', 'npx', ...], ... }]
 */
export function gatedCopies(
  sources: readonly McpJsonSource[],
  launch: LaunchCommand,
  vars: VariableContext,
): GatedCopies {
  const out: GatedCopies = { copies: [], problems: [], skipped: [], routed: [] };
  for (const source of sources) {
    if (!existsSync(source.file)) continue;
    let text: string;
    try {
      text = readFileSync(source.file, 'utf8');
    } catch (err) {
      out.problems.push(`${source.file}: cannot read it (${(err as Error).message})`);
      continue;
    }
    if (text.trim() === '') continue;
    let wrapped: unknown;
    let changes: ReturnType<typeof wrapConfigText>['changes'];
    try {
      const root = parseJsonc(text, source.file).value;
      // A user mcp.json with nothing in it yet (`{}` or only "inputs").
      if (!isObject(root) || serverMaps(root).length === 0) continue;
      const result = wrapConfigText(text, source.file, {
        launcher: { command: launch.command, args: launch.args },
      });
      changes = result.changes;
      wrapped = parseJsonc(result.text, source.file).value;
    } catch (err) {
      out.problems.push(
        `${err instanceof Error ? err.message : String(err)}. Its servers are not offered through hitloop until it parses; hitloop does not change a file it cannot parse.`,
      );
      continue;
    }
    for (const { field, map } of serverMaps(wrapped as Record<string, unknown>)) {
      if (!isObject(map)) continue;
      for (const [name, entry] of Object.entries(map)) {
        const at = SERVER_NAME.test(name)
          ? `${field}.${name}`
          : `${field}[${JSON.stringify(name)}]`;
        const change = changes.find((c) => c.field === at);
        if (!change || !isObject(entry)) continue;
        const where = `${name} in ${source.file}`;
        if (change.change === 'unchanged' || change.change === 'relaunched') {
          out.routed.push({ file: source.file, server: name });
          continue;
        }
        if (change.change !== 'wrapped') {
          out.skipped.push(`${where}: ${change.detail}`);
          continue;
        }
        if ('envFile' in entry) {
          out.skipped.push(
            `${where}: uses "envFile", which only VS Code reads; route it to gate it`,
          );
          continue;
        }
        const resolved = resolveEntry(entry, source, vars);
        if ('unknown' in resolved) {
          out.skipped.push(
            `${where}: uses ${resolved.unknown}, which only VS Code can fill in; route it to gate it`,
          );
          continue;
        }
        out.copies.push({
          server: name,
          file: source.file,
          origin: source.origin,
          label: `${name}${GATED_SUFFIX}`,
          command: resolved.command,
          args: resolved.args,
          ...(resolved.cwd ? { cwd: resolved.cwd } : {}),
          env: { ...launch.env, ...resolved.env },
        });
      }
    }
  }
  // The same name in two files (a folder's and the user's): say whose.
  const count = new Map<string, number>();
  for (const c of out.copies) count.set(c.label, (count.get(c.label) ?? 0) + 1);
  for (const c of out.copies)
    if ((count.get(c.label) ?? 0) > 1) c.label = `${c.server} (${c.origin}, via hitloop)`;
  return out;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

type Resolved =
  | { command: string; args: string[]; env: Record<string, string>; cwd?: string }
  | { unknown: string };

/**
 * The wrapped entry with VS Code's variables filled in: a provider's
 * definitions are started as given, while VS Code expands `${…}` only in
 * its own mcp.json. `${input:…}` (asked for at start) and anything unknown
 * cannot be filled in here.
 */
function resolveEntry(
  entry: Record<string, unknown>,
  source: McpJsonSource,
  vars: VariableContext,
): Resolved {
  let unknown: string | undefined;
  const fill = (value: string): string =>
    value.replace(/\$\{([^}]*)\}/g, (whole, name: string) => {
      const known = variable(name, source, vars);
      if (known === undefined) unknown ??= whole;
      return known ?? whole;
    });
  const command = fill(String(entry.command));
  const args = (Array.isArray(entry.args) ? entry.args : []).map((a) => fill(String(a)));
  const env: Record<string, string> = {};
  if (isObject(entry.env)) {
    for (const [k, v] of Object.entries(entry.env)) {
      // VS Code drops a null (unsets the variable); a proxy cannot unset for its child.
      if (v === null) continue;
      env[k] = fill(String(v));
    }
  }
  const cwd = typeof entry.cwd === 'string' ? fill(entry.cwd) : source.folder;
  if (unknown) return { unknown };
  return { command, args, env, ...(cwd ? { cwd } : {}) };
}

function variable(name: string, source: McpJsonSource, vars: VariableContext): string | undefined {
  if (name === 'userHome') return vars.userHome;
  if (name === 'pathSeparator' || name === '/') return sep;
  if (name.startsWith('env:')) return vars.env[name.slice(4)] ?? '';
  if (!source.folder) return undefined;
  if (name === 'workspaceFolder') return source.folder;
  if (name === 'workspaceFolderBasename') return source.folder.split(sep).pop() ?? '';
  return undefined;
}

/**
 * The one-time notice: which servers are offered gated while their
 * originals stay callable, grouped by file. Empty when there are none.
 * `key` names the set, so the notice is shown once per set (a new server
 * in a file asks again).
 *
 * @example
 * ungatedNotice(copies) // { key: '/p/.vscode/mcp.json:files', files: ['/p/.vscode/mcp.json'], servers: ['files'] }
 */
export function ungatedNotice(copies: readonly GatedCopy[]): {
  key: string;
  files: string[];
  servers: string[];
} {
  const files = [...new Set(copies.map((c) => c.file))].sort();
  const servers = [...new Set(copies.map((c) => c.server))].sort();
  const key = copies
    .map((c) => `${c.file}:${c.server}`)
    .sort()
    .join('\n');
  return { key, files, servers };
}
