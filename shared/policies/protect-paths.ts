import { lstatSync, readlinkSync, realpathSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Action } from '../models/action.js';
import type { HITLPolicy, PolicyContext, PolicyDecision } from './policy.js';

// An agent whose file tool may read anywhere could read a hub's discovery
// file ($HITLOOP_HOME/hubs/<id>.json), take its bearer token and approve its
// own calls; with a write tool it could rewrite the policy it runs under.
// This layer runs before the user's policy and denies any call whose
// arguments name one of hitloop's own files, however the path is spelt.

/** One protected location: the path itself and everything inside it. */
export interface ProtectedPath {
  path: string;
  /** What it is, for the reason the agent reads, e.g. "the telemetry database". */
  what: string;
}

/** Options of {@link withProtectedPaths}. */
export interface ProtectedPathsOptions {
  /** The locations to protect; relative ones resolve against `process.cwd()`. */
  paths: readonly ProtectedPath[];
  /**
   * The folder a relative path in this action's arguments resolves against:
   * where the tool's server runs. Default: this process's working folder.
   */
  cwdFor?: (action: Action) => string;
  /** What a leading `~` means; default os.homedir(). */
  homeDir?: string;
}

/** The rule id of a call this layer denies. */
export const PROTECTED_PATH_RULE = 'hitloop_protected_path';

/**
 * Wraps a policy so that a call naming one of `paths` in its arguments is
 * denied before `policy` is asked. A string argument counts as a path when
 * its key looks like one (`path`, `paths[]`, `source`, `destination`,
 * `file_path`, `cwd`, `dir`, `uri`, ...), or anywhere when it is absolute,
 * starts with `~` or is a `file://` URI. Paths are resolved (`~`, `..`,
 * relative to `cwdFor(action)`) and then through symlinks, so a link that
 * points into a protected folder is denied too. The wrapper keeps the inner
 * policy's name.
 *
 * @example
 * const policy = withProtectedPaths(new RulesPolicy({ default: 'allow' }), {
 *   paths: [{ path: hitloopHome(), what: "hitloop's home folder (HITLOOP_HOME)" }],
 * });
 * policy.evaluate(createAction({ toolName: 'read_text_file', toolArgs: { path: '~/.hitloop/hubs/a.json' } })).verdict // 'deny'
 */
export function withProtectedPaths(
  policy: HITLPolicy,
  options: ProtectedPathsOptions,
): ProtectedPolicy {
  const guard = new ProtectedPaths(options);
  return {
    name: policy.name,
    evaluate(action: Action, context?: PolicyContext) {
      return guard.check(action) ?? policy.evaluate(action, context);
    },
    checkProtectedPaths: (action: Action) => guard.check(action),
  };
}

/**
 * A policy wrapped by {@link withProtectedPaths}. Its protection can also be
 * asked alone, for what is not a tool call and so has no user policy:
 * the proxy checks the `uri` of `resources/read` with it.
 *
 * @example
 * const denied = protectionOf(policy)?.(createAction({ toolName: 'resources/read', toolArgs: { uri } }));
 */
export interface ProtectedPolicy extends HITLPolicy {
  /** The protection's deny for `action`, or undefined when it names no protected path. */
  checkProtectedPaths(action: Action): PolicyDecision | undefined;
}

/**
 * The built-in protection of a policy made by {@link withProtectedPaths}, or
 * undefined for any other policy (the protection is off).
 *
 * @example
 * const check = protectionOf(config.policy);
 * if (check?.(action)) refuse();
 */
export function protectionOf(
  policy: HITLPolicy,
): ((action: Action) => PolicyDecision | undefined) | undefined {
  const p = policy as Partial<ProtectedPolicy>;
  return typeof p.checkProtectedPaths === 'function' ? p.checkProtectedPaths : undefined;
}

