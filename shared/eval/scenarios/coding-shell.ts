import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';

/**
 * What a command printed and how it ended, like a process's exit status.
 *
 * @example
 * const r: ShellResult = { exitCode: 0, stdout: 'src\ntest\n', stderr: '' };
 */
export interface ShellResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * A command the interpreter refuses or cannot run, with the text a shell would print.
 *
 * @example
 * try { tokenize('ls | wc'); } catch (err) { err instanceof ShellError; } // true
 */
export class ShellError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ShellError';
  }
}

/**
 * The commands {@link SafeShell} understands.
 *
 * @example
 * SAFE_SHELL_COMMANDS.includes('rm') // true
 */
export const SAFE_SHELL_COMMANDS = [
  'ls',
  'cat',
  'grep',
  'echo',
  'pwd',
  'mkdir',
  'touch',
  'cp',
  'mv',
  'rm',
] as const;

// Characters that mean something to a real shell (pipes, redirection,
// substitution, globbing). Unquoted, they are refused rather than taken
// literally, so a command never silently means something else than it would
// in bash.
const META = new Set([
  ';',
  '|',
  '&',
  '<',
  '>',
  '$',
  '`',
  '(',
  ')',
  '*',
  '?',
  '~',
  '{',
  '}',
  '[',
  ']',
]);

/**
 * Splits a command line into words with POSIX-like quoting: single quotes,
 * double quotes (with `\"` and `\\`), backslash escapes. Refuses unquoted
 * shell metacharacters.
 *
 * @example
 * tokenize(`grep -n "a b" src/x.ts`) // ['grep', '-n', 'a b', 'src/x.ts']
 */
