import picomatch from 'picomatch';

// One glob dialect for every glob a user writes: picomatch's. Tool names and
// argument paths differ in one point only, set by the options below.

/**
 * Tool names are not paths: `*` matches any run of characters, `/` and `.`
 * included (picomatch's `bash` mode), so `*delete*` still catches a tool
 * named `admin/delete_all`. `?` matches one character other than `/`.
 */
const TOOL_NAME = { dot: true, bash: true } as const;

/** Argument paths are paths: `*` stays within a folder, `**` crosses folders; dot files match. */
const PATH = { dot: true } as const;

/** The tool-name glob syntax, said once: in the config JSON schema's descriptions and the docs. */
export const TOOL_GLOB_SYNTAX =
  'Glob over the tool name: * any run of characters, ? one character, [abc] or [a-z] one of a set, {read,list} one of several alternatives; the whole name must match, case sensitive; no leading !.';

/**
 * Compiles a glob over tool names (rules' `tool`, `approval.toolTimeouts`,
 * `proxy.executionTimeouts`) once, into a RegExp tested per call. Syntax:
 * `*` any run of characters, `?` one character, `[abc]` / `[a-z]` / `[^a]`
 * one of a set, `{read,list}` one of several alternatives. Matching is case
 * sensitive and covers the whole name.
 *
 * @example
 * toolNameGlob('{read,list}_*').test('list_directory') // true
 * toolNameGlob('fs__write_*').test('fs__read_file') // false
 */
export function toolNameGlob(glob: string): RegExp {
  return picomatch.makeRe(glob, TOOL_NAME);
}

/**
 * Compiles a glob over a path (rules' `args: { path: { glob } }`) once. Same
 * syntax as {@link toolNameGlob}, except that `*` and `?` stop at `/` and
 * `**` matches any number of folders.
 *
 * @example
 * pathGlob('/tmp/**')('/tmp/a/b.txt') // true
 * pathGlob('/tmp/*')('/tmp/a/b.txt') // false
 */
export function pathGlob(glob: string): (path: string) => boolean {
  return picomatch(glob, PATH);
}

/**
 * Why a tool-name glob cannot be used, or undefined. A leading `!` is refused
 * rather than taken as negation: a rule's `tool` is tried against both the
 * bare and the server-prefixed name, so `!fs__*` would match the bare name of
 * every fs tool.
 *
 * @example
 * toolGlobProblem('!fs__*') // 'a tool glob cannot start with "!" ...'
 */
export function toolGlobProblem(glob: string): string | undefined {
  if (glob.startsWith('!'))
    return 'a tool glob cannot start with "!" (negation is not supported: a rule\'s tool is matched against both the bare and the server-prefixed name); list the tools the rule covers instead, and let another rule or the default take the rest';
  return undefined;
}
