import { chmodSync, statSync } from 'node:fs';

/**
 * Makes a SQLite file and its `-wal` and `-shm` companions readable and
 * writable by their owner only (0600), also when they already existed with
 * a wider mode (a file made by an older hitloop, or under a loose umask):
 * they hold tool arguments. Files that do not exist are skipped; files this
 * user does not own (a shared file set up by someone else) are left as they
 * are, since only their owner may change their mode.
 *
 * @example
 * ownerOnly('/home/me/.hitloop/telemetry.db');
 */
export function ownerOnly(file: string): void {
  for (const path of [file, `${file}-wal`, `${file}-shm`]) {
    try {
      if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'EPERM') throw err;
    }
  }
}
