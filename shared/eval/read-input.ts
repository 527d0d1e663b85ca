import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';

/**
 * Reads a file the user named, as UTF-8 text; a missing or unreadable file is
 * a ConfigError naming it, with `fix` saying what to pass instead.
 *
 * @example
 * const text = readInputFile('grid.json', 'pass the path of a sweep grid file with --grid');
 */
export function readInputFile(path: string, fix: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError({
      file: path,
      problem: code === 'ENOENT' ? 'not found' : `cannot be read (${code ?? String(err)})`,
      fix,
    });
  }
}

/**
 * Parses the JSON text of `path`; invalid JSON is a ConfigError naming the
 * file and the parser's message, with `fix` saying how to mend it.
 *
 * @example
 * const raw = parseInputJson('grid.json', text, 'check quotes, commas and brackets');
 */
export function parseInputJson(path: string, text: string, fix: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ConfigError({
      file: path,
      problem: `not valid JSON (${(err as Error).message})`,
      fix,
    });
  }
}
