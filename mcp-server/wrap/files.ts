import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  closeSync,
  fsyncSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { ConfigError } from '../../shared/errors.js';
import { parseJsonc } from '../proxy/config/jsonc.js';
import { parseToml, tomlWrapOptions, unwrapTomlText, wrapTomlText } from './codex-toml.js';
import {
  parseWrapped,
  type RewriteResult,
  type ServerChange,
  SUPPORTED_FORMATS,
  serverMaps,
  unwrapConfigText,
  type WrapOptions,
  wrapConfigText,
} from './wrap.js';

/** Suffix of the backup `hitloop wrap` keeps of the file it rewrites. */
export const BACKUP_SUFFIX = '.hitloop-backup';

/** What wrapFile or unwrapFile did (or, with dryRun, would do). */
export interface WrapFileResult {
  /** The file written (symlinks resolved). */
  file: string;
  changes: ServerChange[];
  /** True when the file was (or, in a dry run, would be) rewritten. */
  changed: boolean;
  written: boolean;
  /** The backup made by this wrap. */
  backup?: string;
  /** Backups an undo restored from, newest first (they are removed afterwards). */
  restoredFrom: string[];
  /** Things the user should know: dropped comments, unused backups. */
  notes: string[];
}

/**
 * Rewrites an MCP client config so every server runs through `hitloop proxy`.
 * Before the first change it saves the original bytes to
 * `FILE.hitloop-backup` (mode 0600; an existing backup is never overwritten,
 * a later one is numbered `FILE.hitloop-backup.1`, ...). The new content is
 * written to a temporary file and renamed over the original, keeping its mode.
 *
 * @example
 * const r = wrapFile('.vscode/mcp.json', { launcher: launcherFor('node') });
 * for (const c of r.changes) console.log(`${c.server}: ${c.detail}`);
 */
export function wrapFile(
  file: string,
  options: WrapOptions & { dryRun?: boolean },
): WrapFileResult {
  const target = resolveTarget(file);
  const original = readFileSync(target);
  const text = original.toString('utf8');
  const result = wrapText(text, file, options);
  const out = baseResult(target, result);
  if (result.droppedComments) {
    out.notes.push(
      'comments inside the rewritten server entries are not kept (the backup has them, and --undo restores them)',
    );
  }
  if (!result.changed || options.dryRun) return out;
  out.backup = writeBackup(target, original);
  writeAtomic(target, result.text);
  out.written = true;
  return out;
}

/**
 * Undoes `hitloop wrap`. When the file is exactly what wrapping a backup
 * produced, the backup's bytes come back (comments and all) and the backup is
 * removed; otherwise (the file was edited since) each wrapped entry is
 * unwrapped in place and the backup is left for the user.
 *
 * @example
 * unwrapFile('claude_desktop_config.json');
 */
export function unwrapFile(file: string, options: { dryRun?: boolean } = {}): WrapFileResult {
  const target = resolveTarget(file);
  const text = readFileSync(target, 'utf8');
  const format = configFormat(file, text);
  const changes = unwrapText(text, file, format).changes;
  let current = text;
  const used: string[] = [];
  const backups = listBackups(target).reverse(); // newest first
  for (const backup of backups) {
    const options = wrapOptionsOf(current, file, format);
    if (!options) break;
    const saved = readFileSync(backup, 'utf8');
    let rewrapped: string;
    try {
      // Named as the file itself: what a server's `url` means can depend on the
      // file's name (Gemini CLI's settings.json).
      rewrapped = wrapText(saved, file, options, format).text;
    } catch {
      continue; // a backup that no longer parses cannot be the original
    }
    if (rewrapped === current) {
      current = saved;
      used.push(backup);
    }
  }
  // Whatever the backups did not explain (servers wrapped or edited later).
  const rest = unwrapText(current, file, format);
  const final = rest.text;
  const out: WrapFileResult = {
    file: target,
    changes,
    changed: final !== text,
    written: false,
    restoredFrom: used,
    notes: [],
  };
  for (const backup of backups) {
    if (!used.includes(backup)) {
      out.notes.push(
        `${backup} was not used: the file changed after it was made; delete it when you no longer need it`,
      );
    }
  }
  if (!out.changed || options.dryRun) return out;
  writeAtomic(target, final);
  out.written = true;
  for (const backup of used) unlinkSync(backup);
  return out;
}

function baseResult(target: string, result: RewriteResult): WrapFileResult {
  return {
    file: target,
    changes: result.changes,
    changed: result.changed,
    written: false,
    restoredFrom: [],
    notes: [],
  };
}

/** The two file formats wrap edits. */
export type ConfigFormat = 'json' | 'toml';

/**
 * Which format a client config is in: by its extension (`.json`, `.jsonc`,
 * `.toml`), else by its content. YAML and anything else is refused, naming
 * the formats that are supported.
 *
 * @example
 * configFormat('/home/me/.codex/config.toml', text) // 'toml'
 */
