import { readFileSync } from 'node:fs';
import { ConfigError, configErrorFromZod } from '../../../shared/errors.js';
import { type ConfigDocument, resolvePath, type ServerKey } from './document.js';
import { expandString, parseDotenv } from './expand.js';
import { checkHeaderValue, checkUrl, HEADER_NAME } from './http-checks.js';
import { REMOTE_TYPES, RemoteServerEntry, SERVER_NAME, StdioServerEntry } from './schema.js';
import { sanitizeServerName } from './server-names.js';
import type { ProxySettings, UpstreamSpec } from './types.js';

// The servers of a config file (`servers`, `mcpServers`): found, checked and
// resolved into what the proxy starts or connects to.

/** One server entry as the file has it, with the path a message names it by. */
export interface ServerSource {
  key: ServerKey;
  name: string;
  /** How the user wrote the path: `mcpServers.fs`. */
  field: string;
  raw: unknown;
}

/** The server entries under both keys; none at all is a problem when `required`. */
export function collectServers(doc: ConfigDocument, opts: { required: boolean }): ServerSource[] {
  const { json, file } = doc;
  const out: ServerSource[] = [];
  const seen = new Map<string, ServerKey>();
  let present = false;
  for (const key of Object.keys(json)) {
    if (key !== 'servers' && key !== 'mcpServers') continue;
    present = true;
    const map = json[key];
    if (map === null || typeof map !== 'object' || Array.isArray(map)) {
      throw new ConfigError({
        file,
        field: key,
        problem: `expected an object mapping server names to servers, got ${Array.isArray(map) ? 'a list' : JSON.stringify(map)}`,
        fix: `write "${key}": { "NAME": { "command": "...", "args": [...] } }`,
      });
    }
    for (const [name, raw] of Object.entries(map)) {
      const field = SERVER_NAME.test(name) ? `${key}.${name}` : `${key}[${JSON.stringify(name)}]`;
      const other = seen.get(name);
      if (other) {
        throw new ConfigError({
          file,
          field,
          problem: `server "${name}" is defined in both ${other} and ${key}`,
          fix: 'rename or remove one of them',
        });
      }
      seen.set(name, key);
      if (!SERVER_NAME.test(name)) {
        throw new ConfigError({
          file,
          field,
          problem: `server name ${JSON.stringify(name)} has characters other than letters, digits, _ and -`,
          fix: `rename it, e.g. "${sanitizeServerName(name)}" (names become tool prefixes such as ${sanitizeServerName(name)}__read_file)`,
        });
      }
      out.push({ key, name, field, raw });
    }
  }
  if (opts.required && out.length === 0) {
    const mcp = json.mcp;
    if (!present && mcp !== null && typeof mcp === 'object' && 'servers' in mcp) {
      throw new ConfigError({
        file,
        field: 'mcp.servers',
        problem: 'this looks like VS Code settings.json; hitloop reads the servers of an mcp.json',
        fix: 'move the "servers" object into .vscode/mcp.json (or a file of its own) and point hitloop at that',
      });
    }
    throw new ConfigError({
      file,
      problem: present
        ? 'no MCP servers are listed'
        : 'no MCP servers: the file has neither "servers" (VS Code mcp.json) nor "mcpServers" (Claude Desktop, Cursor, Claude Code)',
      fix: 'add one, e.g. "mcpServers": { "memory": { "command": "npx", "args": ["-y", "@modelcontextprotocol/server-memory"] } }',
    });
  }
  return out;
}

