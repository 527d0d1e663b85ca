import { basename, extname } from 'node:path';

// Server names for servers given on a command line (`hitloop proxy -- CMD`,
// `hitloop wrap`), and the rule every server name follows.

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
