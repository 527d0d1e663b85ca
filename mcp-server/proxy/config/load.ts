import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, extname, join, resolve } from 'node:path';
import type { z } from 'zod';
import { ConfigError, configErrorFromZod } from '../../../shared/errors.js';
import { hitloopHome } from '../../../shared/hub/discovery.js';
import { createPolicy, PolicyConfig } from '../../../shared/policies/config.js';
import type { HITLPolicy } from '../../../shared/policies/policy.js';
import { type ExpandContext, expandString, parseDotenv } from './expand.js';
import { parseJsonc } from './jsonc.js';
import {
  ApprovalConfig,
  HITLOOP_SECTIONS,
  ProxyConfig,
  REMOTE_TYPES,
  RemoteServerEntry,
  SERVER_NAME,
  StdioServerEntry,
  TelemetryConfig,
} from './schema.js';
import type {
  ApprovalSettings,
  ProxySettings,
  ResolvedProxyConfig,
  TelemetrySettings,
  UpstreamSpec,
} from './types.js';

/** Where loading reads the environment from; injectable for tests. */
export interface LoadOptions {
  /** Environment for `${env:...}`, HITLOOP_HOME and HITLOOP_HEADER_*; default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
  /** `${userHome}` and `~`; default os.homedir(). */
  homeDir?: string;
  /** Base for relative paths given on the command line; default process.cwd(). */
  cwd?: string;
  /** Non-fatal notes (a disabled server skipped, ...); default: printed to stderr. */
  onWarning?: (message: string) => void;
}

/** The two keys that hold servers, in the shapes users already have. */
export const SERVER_KEYS = ['servers', 'mcpServers'] as const;
export type ServerKey = (typeof SERVER_KEYS)[number];

const DEFAULT_POLICY = { type: 'rules', default: 'ask' } as const;

/**
 * hitloop's home folder: `$HITLOOP_HOME`, else `~/.hitloop`. Telemetry,
 * approval-hub discovery files and the store live here.
 *
 * @example
 * defaultHitloopHome() // '/home/me/.hitloop'
 */
export function defaultHitloopHome(
  env: Readonly<Record<string, string | undefined>> = process.env,
  homeDir: string = homedir(),
): string {
  return hitloopHome(env, homeDir);
}

/**
 * Reads a config file into what the proxy runs: VS Code's mcp.json
 * (`servers`), Claude Desktop / Cursor / Claude Code (`mcpServers`) or both,
 * with hitloop's `policy`, `approval`, `telemetry` and `proxy` sections.
 * Comments and trailing commas are allowed; `${env:VAR}`, `${VAR}`,
 * `${VAR:-default}`, `${workspaceFolder}` and `${userHome}` are expanded in
 * server entries and `telemetry.db`. Every problem is a ConfigError naming
 * the file and the field.
 *
 * @example
 * const config = loadProxyConfig('.vscode/mcp.json');
 * config.servers.map((s) => s.name) // ['github', 'filesystem']
 */
export function loadProxyConfig(file: string, options: LoadOptions = {}): ResolvedProxyConfig {
  const doc = readConfigDocument(file, options);
  const servers = collectServers(doc, { required: true });
  const sections = resolveSections(doc);
  const declared = new Set(servers.map((s) => s.name));
  sections.trustedServers.forEach((name, i) => {
    if (!declared.has(name)) {
      throw new ConfigError({
        file,
        field: `policy.trustedServers[${i}]`,
        problem: `no server named "${name}" in this file`,
        fix: `use one of: ${[...declared].map((n) => JSON.stringify(n)).join(', ')}`,
      });
    }
  });
  const trusted = new Set(sections.trustedServers);
  const resolved: UpstreamSpec[] = [];
  for (const s of servers) {
    const spec = resolveServer(s, doc, trusted);
    if (spec) resolved.push(spec);
    else doc.warn(`${s.field}: disabled, skipped`);
  }
  if (resolved.length === 0) {
    throw new ConfigError({
      file,
      problem: `all ${servers.length} server(s) are disabled`,
      fix: 'remove "disabled": true from at least one server',
    });
  }
  const proxy = finishProxySettings(sections.proxy, resolved.length > 1);
  checkNamesAgainstSeparator(
    proxy,
    resolved.map((s) => s.name),
    (name) => servers.find((s) => s.name === name)?.field,
    file,
  );
  return {
    source: file,
    servers: resolved,
    policy: sections.policy,
    approval: sections.approval,
    telemetry: sections.telemetry,
    proxy,
    configFiles: [doc.path],
  };
}

