import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { hitloopHome } from '../../../shared/hub/discovery.js';
import type { HITLPolicy } from '../../../shared/policies/policy.js';
import {
  type ProtectedPath,
  sqliteFiles,
  withProtectedPaths,
} from '../../../shared/policies/protect-paths.js';
import type { ResolvedProxyConfig } from './types.js';

/** Where the proxy runs; injectable for tests. */
export interface ProxyPolicyEnv {
  env?: Readonly<Record<string, string | undefined>>;
  homeDir?: string;
  /** The proxy's working folder, which stdio servers without `cwd` inherit; default process.cwd(). */
  cwd?: string;
}

/**
 * The policy the proxy really applies: hitloop's built-in protection of its
 * own files first (unless `proxy.protectHitloopFiles` is false), then the
 * configured policy. `hitloop proxy` and `hitloop policy check` both call
 * this, so they cannot disagree.
 *
 * @example
 * const policy = proxyPolicy(loadProxyConfig('hitloop.json'));
 * await policy.evaluate(action);
 */
export function proxyPolicy(config: ResolvedProxyConfig, where: ProxyPolicyEnv = {}): HITLPolicy {
  if (config.proxy.protectHitloopFiles === false) return config.policy;
  const cwd = where.cwd ?? process.cwd();
  const homeDir = where.homeDir ?? homedir();
  // A server's relative paths start where it runs: its `cwd`, else the proxy's.
  const serverCwd = new Map(
    config.servers.map((s) => [s.name, s.type === 'stdio' && s.cwd ? s.cwd : cwd]),
  );
  return withProtectedPaths(config.policy, {
    paths: protectedPaths(config, { env: where.env, homeDir, cwd }),
    cwdFor: (action) => (action.server && serverCwd.get(action.server)) || cwd,
    homeDir,
  });
}

/**
 * What the built-in protection covers: `HITLOOP_HOME` (discovery files with
 * hub tokens, `approvals.db`, `serve-token`, the default telemetry) and the
 * default `~/.hitloop`, the telemetry and approval-store files wherever the
 * config puts them, the config and policy files the proxy was started with,
 * and `proxy.protectedPaths`.
 *
 * @example
 * protectedPaths(config).map((p) => p.path) // ['/home/me/.hitloop', ...]
 */
export function protectedPaths(
  config: ResolvedProxyConfig,
  where: Required<Pick<ProxyPolicyEnv, 'homeDir' | 'cwd'>> & Pick<ProxyPolicyEnv, 'env'>,
): ProtectedPath[] {
  const home = hitloopHome(where.env ?? process.env, where.homeDir);
  const out: ProtectedPath[] = [
    { path: home, what: "hitloop's home folder (HITLOOP_HOME)" },
    { path: join(where.homeDir, '.hitloop'), what: "hitloop's default home folder (~/.hitloop)" },
  ];
  if (config.telemetry.db)
    for (const f of sqliteFiles(resolve(where.cwd, config.telemetry.db)))
      out.push({ path: f, what: "hitloop's telemetry database" });
  const store = storeFile(config.approval.store);
  if (store)
    for (const f of sqliteFiles(resolve(where.cwd, expandTilde(store, where.homeDir))))
      out.push({ path: f, what: "hitloop's approval store" });
  for (const f of config.configFiles ?? [])
    out.push({
      path: resolve(where.cwd, f),
      what: 'the hitloop configuration this proxy runs with',
    });
  for (const p of config.proxy.protectedPaths ?? [])
    out.push({ path: resolve(where.cwd, p), what: 'a path listed in proxy.protectedPaths' });
  return out;
}

/** The SQLite file of an approval store spec, if it is one (see openApprovalStore). */
function storeFile(spec: string | undefined): string | undefined {
  const s = spec?.trim();
  if (!s || s === 'memory') return undefined;
  if (/^sqlite:/i.test(s)) return s.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
  // One letter before ':' is a Windows drive, not a scheme.
  if (/^[a-z][a-z0-9+.-]+:/i.test(s)) return undefined;
  return s;
}

function expandTilde(path: string, homeDir: string): string {
  if (path === '~') return homeDir;
  if (path.startsWith('~/')) return join(homeDir, path.slice(2));
  return path;
}