/**
 * The files of a SQLite database: the file and its `-wal`, `-shm` and
 * `-journal` companions, which hold recent writes.
 *
 * @example
 * sqliteFiles('/home/me/.hitloop/telemetry.db') // ['/home/me/.hitloop/telemetry.db', '...-wal', '...-shm', '...-journal']
 */
export function sqliteFiles(db: string): string[] {
  return [db, `${db}-wal`, `${db}-shm`, `${db}-journal`];
}

// Keys whose string values are paths even when relative ("notes.txt").
// Compared without case, `_` and `-`: `file_path`, `filePath`, `FILE-PATH`.
const PATH_KEY =
  /(path|file|dir|folder|source|src|dest|target|cwd|root|uri|location|mount|workspace)/;
// Longer than the operating system opens (PATH_MAX on Linux), so not worth
// resolving through the file system; the lexical check still runs. Checked
// after normalising, as servers normalise too: a padded "/./././..." or a
// "\n/.." inside a path must not slip through.
const MAX_PATH_CHARS = 4096;
const CASE_INSENSITIVE = process.platform === 'win32' || process.platform === 'darwin';

interface Root {
  lexical: string;
  /** Through symlinks; refreshed now and then, as the folders may be created or linked later. */
  real: string;
  realAt: number;
  what: string;
}

// How long a protected path's resolved form is reused. These are hitloop's
// own folders, changed by the user rarely; resolving them on every call
// would cost several system calls each.
const ROOT_REFRESH_MS = 1000;

class ProtectedPaths {
  private readonly roots: Root[];
  private readonly homeDir: string;
  private readonly cwdFor: (action: Action) => string;

  constructor(options: ProtectedPathsOptions) {
    this.homeDir = options.homeDir ?? homedir();
    this.cwdFor = options.cwdFor ?? (() => process.cwd());
    this.roots = options.paths.map((p) => {
      const lexical = resolve(expandTilde(p.path, this.homeDir));
      return { lexical, real: realpathDeep(lexical), realAt: Date.now(), what: p.what };
    });
  }

  check(action: Action): PolicyDecision | undefined {
    let cwd: string | undefined;
    for (const { key, text, pathKey } of stringsIn(action.toolArgs)) {
      const candidate = this.asPath(text, pathKey);
      if (candidate === undefined) continue;
      cwd ??= this.cwdFor(action);
      const lexical = resolve(cwd, candidate);
      let real = lexical;
      let hit = this.rootContaining(lexical);
      if (!hit && lexical.length <= MAX_PATH_CHARS) {
        real = realpathDeep(lexical);
        hit = this.rootContaining(real);
      }
      // `link/../x` is lexically `x`, but a server that hands the text to the
      // operating system gets `..` of where `link` points; check that too.
      if (!hit && candidate.length <= MAX_PATH_CHARS && /(^|[\\/])\.\.([\\/]|$)/.test(candidate)) {
        real = realpathDeep(isAbsolute(candidate) ? candidate : `${cwd}${sep}${candidate}`, true);
        hit = this.rootContaining(real);
      }
      if (!hit) continue;
      const shown = real === lexical ? lexical : `${lexical} (really ${real})`;
      return {
        verdict: 'deny',
        reason: `hitloop's built-in protection, not the user's policy: argument "${key}" names ${shown}, inside ${hit.what}. Tools that hitloop gates may not read or change hitloop's own files (approval tokens, the approval store, telemetry, its configuration), and no one can approve such a call`,
        rule: PROTECTED_PATH_RULE,
      };
    }
    return undefined;
  }

  /** The text as a path to resolve, or undefined when it is not one. */
  private asPath(text: string, pathKey: boolean): string | undefined {
    // No file system takes a NUL in a path (Node refuses it outright).
    if (text === '' || text.includes('\0')) return undefined;
    if (/^file:/i.test(text)) {
      try {
        return fileURLToPath(text);
      } catch {
        return undefined; // file://remote-host/...: not a local path
      }
    }
    if (text === '~' || text.startsWith('~/') || text.startsWith(`~${sep}`))
      return expandTilde(text, this.homeDir);
    if (isAbsolute(text) || pathKey) return text;
    return undefined;
  }