/** A server entry as the proxy runs it (variables expanded, paths resolved); undefined when disabled. */
export function resolveServer(
  source: ServerSource,
  doc: ConfigDocument,
  trustedByPolicy: ReadonlySet<string>,
): UpstreamSpec | undefined {
  const { field, name, raw } = source;
  const { file } = doc;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError({
      file,
      field,
      problem: `expected an object describing the server, got ${Array.isArray(raw) ? 'a list' : JSON.stringify(raw)}`,
      fix: 'give "command" (and "args") for a local server, or "url" for a remote one',
    });
  }
  const entry = raw as Record<string, unknown>;
  if (entry.disabled === true) return undefined;
  const kind = serverKind(entry, field, file);
  const expand = (value: string, at: string) => expandString(value, at, doc.expand);

  if (kind === 'stdio') {
    const parsed = StdioServerEntry.safeParse(entry);
    if (!parsed.success) throw configErrorFromZod(parsed.error, file, field);
    const e = parsed.data;
    const env: Record<string, string> = {};
    if (e.envFile !== undefined) {
      const envFile = resolvePath(expand(e.envFile, `${field}.envFile`), doc);
      let text: string;
      try {
        text = readFileSync(envFile, 'utf8');
      } catch (err) {
        throw new ConfigError({
          file,
          field: `${field}.envFile`,
          problem: `cannot read ${envFile} (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
          fix: 'check the path; relative paths start at the folder of the config file',
        });
      }
      Object.assign(env, parseDotenv(text, envFile));
    }
    for (const [key, value] of Object.entries(e.env ?? {})) {
      if (value === null) continue;
      env[key] = typeof value === 'string' ? expand(value, `${field}.env.${key}`) : String(value);
    }
    const spec: UpstreamSpec = {
      name,
      type: 'stdio',
      command: expand(e.command, `${field}.command`),
      args: (e.args ?? []).map((a, i) =>
        typeof a === 'string' ? expand(a, `${field}.args[${i}]`) : String(a),
      ),
      env,
      trusted: e.hitloop?.trusted === true || trustedByPolicy.has(name),
    };
    if (e.cwd !== undefined) spec.cwd = resolvePath(expand(e.cwd, `${field}.cwd`), doc);
    return spec;
  }

  const parsed = RemoteServerEntry.safeParse(entry);
  if (!parsed.success) throw configErrorFromZod(parsed.error, file, field);
  const e = parsed.data;
  const url = expand(e.url, `${field}.url`);
  checkUrl(url, file, `${field}.url`);
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(e.headers ?? {})) {
    const at = `${field}.headers.${key}`;
    if (!HEADER_NAME.test(key)) {
      throw new ConfigError({
        file,
        field: at,
        problem: `"${key}" is not a valid HTTP header name`,
        fix: 'header names are letters, digits and - (e.g. "Authorization", "X-Api-Key")',
      });
    }
    const expanded = expand(value, at);
    checkHeaderValue(expanded, file, at);
    headers[key] = expanded;
  }
  return {
    name,
    type: kind,
    url,
    headers,
    trusted: e.hitloop?.trusted === true || trustedByPolicy.has(name),
  };
}

function serverKind(
  entry: Record<string, unknown>,
  field: string,
  file: string,
): 'stdio' | 'http' | 'sse' {
  const type = entry.type;
  if (type !== undefined) {
    if (type === 'stdio') return 'stdio';
    if (type === 'sse') return 'sse';
    if ((REMOTE_TYPES as readonly unknown[]).includes(type)) return 'http';
    throw new ConfigError({
      file,
      field: `${field}.type`,
      problem: `unknown server type ${JSON.stringify(type)}`,
      fix: 'use one of: "stdio", "http", "sse" ("streamable-http" also means "http")',
    });
  }
  const hasCommand = entry.command !== undefined;
  const hasUrl = entry.url !== undefined;
  if (hasCommand && hasUrl) {
    throw new ConfigError({
      file,
      field,
      problem:
        'has both "command" and "url", so it is unclear whether to start it or connect to it',
      fix: 'remove one, or add "type": "stdio" / "http" / "sse"',
    });
  }
  if (hasCommand) return 'stdio';
  if (hasUrl) return 'http';
  throw new ConfigError({
    file,
    field,
    problem: 'has neither "command" (a local server) nor "url" (a remote server)',
    fix: 'add "command": "npx", "args": ["-y", "PACKAGE"] for a local server, or "url": "https://..." for a remote one',
  });
}

/** Server names that would make prefixed tool names ambiguous are refused. */
export function checkNamesAgainstSeparator(
  proxy: ProxySettings,
  names: readonly string[],
  fieldOf: (name: string) => string | undefined,
  file: string | undefined,
): void {
  // Only prefixed names can be ambiguous: with separator "__", server "a__b"
  // and tool "c" would read like server "a" and tool "b__c".
  if (!proxy.prefixNames) return;
  for (const name of names) {
    if (!name.includes(proxy.separator)) continue;
    throw new ConfigError({
      file,
      field: fieldOf(name),
      problem: `server name "${name}" contains the prefix separator "${proxy.separator}", which makes prefixed tool names ambiguous`,
      fix: `rename it (e.g. "${name.split(proxy.separator).join('-')}") or choose another "proxy.separator"`,
    });
  }
}
