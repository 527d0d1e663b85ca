import {
  chmodSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { DiscoveryFile } from './protocol.js';

/**
 * hitloop's home folder: `$HITLOOP_HOME` (a leading `~` is the user's home,
 * relative paths are made absolute), default `~/.hitloop`.
 *
 * @example
 * join(hitloopHome(), 'approvals.db')
 */
export function hitloopHome(
  env: Readonly<Record<string, string | undefined>> = process.env,
  homeDir: string = homedir(),
): string {
  const fromEnv = env.HITLOOP_HOME?.trim();
  if (!fromEnv) return join(homeDir, '.hitloop');
  const expanded =
    fromEnv === '~'
      ? homeDir
      : fromEnv.startsWith('~/')
        ? join(homeDir, fromEnv.slice(2))
        : fromEnv;
  return resolve(expanded);
}

/** The discovery folder, created (or tightened) to mode 0700. */
export function hubsDir(home = hitloopHome()): string {
  const dir = join(home, 'hubs');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // mkdir does not change an existing folder; a token must never be world-readable.
  if ((statSync(dir).mode & 0o077) !== 0) chmodSync(dir, 0o700);
  return dir;
}

/**
 * Announces a hub: writes its discovery file with mode 0600 (atomically, so a
 * reader never sees half a file). Returns a function that removes it.
 */
export function announceHub(entry: DiscoveryFile, home = hitloopHome()): () => void {
  const dir = hubsDir(home);
  const file = join(dir, `${entry.hubId}.json`);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(entry, null, 2), { mode: 0o600 });
  renameSync(tmp, file);
  return () => {
    try {
      unlinkSync(file);
    } catch {
      // already gone
    }
  };
}

/** True when a process with this pid exists (EPERM means it exists but is not ours). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The hubs that are running now. Files of dead processes are removed;
 * unreadable files are skipped (and reported through `onProblem`).
 *
 * @example
 * for (const hub of discoverHubs()) console.log(hub.name, hub.url);
 */
export function discoverHubs(
  home = hitloopHome(),
  onProblem?: (message: string) => void,
): DiscoveryFile[] {
  let dir: string;
  try {
    dir = hubsDir(home);
  } catch {
    return [];
  }
  const hubs: DiscoveryFile[] = [];
  for (const name of readdirSync(dir)) {
    if (!name.endsWith('.json')) continue;
    const file = join(dir, name);
    let parsed: ReturnType<typeof DiscoveryFile.safeParse>;
    try {
      parsed = DiscoveryFile.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    } catch {
      onProblem?.(`ignoring unreadable discovery file ${file}`);
      continue;
    }
    if (!parsed.success) {
      onProblem?.(`ignoring invalid discovery file ${file}`);
      continue;
    }
    if (!processAlive(parsed.data.pid)) {
      try {
        unlinkSync(file);
      } catch {
        // another reader removed it first
      }
      continue;
    }
    hubs.push(parsed.data);
  }
  return hubs.sort((a, b) => (a.startedAt < b.startedAt ? -1 : 1));
}
