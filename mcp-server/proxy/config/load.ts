import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { ConfigError } from '../../../shared/errors.js';
import type { HITLPolicy } from '../../../shared/policies/policy.js';
import { type LoadOptions, readConfigDocument } from './document.js';
import { checkUrl, headersFromCommandLine } from './http-checks.js';
import { SERVER_NAME } from './schema.js';
import {
  defaultSections,
  finishProxySettings,
  readPolicyFile,
  resolveSections,
  type Sections,
} from './sections.js';
import { deriveServerName, deriveServerNameFromUrl, sanitizeServerName } from './server-names.js';
import { checkNamesAgainstSeparator, collectServers, resolveServer } from './servers.js';
import type {
  ApprovalSettings,
  ProxySettings,
  ResolvedProxyConfig,
  TelemetrySettings,
  UpstreamSpec,
} from './types.js';

// The three ways to a proxy config: a config file (loadProxyConfig), a
// command line (configFromCommand), a config file's settings alone
// (loadProxySettings). The work is done by document.ts (reading),
// servers.ts (servers), sections.ts (policy, approval, telemetry, proxy),
// http-checks.ts and server-names.ts; this file puts it together.

export {
  defaultHitloopHome,
  type LoadOptions,
  readConfigText,
  SERVER_KEYS,
  type ServerKey,
} from './document.js';
export { parseHeaderFlag } from './http-checks.js';
export { deriveServerName, deriveServerNameFromUrl, sanitizeServerName } from './server-names.js';

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