/** One upstream server given on the command line (`hitloop proxy -- CMD ARGS` or `--upstream-url`). */
export interface CommandUpstream {
  /** The server's command (stdio); everything after `--`. */
  command?: string;
  args?: string[];
  /** Or a remote server. */
  url?: string;
  /** Transport of `url`; default "http" (Streamable HTTP). */
  type?: 'http' | 'sse';
  /** `--header "Name: value"` values, for `url`. */
  headers?: string[];
  /** Server name; default derived from the command or the URL. */
  name?: string;
  /** Trust the server's tool annotations for risk. */
  trusted?: boolean;
  /** A hitloop config for policy, approval, telemetry and proxy settings (its servers are ignored). */
  configFile?: string;
  /** A policy file (`{"policy": ...}` or the policy itself); wins over configFile's policy. */
  policyFile?: string;
}

/**
 * The config for `hitloop proxy [options] -- COMMAND ARGS`: one upstream, no
 * name prefixes (unless the config file asks), settings from `configFile`
 * or the defaults. For a remote upstream, headers come from `headers` and
 * from environment variables `HITLOOP_HEADER_<n>` ("Name: value"), which is
 * how `hitloop wrap` passes secrets without putting them on a command line.
 *
 * @example
 * configFromCommand({ command: 'npx', args: ['-y', '@modelcontextprotocol/server-memory'] })
 *   .servers[0].name // 'server-memory'
 */
export function configFromCommand(
  upstream: CommandUpstream,
  options: LoadOptions = {},
): ResolvedProxyConfig {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const hasCommand = upstream.command !== undefined && upstream.command !== '';
  if (hasCommand && upstream.url) {
    throw new ConfigError({
      file: '--upstream-url',
      problem: 'both a command (after --) and --upstream-url were given',
      fix: 'proxy one server per command line: drop the command or the URL',
    });
  }
  if (!hasCommand && !upstream.url) {
    throw new ConfigError({
      problem: 'no upstream MCP server given',
      fix: 'pass the server command after --, e.g. hitloop proxy -- npx -y @modelcontextprotocol/server-memory, or --upstream-url URL',
    });
  }
  if (!upstream.url && upstream.headers?.length) {
    throw new ConfigError({
      file: '--header',
      problem: 'headers only apply to a remote server',
      fix: 'add --upstream-url, or drop --header',
    });
  }
  if (!upstream.url && upstream.type) {
    throw new ConfigError({
      file: '--upstream-type',
      problem: '--upstream-type only applies to --upstream-url',
      fix: 'add --upstream-url, or drop --upstream-type',
    });
  }

  let sections: Sections;
  let source = 'command line';
  const configFiles: string[] = [];
  if (upstream.configFile) {
    configFiles.push(resolve(cwd, upstream.configFile));
    // Its servers, if any, are not proxied: the command line names the upstream.
    sections = resolveSections(readConfigDocument(upstream.configFile, options));
    source = upstream.configFile;
  } else {
    sections = defaultSections(env, options.homeDir ?? homedir());
  }
  if (upstream.policyFile) {
    configFiles.push(resolve(cwd, upstream.policyFile));
    Object.assign(sections, readPolicyFile(resolve(cwd, upstream.policyFile), upstream.policyFile));
  }

  let name: string;
  if (upstream.name !== undefined) {
    name = upstream.name;
    if (!SERVER_NAME.test(name)) {
      throw new ConfigError({
        file: '--name',
        problem: `"${name}" has characters other than letters, digits, _ and -`,
        fix: `use e.g. --name ${sanitizeServerName(name)}`,
      });
    }
  } else {
    name = hasCommand
      ? deriveServerName(upstream.command!, upstream.args ?? [])
      : deriveServerNameFromUrl(upstream.url!);
  }
  const trusted = upstream.trusted === true || sections.trustedServers.includes(name);

  let spec: UpstreamSpec;
  if (hasCommand) {
    spec = {
      name,
      type: 'stdio',
      command: upstream.command!,
      args: [...(upstream.args ?? [])],
      // The child inherits hitloop's own environment, which holds the
      // client's `env` for this server when hitloop was started by `wrap`.
      env: {},
      trusted,
    };
  } else {
    const url = upstream.url!;
    checkUrl(url, '--upstream-url', undefined);
    spec = {
      name,
      type: upstream.type ?? 'http',
      url,
      headers: headersFromCommandLine(upstream.headers ?? [], env),
      trusted,
    };
  }
  const proxy = finishProxySettings(sections.proxy, false);
  checkNamesAgainstSeparator(proxy, [name], () => '--name', undefined);
  return {
    source,
    servers: [spec],
    policy: sections.policy,
    approval: sections.approval,
    telemetry: sections.telemetry,
    proxy,
    configFiles,
  };
}