export function configFormat(file: string, text: string): ConfigFormat {
  const ext = extname(file).toLowerCase();
  if (ext === '.toml') return 'toml';
  if (ext === '.json' || ext === '.jsonc') return 'json';
  const unsupported = (what: string) =>
    new ConfigError({
      file,
      problem: `${what}: hitloop wrap cannot edit this file`,
      fix: `wrap the servers by hand (see docs/proxy-config.md), or point wrap at a supported file: ${SUPPORTED_FORMATS}`,
    });
  if (ext === '.yaml' || ext === '.yml') throw unsupported('a YAML file');
  // No telling extension (a dotfile such as .mcp, a renamed copy): JSON
  // starts with `{` once comments are skipped; anything else may be TOML.
  const start = text.replace(/^(\s|\/\/[^\n]*\n|\/\*[\s\S]*?\*\/)*/, '');
  if (start.startsWith('{')) return 'json';
  try {
    parseToml(text, file);
  } catch {
    throw unsupported('neither JSON nor TOML');
  }
  return 'toml';
}

// `format` is the file's, passed along for backups (`config.toml.hitloop-backup`
// says nothing by its name).
function wrapText(
  text: string,
  file: string,
  options: WrapOptions,
  format = configFormat(file, text),
): RewriteResult {
  return format === 'toml'
    ? wrapTomlText(text, file, options)
    : wrapConfigText(text, file, options);
}

function unwrapText(text: string, file: string, format = configFormat(file, text)): RewriteResult {
  return format === 'toml' ? unwrapTomlText(text, file) : unwrapConfigText(text, file);
}

/** The launcher and --config of the first wrapped entry, to replay a wrap. */
function wrapOptionsOf(
  text: string,
  file: string,
  format = configFormat(file, text),
): WrapOptions | undefined {
  if (format === 'toml') return tomlWrapOptions(text, file);
  const { value } = parseJsonc(text, file);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  for (const { map } of serverMaps(value as Record<string, unknown>)) {
    if (map === null || typeof map !== 'object') continue;
    for (const entry of Object.values(map)) {
      if (entry === null || typeof entry !== 'object') continue;
      const wrapped = parseWrapped(entry as Record<string, unknown>);
      if (wrapped?.upstream) {
        return {
          launcher: wrapped.launcher,
          ...(wrapped.configFile !== undefined ? { configFile: wrapped.configFile } : {}),
        };
      }
    }
  }
  return undefined;
}

/** The real file behind `file` (a symlinked dotfile is edited where it lives). */
function resolveTarget(file: string): string {
  try {
    const target = realpathSync(file);
    if (!statSync(target).isFile()) {
      throw new ConfigError({
        file,
        problem: 'is not a regular file',
        fix: 'give the config file itself',
      });
    }
    return target;
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError({
      file,
      problem:
        code === 'ENOENT' ? 'file not found' : `cannot read the file (${code ?? String(err)})`,
      fix: code === 'ENOENT' ? 'check the path' : undefined,
    });
  }
}

/** Existing backups of `target`, oldest first. */
export function listBackups(target: string): string[] {
  const dir = dirname(target);
  const base = `${basename(target)}${BACKUP_SUFFIX}`;
  const found: Array<{ path: string; n: number }> = [];
  for (const name of readdirSync(dir)) {
    if (name === base) found.push({ path: join(dir, name), n: 0 });
    else if (name.startsWith(`${base}.`)) {
      const n = name.slice(base.length + 1);
      if (/^[1-9]\d*$/.test(n)) found.push({ path: join(dir, name), n: Number(n) });
    }
  }
  return found.sort((a, b) => a.n - b.n).map((f) => f.path);
}

/** Saves `bytes` to the first free backup name; never overwrites one. */
function writeBackup(target: string, bytes: Buffer): string {
  const base = `${target}${BACKUP_SUFFIX}`;
  for (let n = 0; n < 1000; n++) {
    const path = n === 0 ? base : `${base}.${n}`;
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw err;
    }
    try {
      writeSync(fd, bytes);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    chmodSync(path, 0o600);
    return path;
  }
  throw new ConfigError({
    file: target,
    problem: 'too many hitloop backups next to this file',
    fix: `remove old ${basename(base)}.N files`,
  });
}

/** Replaces `target` with `text` via a temporary file and rename, keeping mode (and owner, as root). */
function writeAtomic(target: string, text: string): void {
  const stat = statSync(target);
  const mode = stat.mode & 0o7777;
  const tmp = join(
    dirname(target),
    `.${basename(target)}.hitloop-${process.pid}-${randomBytes(4).toString('hex')}.tmp`,
  );
  const fd = openSync(tmp, 'wx', mode);
  try {
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    chmodSync(tmp, mode);
    if (process.getuid?.() === 0) {
      try {
        chownSync(tmp, stat.uid, stat.gid);
      } catch {
        // Keeping the owner is a courtesy; the content is what matters.
      }
    }
    renameSync(tmp, target);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
    throw err;
  }
}
