import { isAbsolute, relative, resolve } from 'node:path';

/** Which hubs the sidebar shows: those of this workspace, or every one on the machine. */
export type DiscoveryScope = 'workspace' | 'all';

/**
 * True when `path` is `folder` or lies inside it. Case-insensitive on Windows
 * and macOS, whose usual file systems are.
 *
 * @example
 * isInside('/work/app/src', '/work/app') // true
 * isInside('/work/application', '/work/app') // false
 */
export function isInside(
  path: string,
  folder: string,
  platform: NodeJS.Platform = process.platform,
): boolean {
  const fold = platform === 'win32' || platform === 'darwin';
  const a = fold ? resolve(path).toLowerCase() : resolve(path);
  const b = fold ? resolve(folder).toLowerCase() : resolve(folder);
  const rel = relative(b, a);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/**
 * Whether a request made in `cwd` belongs to a window with these workspace
 * folders. Where that cannot be known (no folder open, no cwd reported) the
 * request is shown: hiding a request nobody else will see is worse than
 * showing one too many.
 *
 * @example
 * inWorkspace('/work/app', ['/work/app']) // true
 * inWorkspace('/elsewhere', ['/work/app']) // false
 * inWorkspace(undefined, ['/work/app']) // true
 */
export function inWorkspace(cwd: string | undefined, folders: readonly string[]): boolean {
  if (!cwd || folders.length === 0) return true;
  return folders.some((folder) => isInside(cwd, folder));
}

/**
 * Hubs listen on loopback only; a discovery file naming another address is
 * not a hub this extension should hand its token to.
 *
 * @example
 * isLoopbackUrl('http://127.0.0.1:4100') // true
 * isLoopbackUrl('http://example.com') // false
 */
export function isLoopbackUrl(url: string): boolean {
  try {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return false;
    const host = u.hostname;
    return host === 'localhost' || host === '[::1]' || /^127(?:\.\d{1,3}){3}$/.test(host);
  } catch {
    return false;
  }
}