export function tokenize(command: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < command.length; i++) {
    const c = command[i]!;
    if (c === "'") {
      const end = command.indexOf("'", i + 1);
      if (end < 0) throw new ShellError('unterminated single quote');
      word += command.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < command.length && command[j] !== '"'; j++) {
        if (command[j] === '\\' && (command[j + 1] === '"' || command[j + 1] === '\\')) j++;
        word += command[j];
      }
      if (j >= command.length) throw new ShellError('unterminated double quote');
      inWord = true;
      i = j;
    } else if (c === '\\') {
      if (i + 1 >= command.length) throw new ShellError('trailing backslash');
      word += command[++i];
      inWord = true;
    } else if (c === ' ' || c === '\t') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else if (c === '\n' || c === '\r') {
      throw new ShellError('one command per call: newlines are not allowed');
    } else if (META.has(c)) {
      throw new ShellError(`"${c}" is not supported: no pipes, redirection, substitution or globs`);
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/**
 * A tiny interpreter for the shell-like commands a coding agent issues in
 * the coding scenario. It never starts a process: each command is a few lines
 * of `node:fs` confined to one workspace directory, so an experiment that
 * injects `rm -rf` destroys only its own scratch files. Paths must be relative
 * and stay inside the workspace.
 *
 * Supported: `ls [-a] [DIR]`, `cat FILE...`, `grep [-n] PATTERN FILE` (a fixed
 * string, not a regex), `echo WORD...`, `pwd`, `mkdir [-p] DIR...`,
 * `touch FILE...`, `cp [-r] SRC DST`, `mv SRC DST`, `rm [-r] [-f] PATH...`.
 *
 * @example
 * const shell = new SafeShell('/tmp/ws');
 * shell.run('mkdir -p build/reports').exitCode // 0
 * shell.run('cat /etc/passwd').stderr // 'cat: /etc/passwd: paths must be relative to the workspace'
 */
export class SafeShell {
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  /**
   * Runs one command line; never throws for a bad command, it returns a
   * non-zero exit code and the message on stderr.
   */
  run(command: string): ShellResult {
    let words: string[];
    try {
      words = tokenize(command);
    } catch (err) {
      return fail(`hitloop-sh: ${(err as Error).message}`, 2);
    }
    const [name, ...rest] = words;
    if (name === undefined) return fail('hitloop-sh: empty command', 2);
    try {
      switch (name) {
        case 'ls':
          return this.ls(rest);
        case 'cat':
          return ok(rest.map((p) => readFileSync(this.file(name, p), 'utf8')).join(''));
        case 'grep':
          return this.grep(rest);
        case 'echo':
          return ok(`${rest.join(' ')}\n`);
        case 'pwd':
          return ok('/workspace\n');
        case 'mkdir':
          return this.mkdir(rest);
        case 'touch':
          return this.touch(rest);
        case 'cp':
          return this.cp(rest);
        case 'mv':
          return this.mv(rest);
        case 'rm':
          return this.rm(rest);
        default:
          return fail(
            `hitloop-sh: ${name}: command not found (supported: ${SAFE_SHELL_COMMANDS.join(', ')})`,
            127,
          );
      }
    } catch (err) {
      if (err instanceof ShellError) return fail(err.message, 1);
      const code = (err as NodeJS.ErrnoException).code;
      return fail(`${name}: ${code ?? (err as Error).message}`, 1);
    }
  }

  /**
   * Resolves a workspace-relative path, refusing absolute paths and escapes.
   *
   * @example
   * shell.resolvePath('cp', 'src/a.ts') // '/tmp/ws/src/a.ts'
   */
  resolvePath(command: string, path: string): string {
    if (path === '') throw new ShellError(`${command}: empty path`);
    if (isAbsolute(path))
      throw new ShellError(`${command}: ${path}: paths must be relative to the workspace`);
    const full = resolve(this.root, path);
    const rel = relative(this.root, full);
    if (rel.startsWith('..') || isAbsolute(rel))
      throw new ShellError(`${command}: ${path}: outside the workspace`);
    return full;
  }

  private file(command: string, path: string): string {
    const full = this.resolvePath(command, path);
    if (!existsSync(full)) throw new ShellError(`${command}: ${path}: No such file or directory`);
    if (statSync(full).isDirectory()) throw new ShellError(`${command}: ${path}: Is a directory`);
    return full;
  }

  private ls(args: string[]): ShellResult {
    const { flags, operands } = parseFlags('ls', args, 'a');
    const target = this.resolvePath('ls', operands[0] ?? '.');
    if (!existsSync(target))
      throw new ShellError(`ls: ${operands[0] ?? '.'}: No such file or directory`);
    if (!statSync(target).isDirectory()) return ok(`${operands[0]}\n`);
    const names = readdirSync(target)
      .filter((n) => flags.has('a') || !n.startsWith('.'))
      .sort();
    return ok(names.length ? `${names.join('\n')}\n` : '');
  }

  private grep(args: string[]): ShellResult {
    const { flags, operands } = parseFlags('grep', args, 'n');
    const [pattern, path] = operands;
    if (pattern === undefined || path === undefined || operands.length > 2)
      throw new ShellError('grep: usage: grep [-n] PATTERN FILE');
    const lines = readFileSync(this.file('grep', path), 'utf8').split('\n');
    const hits = lines
      .map((line, i) => [i + 1, line] as const)
      .filter(([, line]) => line.includes(pattern))
      .map(([n, line]) => (flags.has('n') ? `${n}:${line}` : line));
    return hits.length ? ok(`${hits.join('\n')}\n`) : { exitCode: 1, stdout: '', stderr: '' };
  }

  private mkdir(args: string[]): ShellResult {
    const { flags, operands } = parseFlags('mkdir', args, 'p');
    if (operands.length === 0) throw new ShellError('mkdir: missing operand');
    for (const p of operands) {
      const full = this.resolvePath('mkdir', p);
      if (existsSync(full) && !flags.has('p')) throw new ShellError(`mkdir: ${p}: File exists`);
      mkdirSync(full, { recursive: flags.has('p') });
    }
    return ok('');
  }

  private touch(args: string[]): ShellResult {
    if (args.length === 0) throw new ShellError('touch: missing file operand');
    for (const p of args) {
      const full = this.resolvePath('touch', p);
      if (!existsSync(full)) writeFileSync(full, '');
    }
    return ok('');
  }

  private cp(args: string[]): ShellResult {
    const { flags, operands } = parseFlags('cp', args, 'r');
    const [src, dst] = operands;
    if (src === undefined || dst === undefined || operands.length > 2)
      throw new ShellError('cp: usage: cp [-r] SRC DST');
    const from = this.resolvePath('cp', src);
    if (!existsSync(from)) throw new ShellError(`cp: ${src}: No such file or directory`);
    if (statSync(from).isDirectory() && !flags.has('r'))
      throw new ShellError(`cp: -r not specified; omitting directory '${src}'`);
    cpSync(from, this.destination('cp', dst, from), { recursive: true });
    return ok('');
  }

  private mv(args: string[]): ShellResult {
    const [src, dst, extra] = args;
    if (src === undefined || dst === undefined || extra !== undefined)
      throw new ShellError('mv: usage: mv SRC DST');
    const from = this.resolvePath('mv', src);
    if (!existsSync(from)) throw new ShellError(`mv: ${src}: No such file or directory`);
    renameSync(from, this.destination('mv', dst, from));
    return ok('');
  }

  private rm(args: string[]): ShellResult {
    const { flags, operands } = parseFlags('rm', args, 'rRf');
    if (operands.length === 0) throw new ShellError('rm: missing operand');
    const recursive = flags.has('r') || flags.has('R');
    for (const p of operands) {
      const full = this.resolvePath('rm', p);
      // Like coreutils: the workspace itself is never removed.
      if (full === this.root) throw new ShellError(`rm: refusing to remove '${p}'`);
      if (!existsSync(full)) {
        if (flags.has('f')) continue;
        throw new ShellError(`rm: ${p}: No such file or directory`);
      }
      if (statSync(full).isDirectory() && !recursive)
        throw new ShellError(`rm: ${p}: is a directory`);
      rmSync(full, { recursive: true, force: true });
    }
    return ok('');
  }

  /** `cp a dir/` and `mv a dir` put the file inside an existing directory, as a shell does. */
  private destination(command: string, dst: string, from: string): string {
    const to = this.resolvePath(command, dst);
    const target =
      existsSync(to) && statSync(to).isDirectory() ? join(to, from.split(sep).pop()!) : to;
    const parent = resolve(target, '..');
    if (!existsSync(parent)) throw new ShellError(`${command}: ${dst}: No such file or directory`);
    return target;
  }
}

function ok(stdout: string): ShellResult {
  return { exitCode: 0, stdout, stderr: '' };
}

function fail(stderr: string, exitCode: number): ShellResult {
  return { exitCode, stdout: '', stderr };
}

/** Splits `-rf`-style flags (from the allowed letters) from operands; `--` ends flags. */
function parseFlags(
  command: string,
  args: string[],
  allowed: string,
): { flags: Set<string>; operands: string[] } {
  const flags = new Set<string>();
  const operands: string[] = [];
  let flagsDone = false;
  for (const arg of args) {
    if (!flagsDone && arg === '--') flagsDone = true;
    else if (!flagsDone && arg.startsWith('-') && arg.length > 1) {
      for (const letter of arg.slice(1)) {
        if (!allowed.includes(letter))
          throw new ShellError(`${command}: invalid option -- '${letter}'`);
        flags.add(letter);
      }
    } else operands.push(arg);
  }
  return { flags, operands };
}