/** A config file's hitloop settings, without starting from its servers. */
export interface ProxySettingsFile {
  policy: HITLPolicy;
  /** `policy.trustedServers` of a rules policy. */
  trustedServers: string[];
  approval: ApprovalSettings;
  telemetry: TelemetrySettings;
  /** `prefixNames` is left undefined when the file does not say. */
  proxy: Omit<ProxySettings, 'prefixNames'> & { prefixNames?: boolean };
  /** Names of the servers the file lists (checked, not resolved). */
  serverNames: string[];
}

/**
 * Reads and checks the hitloop settings of a config file (`policy`,
 * `approval`, `telemetry`, `proxy`); servers are optional and only their
 * names are checked. What `hitloop proxy --config FILE -- COMMAND` uses.
 *
 * @example
 * loadProxySettings('hitloop.json').approval.timeoutMs // 600000
 */
export function loadProxySettings(file: string, options: LoadOptions = {}): ProxySettingsFile {
  const doc = readConfigDocument(file, options);
  const serverNames = collectServers(doc, { required: false }).map((s) => s.name);
  return { ...resolveSections(doc), serverNames };
}

/**
 * Parses a `--header` value, `Name: value`.
 *
 * @example
 * parseHeaderFlag('Authorization: Bearer abc') // ['Authorization', 'Bearer abc']
 */
export function parseHeaderFlag(text: string, source = '--header'): [string, string] {
  const colon = text.indexOf(':');
  const name = colon === -1 ? '' : text.slice(0, colon).trim();
  if (colon === -1 || !HEADER_NAME.test(name)) {
    throw new ConfigError({
      file: source,
      problem: `expected "Name: value", got ${JSON.stringify(text)}`,
      fix: 'for example --header "Authorization: Bearer $TOKEN"',
    });
  }
  const value = text.slice(colon + 1).trim();
  checkHeaderValue(value, source, undefined);
  return [name, value];
}

/**
 * A server name for a command line: the package, module, image or script
 * the command runs, made safe (`npx -y @modelcontextprotocol/server-filesystem /tmp`
 * gives `server-filesystem`, `uvx mcp-server-git` gives `mcp-server-git`,
 * `python -m weather` gives `weather`, `/opt/bin/github-mcp-server` gives
 * `github-mcp-server`).
 *
 * @example
 * deriveServerName('docker', ['run', '-i', '--rm', '-e', 'TOKEN', 'ghcr.io/github/github-mcp-server']) // 'github-mcp-server'
 */