  private rootContaining(path: string): Root | undefined {
    const now = Date.now();
    for (const root of this.roots) {
      if (inside(path, root.lexical)) return root;
      if (now - root.realAt > ROOT_REFRESH_MS) {
        root.real = realpathDeep(root.lexical);
        root.realAt = now;
      }
      if (inside(path, root.real)) return root;
    }
    return undefined;
  }
}

/** True when `path` is `root` or lies inside it. */
function inside(path: string, root: string): boolean {
  const p = CASE_INSENSITIVE ? path.toLowerCase() : path;
  const r = CASE_INSENSITIVE ? root.toLowerCase() : root;
  if (p === r) return true;
  return p.startsWith(r.endsWith(sep) ? r : r + sep);
}

function expandTilde(path: string, homeDir: string): string {
  if (path === '~') return homeDir;
  if (path.startsWith('~/') || path.startsWith(`~${sep}`)) return join(homeDir, path.slice(2));
  return path;
}

/** Whether something (a dangling symlink too) is at `path`; no exception for the usual "no". */
function present(path: string): boolean {
  try {
    return lstatSync(path, { throwIfNoEntry: false }) !== undefined;
  } catch {
    return false; // ENAMETOOLONG, EACCES, ...: nothing this process can reach
  }
}

/**
 * The path with every symlink resolved, also when its last parts do not
 * exist yet (a file about to be written through a linked folder) and when
 * it ends in a dangling link (writing through it creates the target): the
 * deepest existing part is resolved and the rest appended. No exceptions on
 * the common path: a missing part is found with lstat, not a failed realpath.
 * `raw` keeps `..` for the operating system to apply after links.
 */
function realpathDeep(path: string, raw = false, hops = 0): string {
  let head = path;
  const rest: string[] = [];
  while (!present(head)) {
    const parent = dirname(head);
    if (parent === head) return path;
    rest.unshift(basename(head));
    head = parent;
  }
  let real: string;
  try {
    real = realpathSync.native(head);
  } catch {
    // It exists but does not resolve: a dangling symlink (or a loop, or no
    // permission). Follow the link by hand, a bounded number of times.
    try {
      if (hops >= 40 || !lstatSync(head).isSymbolicLink()) return path;
      const target = resolve(dirname(head), readlinkSync(head));
      return realpathDeep(rest.length ? join(target, ...rest) : target, raw, hops + 1);
    } catch {
      return path;
    }
  }
  if (!rest.length) return real;
  // `..` after a missing part: nothing to follow, so lexical is right.
  return raw ? resolve(real, ...rest) : join(real, ...rest);
}

/**
 * Every string in the arguments, keys included, with the key it sits under
 * (an array's items inherit their array's key). Iterative, so arguments
 * nested arbitrarily deep cannot exhaust the stack.
 */
function* stringsIn(
  args: Record<string, unknown>,
): Generator<{ key: string; text: string; pathKey: boolean }> {
  const stack: Array<{ value: unknown; key: string; pathKey: boolean }> = [
    { value: args, key: '', pathKey: false },
  ];
  while (stack.length) {
    const { value, key, pathKey } = stack.pop()!;
    if (typeof value === 'string') {
      yield { key, text: value, pathKey };
    } else if (Array.isArray(value)) {
      for (const item of value) stack.push({ value: item, key, pathKey });
    } else if (value !== null && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) {
        const at = key ? `${key}.${k}` : k;
        // A key can be a path too: { "/etc/x": "content" }.
        yield { key: at, text: k, pathKey: false };
        stack.push({ value: v, key: at, pathKey: isPathKey(k) });
      }
    }
  }
}

function isPathKey(key: string): boolean {
  return PATH_KEY.test(key.toLowerCase().replace(/[_-]/g, ''));
}
