import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';

// What a file-writing tool call would do to a file, for "Show diff". No
// `vscode` import: the unit tests run it directly.

export interface TextEdit {
  oldText: string;
  newText: string;
}

/** A tool call recognised as writing one file. */
export type ProposedFileChange =
  | { kind: 'write'; path: string; content: string }
  | { kind: 'edit'; path: string; edits: TextEdit[] };

const WRITE_TOOLS = /(^|[_\W])(write_file|create_file|write|create|overwrite_file|save_file)$/i;
const EDIT_TOOLS = /(^|[_\W])(edit_file|edit|str_replace|replace_in_file)$/i;

/**
 * Recognises a file-writing call: server-filesystem's `write_file(path,
 * content)` and `edit_file(path, edits[{oldText,newText}])`, and tools of the
 * same shape under similar names (`create_file`, `fs__write_file`). Relative
 * paths are resolved against `cwd`, and `~` against the home folder, as
 * server-filesystem does.
 *
 * @example
 * proposedFileChange('write_file', { path: 'a.txt', content: 'hi' }, '/work')
 * // { kind: 'write', path: '/work/a.txt', content: 'hi' }
 */
export function proposedFileChange(
  tool: string,
  args: Record<string, unknown>,
  cwd: string | undefined,
): ProposedFileChange | undefined {
  const rawPath = [args.path, args.file_path, args.filePath, args.file].find(
    (p): p is string => typeof p === 'string' && p !== '',
  );
  if (rawPath === undefined) return undefined;
  const path = resolvePath(rawPath, cwd);
  if (WRITE_TOOLS.test(tool)) {
    const content = [args.content, args.text, args.contents].find(
      (c): c is string => typeof c === 'string',
    );
    if (content !== undefined) return { kind: 'write', path, content };
  }
  if (EDIT_TOOLS.test(tool)) {
    const edits = parseEdits(args.edits);
    if (edits) return { kind: 'edit', path, edits };
    // str_replace-style tools: one edit in old_str/new_str.
    const oldText = args.old_str ?? args.oldText ?? args.old_string;
    const newText = args.new_str ?? args.newText ?? args.new_string;
    if (typeof oldText === 'string' && typeof newText === 'string')
      return { kind: 'edit', path, edits: [{ oldText, newText }] };
  }
  return undefined;
}

function parseEdits(value: unknown): TextEdit[] | undefined {
  if (!Array.isArray(value) || value.length === 0) return undefined;
  const edits: TextEdit[] = [];
  for (const e of value) {
    if (e === null || typeof e !== 'object') return undefined;
    const { oldText, newText } = e as Record<string, unknown>;
    if (typeof oldText !== 'string' || typeof newText !== 'string') return undefined;
    edits.push({ oldText, newText });
  }
  return edits;
}

function resolvePath(path: string, cwd: string | undefined): string {
  if (path === '~' || path.startsWith('~/')) return join(homedir(), path.slice(1));
  if (isAbsolute(path)) return path;
  return cwd ? resolve(cwd, path) : resolve(path);
}

const normalizeLineEndings = (text: string) => text.replace(/\r\n/g, '\n');

/**
 * Applies edits the way server-filesystem's edit_file does, so the preview
 * matches what will be written: line endings normalised, each edit replaces
 * the first exact match, else the first run of lines equal up to surrounding
 * whitespace (keeping the file's indentation).
 *
 * @example
 * applyEdits('a\nb\n', [{ oldText: 'b', newText: 'c' }]) // { ok: true, text: 'a\nc\n' }
 */
export function applyEdits(
  original: string,
  edits: readonly TextEdit[],
): { ok: true; text: string } | { ok: false; message: string } {
  let text = normalizeLineEndings(original);
  for (const [index, edit] of edits.entries()) {
    const oldText = normalizeLineEndings(edit.oldText);
    const newText = normalizeLineEndings(edit.newText);
    if (text.includes(oldText)) {
      text = text.replace(oldText, () => newText);
      continue;
    }
    const oldLines = oldText.split('\n');
    const lines = text.split('\n');
    let matched = false;
    for (let i = 0; i <= lines.length - oldLines.length; i++) {
      const window = lines.slice(i, i + oldLines.length);
      if (!oldLines.every((line, j) => line.trim() === window[j]?.trim())) continue;
      const indent = lines[i]?.match(/^\s*/)?.[0] ?? '';
      const replacement = newText.split('\n').map((line, j) => {
        if (j === 0) return indent + line.trimStart();
        const oldIndent = oldLines[j]?.match(/^\s*/)?.[0] ?? '';
        const newIndent = line.match(/^\s*/)?.[0] ?? '';
        if (oldIndent && newIndent) {
          return (
            indent + ' '.repeat(Math.max(0, newIndent.length - oldIndent.length)) + line.trimStart()
          );
        }
        return line;
      });
      lines.splice(i, oldLines.length, ...replacement);
      text = lines.join('\n');
      matched = true;
      break;
    }
    if (!matched) {
      return {
        ok: false,
        message: `edit ${index + 1} of ${edits.length} does not match the file on disk, so the tool would fail: ${JSON.stringify(edit.oldText.slice(0, 200))}`,
      };
    }
  }
  return { ok: true, text };
}