export function deriveServerName(command: string, args: readonly string[]): string {
  const program = stripExtension(basename(command.replace(/\\/g, '/')));
  if (!LAUNCHERS.has(program.toLowerCase())) return sanitizeServerName(program);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '-m' || arg === '--module') {
      const mod = args[i + 1];
      if (mod) return sanitizeServerName(mod);
    }
    if (arg.startsWith('-')) {
      if (OPTIONS_WITH_VALUE.has(arg)) i++;
      continue;
    }
    // `env FOO=bar node server.js`, `uv run --with x server.py`.
    if (SUBCOMMANDS.has(arg) || arg.includes('=') || LAUNCHERS.has(stripExtension(arg))) continue;
    return sanitizeServerName(nameFromPackageOrPath(arg));
  }
  return sanitizeServerName(program);
}

/** A server name for a URL: its host (and port), made safe. */
export function deriveServerNameFromUrl(url: string): string {
  try {
    const u = new URL(url);
    return sanitizeServerName(u.port ? `${u.hostname}-${u.port}` : u.hostname);
  } catch {
    return 'upstream';
  }
}

/**
 * Makes any text a valid server name: letters, digits, `_` and `-`, no `__`
 * (the default prefix separator), at most 64 characters.
 *
 * @example
 * sanitizeServerName('My Server.v2') // 'My-Server-v2'
 */
export function sanitizeServerName(text: string): string {
  const out = text
    .replace(/[^A-Za-z0-9_-]+/g, '-')
    .replace(/_{2,}/g, '_')
    .replace(/-{2,}/g, '-')
    .replace(/^[-_]+|[-_]+$/g, '')
    .slice(0, 64)
    .replace(/[-_]+$/, '');
  return out || 'upstream';
}

// ---------------------------------------------------------------------------

interface ConfigDocument {
  file: string;
  /** The file, absolute. */
  path: string;
  dir: string;
  json: Record<string, unknown>;
  expand: ExpandContext;
  homeDir: string;
  warn: (message: string) => void;
}

function readConfigDocument(file: string, options: LoadOptions): ConfigDocument {
  const text = readConfigText(file);
  const { value } = parseJsonc(text, file);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError({
      file,
      problem: `expected a JSON object, got ${Array.isArray(value) ? 'a list' : JSON.stringify(value)}`,
      fix: 'the file should look like { "servers": { ... } } or { "mcpServers": { ... } }',
    });
  }
  const absolute = resolve(options.cwd ?? process.cwd(), file);
  const dir = dirname(absolute);
  const homeDir = options.homeDir ?? homedir();
  const json = value as Record<string, unknown>;
  checkTopLevelKeys(json, file);
  return {
    file,
    path: absolute,
    dir,
    json,
    homeDir,
    expand: {
      env: options.env ?? process.env,
      // A .vscode/mcp.json belongs to the folder that holds .vscode.
      workspaceFolder: basename(dir) === '.vscode' ? dirname(dir) : dir,
      userHome: homeDir,
      file,
    },
    warn: options.onWarning ?? ((m) => process.stderr.write(`hitloop: warn: ${m}\n`)),
  };
}

/**
 * Reads a config file's text; a missing or unreadable file is a ConfigError.
 *
 * @example
 * readConfigText('.vscode/mcp.json')
 */
export function readConfigText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError({
      file,
      problem:
        code === 'ENOENT'
          ? 'file not found'
          : code === 'EISDIR'
            ? 'is a folder, not a file'
            : code === 'EACCES'
              ? 'permission denied'
              : `cannot read the file (${code ?? String(err)})`,
      fix: code === 'ENOENT' ? 'check the path' : undefined,
    });
  }
}

/** Top-level keys that are probably a misspelt hitloop or server key. */
function checkTopLevelKeys(json: Record<string, unknown>, file: string): void {
  const known = [...SERVER_KEYS, ...HITLOOP_SECTIONS, 'inputs', '$schema'];
  for (const key of Object.keys(json)) {
    if (known.includes(key)) continue;
    const near = known.find((k) => {
      const d = editDistance(key.toLowerCase(), k.toLowerCase());
      return d <= (k.length >= 6 ? 2 : 1);
    });
    if (near) {
      throw new ConfigError({
        file,
        field: key,
        problem: `unknown key "${key}"`,
        fix: `did you mean "${near}"?`,
      });
    }
  }
}

