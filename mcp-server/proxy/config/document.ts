import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { ConfigError } from '../../../shared/errors.js';
import { hitloopHome } from '../../../shared/hub/discovery.js';
import type { ExpandContext } from './expand.js';
import { parseJsonc } from './jsonc.js';
import { HITLOOP_SECTIONS } from './schema.js';

// Reading a config file: its text, JSONC, the top-level keys, and where its
// relative paths and variables start from. What the file says is judged in
// servers.ts and sections.ts.

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

/** A config file read and parsed, with what expanding its values needs. */
export interface ConfigDocument {
  file: string;
  /** The file, absolute. */
  path: string;
  dir: string;
  json: Record<string, unknown>;
  expand: ExpandContext;
  homeDir: string;
  warn: (message: string) => void;
}

/** Reads and parses a config file; the top-level keys are checked for misspellings. */
export function readConfigDocument(file: string, options: LoadOptions): ConfigDocument {
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

function expandTilde(path: string, homeDir: string): string {
  if (path === '~') return homeDir;
  if (path.startsWith('~/') || path.startsWith('~\\')) return join(homeDir, path.slice(2));
  return path;
}

/** `~` expanded, then relative to the config file's folder. */
export function resolvePath(path: string, doc: ConfigDocument): string {
  return resolve(doc.dir, expandTilde(path, doc.homeDir));
}

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