interface ServerSource {
  key: ServerKey;
  name: string;
  /** How the user wrote the path: `mcpServers.fs`. */
  field: string;
  raw: unknown;
}

function collectServers(doc: ConfigDocument, opts: { required: boolean }): ServerSource[] {
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

function resolveServer(
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

// ---- hitloop's own sections ------------------------------------------------

interface Sections {
  policy: HITLPolicy;
  trustedServers: string[];
  approval: ApprovalSettings;
  telemetry: TelemetrySettings;
  proxy: Omit<ProxySettings, 'prefixNames'> & { prefixNames?: boolean };
}

function resolveSections(doc: ConfigDocument): Sections {
  const { json, file } = doc;
  const approval = parseSection(ApprovalConfig, json.approval, file, 'approval');
  const telemetry = parseSection(TelemetryConfig, json.telemetry, file, 'telemetry');
  const proxy = parseSection(ProxyConfig, json.proxy, file, 'proxy');
  let db: string | undefined;
  if (telemetry.db === false) db = undefined;
  else if (telemetry.db === undefined)
    db = join(defaultHitloopHome(doc.expand.env, doc.homeDir), 'telemetry.db');
  else db = resolvePath(expandString(telemetry.db, 'telemetry.db', doc.expand), doc);
  const store =
    approval.store === undefined
      ? undefined
      : /^[a-z][a-z0-9+.-]*:\/\//i.test(approval.store) || approval.store === 'memory'
        ? expandString(approval.store, 'approval.store', doc.expand)
        : resolvePath(expandString(approval.store, 'approval.store', doc.expand), doc);
  const hook = approval.webhook;
  const webhook = hook && {
    ...hook,
    url: expandString(hook.url, 'approval.webhook.url', doc.expand),
    callbackBaseUrl: expandString(
      hook.callbackBaseUrl,
      'approval.webhook.callbackBaseUrl',
      doc.expand,
    ),
    secret: expandString(hook.secret, 'approval.webhook.secret', doc.expand),
    headers: Object.fromEntries(
      Object.entries(hook.headers).map(([k, v]) => [
        k,
        expandString(v, `approval.webhook.headers.${k}`, doc.expand),
      ]),
    ),
  };
  if (webhook && webhook.secret.length < 16)
    throw new ConfigError({
      file,
      field: 'approval.webhook.secret',
      problem: 'the secret (after expanding variables) is shorter than 16 characters',
      fix: 'use a long random secret, e.g. `openssl rand -base64 32`',
    });
  if (approval.backend === 'webhook' && !webhook)
    throw new ConfigError({
      file,
      field: 'approval.webhook',
      problem: 'the "webhook" backend needs approval.webhook (url, callbackBaseUrl, secret)',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: hitloop's own ${env:VAR} config syntax, shown to the user
      fix: 'add "webhook": { "url": "https://bridge.example/hitloop", "callbackBaseUrl": "https://...", "secret": "${env:HITLOOP_WEBHOOK_SECRET}" }',
    });
  return {
    ...policyFromValue(json.policy, file, 'policy'),
    approval: {
      ...approvalSettings(approval),
      ...(store !== undefined ? { store } : {}),
      ...(webhook ? { webhook } : {}),
    },
    telemetry: {
      ...(db !== undefined ? { db } : {}),
      required: telemetry.required,
      redactKeys: telemetry.redactKeys,
    },
    proxy: {
      ...proxy,
      protectedPaths: proxy.protectedPaths.map((p, i) =>
        resolvePath(expandString(p, `proxy.protectedPaths[${i}]`, doc.expand), doc),
      ),
    },
  };
}

function defaultSections(
  env: Readonly<Record<string, string | undefined>>,
  homeDir: string,
): Sections {
  return {
    ...policyFromValue(undefined, 'command line', undefined),
    approval: approvalSettings(ApprovalConfig.parse({})),
    telemetry: {
      db: join(defaultHitloopHome(env, homeDir), 'telemetry.db'),
      required: false,
      redactKeys: true,
    },
    proxy: ProxyConfig.parse({}),
  };
}

function parseSection<T extends z.ZodType>(
  schema: T,
  value: unknown,
  file: string,
  field: string,
): z.output<T> {
  const parsed = schema.safeParse(value ?? {});
  if (!parsed.success) throw configErrorFromZod(parsed.error, file, field);
  return parsed.data;
}

function approvalSettings(a: z.output<typeof ApprovalConfig>): ApprovalSettings {
  return {
    backend: a.backend,
    fallback: a.fallback,
    timeoutMs: a.timeoutMs,
    toolTimeouts: Object.entries(a.toolTimeouts).map(([tool, timeoutMs]) => ({ tool, timeoutMs })),
    keepAliveMs: a.keepAliveMs,
    resumeWindowMs: a.resumeWindowMs,
    ...(a.instance !== undefined ? { instance: a.instance } : {}),
  };
}

function finishProxySettings(proxy: Sections['proxy'], manyServers: boolean): ProxySettings {
  return { ...proxy, prefixNames: proxy.prefixNames ?? manyServers };
}

function checkNamesAgainstSeparator(
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

/** The `policy` key (or a policy file's content): a policy, its trusted servers. */
function policyFromValue(
  value: unknown,
  file: string,
  field: string | undefined,
): { policy: HITLPolicy; trustedServers: string[] } {
  const given: unknown = value ?? DEFAULT_POLICY;
  if (given === null || typeof given !== 'object' || Array.isArray(given)) {
    throw new ConfigError({
      file,
      field,
      problem: `expected a policy object, got ${JSON.stringify(given)}`,
      fix: 'for example "policy": { "type": "rules", "default": "ask", "rules": [] }',
    });
  }
  let candidate: object = given;
  if (!('type' in given)) {
    const bareRules = ['rules', 'default', 'trustedServers'].some((k) => k in given);
    if (!bareRules) {
      throw new ConfigError({
        file,
        field: field ? `${field}.type` : 'type',
        problem: 'no policy type given',
        fix: 'add "type": one of "rules", "risk_based", "audit_plus_escalate", "always_approve"',
      });
    }
    candidate = { type: 'rules', ...given };
  }
  const type = (candidate as { type: unknown }).type;
  const types = ['rules', 'risk_based', 'audit_plus_escalate', 'always_approve'];
  if (!types.includes(type as string)) {
    throw new ConfigError({
      file,
      field: field ? `${field}.type` : 'type',
      problem: `unknown policy type ${JSON.stringify(type)}`,
      fix: `use one of: ${types.map((t) => JSON.stringify(t)).join(', ')}`,
    });
  }
  const parsed = PolicyConfig.safeParse(candidate);
  if (!parsed.success) throw configErrorFromZod(parsed.error, file, field);
  return {
    policy: createPolicy(parsed.data),
    trustedServers: parsed.data.type === 'rules' ? [...parsed.data.trustedServers] : [],
  };
}

function readPolicyFile(
  path: string,
  asGiven: string,
): { policy: HITLPolicy; trustedServers: string[] } {
  const { value } = parseJsonc(readConfigText(path), asGiven);
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && 'policy' in value)
    return policyFromValue((value as { policy: unknown }).policy, asGiven, 'policy');
  return policyFromValue(value, asGiven, undefined);
}

// ---- small helpers ---------------------------------------------------------

// RFC 9110 token characters.
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function checkHeaderValue(value: string, file: string, field: string | undefined): void {
  if (/[\r\n\0]/.test(value)) {
    throw new ConfigError({
      file,
      field,
      problem: 'a header value contains a line break or NUL character',
      fix: 'remove it: header values are a single line',
    });
  }
}

function checkUrl(url: string, file: string, field: string | undefined): void {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
    throw new ConfigError({
      file,
      field,
      problem: `${JSON.stringify(url)} is not an http(s) URL`,
      fix: 'give the full MCP endpoint, e.g. "https://example.com/mcp" or "http://127.0.0.1:3000/mcp"',
    });
  }
}

function headersFromCommandLine(
  flags: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): Record<string, string> {
  const fromEnv = Object.keys(env)
    .map((key) => ({ key, n: /^HITLOOP_HEADER_(\d+)$/.exec(key)?.[1] }))
    .filter((e): e is { key: string; n: string } => e.n !== undefined)
    .sort((a, b) => Number(a.n) - Number(b.n))
    .map((e) => parseHeaderFlag(env[e.key] ?? '', e.key));
  const headers: Record<string, string> = {};
  for (const [name, value] of [...fromEnv, ...flags.map((f) => parseHeaderFlag(f))]) {
    // A later header replaces an earlier one of the same name, whatever its case.
    for (const existing of Object.keys(headers))
      if (existing.toLowerCase() === name.toLowerCase()) delete headers[existing];
    headers[name] = value;
  }
  return headers;
}

function expandTilde(path: string, homeDir: string): string {
  if (path === '~') return homeDir;
  if (path.startsWith('~/') || path.startsWith('~\\')) return join(homeDir, path.slice(2));
  return path;
}

/** `~` expanded, then relative to the config file's folder. */
function resolvePath(path: string, doc: ConfigDocument): string {
  return resolve(doc.dir, expandTilde(path, doc.homeDir));
}

function stripExtension(name: string): string {
  const ext = extname(name);
  return ext ? name.slice(0, -ext.length) : name;
}

// Programs that run another program: the server's name is in their arguments.
const LAUNCHERS = new Set([
  'npx',
  'bunx',
  'pnpx',
  'uvx',
  'pipx',
  'uv',
  'node',
  'nodejs',
  'bun',
  'deno',
  'python',
  'python3',
  'py',
  'pnpm',
  'yarn',
  'npm',
  'docker',
  'podman',
  'java',
  'sh',
  'bash',
  'cmd',
  'env',
]);
const SUBCOMMANDS = new Set(['run', 'exec', 'dlx', 'x', 'tool', 'start', '/c', '-c']);
// Options of those launchers that take a value, so the value is not the name.
const OPTIONS_WITH_VALUE = new Set([
  '-p',
  '--package',
  '--from',
  '--with',
  '--python',
  '-e',
  '--env',
  '--env-file',
  '-v',
  '--volume',
  '--mount',
  '--name',
  '--network',
  '-w',
  '--workdir',
  '-u',
  '--user',
  '--entrypoint',
  '--directory',
  '--cwd',
  '-r',
  '--require',
  '--import',
  '--loader',
]);

/** `@scope/pkg@1.2` → `pkg`; `ghcr.io/org/image:tag` → `image`; `./server.py` → `server`. */
function nameFromPackageOrPath(arg: string): string {
  let s = arg.replace(/^(?:npm|jsr|pypi):/, '');
  s = s.replace(/\\/g, '/');
  if (s.startsWith('@')) {
    const slash = s.indexOf('/');
    if (slash !== -1) s = s.slice(slash + 1);
  }
  s = s.replace(/@[^/]*$/, ''); // version
  s = s.replace(/:[^/]*$/, ''); // image tag
  const parts = s.split('/').filter(Boolean);
  const stem = stripExtension(parts.pop() ?? '');
  // `node /opt/weather/build/index.js`: the folder says more than "index".
  if (GENERIC_ENTRY.has(stem.toLowerCase())) {
    const dir = [...parts]
      .reverse()
      .find((p) => !BUILD_DIRS.has(p.toLowerCase()) && p !== '.' && p !== '..');
    if (dir) return dir;
  }
  return stem;
}

const GENERIC_ENTRY = new Set(['index', 'main', 'cli', 'server', 'app', 'mod']);
const BUILD_DIRS = new Set(['build', 'dist', 'src', 'lib', 'bin', 'out']);

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}
