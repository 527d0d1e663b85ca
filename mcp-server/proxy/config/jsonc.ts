import { ConfigError } from '../../../shared/errors.js';

// VS Code's mcp.json is JSONC: `//` and `/* */` comments and trailing commas.
// A small recursive-descent parser gives what JSON.parse cannot: line and
// column of a syntax error (Node 20's messages carry neither reliably), an
// error for duplicate keys (JSON.parse silently keeps the last one, so a
// second "github" server would replace the first), and `__proto__` kept as
// an ordinary key.

/**
 * How deep objects and lists may nest. Far beyond any real config, and far
 * below what would exhaust the stack here or in the code that walks the
 * value afterwards (a 20,000-deep file used to end in "Maximum call stack
 * size exceeded" instead of an error naming the file).
 */
export const MAX_JSONC_DEPTH = 256;

/** Where a value sits in the text: `text.slice(start, end)` is its source. */
export interface Span {
  start: number;
  end: number;
}

/** The result of parsing JSONC text. */
export interface JsoncDocument {
  value: unknown;
  /** True when the text had at least one comment (rewriting it loses them). */
  hasComments: boolean;
  /** The source span of an object or array in `value`, so a rewrite can touch only it. */
  spanOf(node: object): Span | undefined;
  /** True when a comment starts inside the span. */
  hasCommentIn(span: Span): boolean;
}

/**
 * Parses JSON with comments and trailing commas. Syntax errors become a
 * ConfigError naming the file, the line and the column.
 *
 * @example
 * parseJsonc('{ "servers": { /* none yet *\/ }, }', 'mcp.json').value // { servers: {} }
 */
export function parseJsonc(text: string, file: string): JsoncDocument {
  const parser = new Parser(text, file);
  const value = parser.parseDocument();
  return {
    value,
    hasComments: parser.comments.length > 0,
    spanOf: (node) => parser.spans.get(node),
    hasCommentIn: (span) => parser.comments.some((at) => at >= span.start && at < span.end),
  };
}

class Parser {
  private pos = 0;
  private depth = 0;
  /** Offsets where comments start. */
  readonly comments: number[] = [];
  readonly spans = new WeakMap<object, Span>();

  constructor(
    private readonly text: string,
    private readonly file: string,
  ) {
    // A UTF-8 byte order mark is common in files saved by Windows editors.
    if (text.charCodeAt(0) === 0xfeff) this.pos = 1;
  }

  parseDocument(): unknown {
    this.skipTrivia();
    if (this.pos >= this.text.length) this.fail('the file is empty', 'write a JSON object: { }');
    const value = this.parseValue('');
    this.skipTrivia();
    if (this.pos < this.text.length)
      this.fail(
        `unexpected ${this.describeHere()} after the end of the JSON value`,
        'remove it, or wrap everything in one { ... } object',
      );
    return value;
  }

  private parseValue(path: string): unknown {
    const ch = this.text[this.pos];
    switch (ch) {
      case '{':
        return this.parseObject(path);
      case '[':
        return this.parseArray(path);
      case '"':
        return this.parseString();
      case 't':
        return this.parseLiteral('true', true);
      case 'f':
        return this.parseLiteral('false', false);
      case 'n':
        return this.parseLiteral('null', null);
      default:
        if (ch === '-' || (ch !== undefined && ch >= '0' && ch <= '9')) return this.parseNumber();
        if (ch === "'")
          this.fail('strings must use double quotes', 'replace the single quotes with "');
        return this.fail(
          `expected a value, found ${this.describeHere()}`,
          'check for a missing value, an extra comma or an unquoted string',
        );
    }
  }

  private parseObject(path: string): Record<string, unknown> {
    const start = this.pos;
    this.enter();
    const out = this.parseMembers(path);
    this.depth--;
    this.spans.set(out, { start, end: this.pos });
    return out;
  }

  private parseMembers(path: string): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const seen = new Set<string>();
    this.pos++; // {
    for (;;) {
      this.skipTrivia();
      const ch = this.text[this.pos];
      if (ch === '}') {
        // Also a trailing comma: `{ "a": 1, }`.
        this.pos++;
        return out;
      }
      if (ch === ',') this.fail('an extra comma', 'remove the second comma');
      if (ch !== '"') {
        this.fail(
          `expected a double-quoted key, found ${this.describeHere()}`,
          ch === "'" ? 'use double quotes around keys' : 'keys must be double-quoted strings',
        );
      }
      const keyStart = this.pos;
      const key = this.parseString();
      const keyPath = path ? `${path}.${key}` : key;
      if (seen.has(key)) {
        this.pos = keyStart;
        this.fail(
          `duplicate key "${key}"${path ? ` in ${path}` : ''}`,
          'remove one of them: JSON readers disagree on which one wins',
        );
      }
      seen.add(key);
      this.skipTrivia();
      if (this.text[this.pos] !== ':')
        this.fail(`expected ':' after the key "${key}", found ${this.describeHere()}`);
      this.pos++;
      this.skipTrivia();
      const value = this.parseValue(keyPath);
      // defineProperty keeps a "__proto__" key an ordinary own property, as JSON.parse does.
      Object.defineProperty(out, key, {
        value,
        enumerable: true,
        writable: true,
        configurable: true,
      });
      this.skipTrivia();
      const next = this.text[this.pos];
      if (next === ',') {
        this.pos++;
        continue;
      }
      if (next === '}') {
        this.pos++;
        return out;
      }
      this.fail(
        `expected ',' or '}' after the value of "${key}", found ${this.describeHere()}`,
        'add the missing comma between entries, or close the object',
      );
    }
  }

  private parseArray(path: string): unknown[] {
    const start = this.pos;
    this.enter();
    const out = this.parseItems(path);
    this.depth--;
    this.spans.set(out, { start, end: this.pos });
    return out;
  }

  private parseItems(path: string): unknown[] {
    const out: unknown[] = [];
    this.pos++; // [
    for (;;) {
      this.skipTrivia();
      if (this.text[this.pos] === ']') {
        this.pos++;
        return out;
      }
      out.push(this.parseValue(`${path}[${out.length}]`));
      this.skipTrivia();
      const next = this.text[this.pos];
      if (next === ',') {
        this.pos++;
        continue;
      }
      if (next === ']') {
        this.pos++;
        return out;
      }
      this.fail(
        `expected ',' or ']' in a list, found ${this.describeHere()}`,
        'add the missing comma between items, or close the list',
      );
    }
  }

  private parseString(): string {
    const start = this.pos;
    this.pos++; // opening quote
    let out = '';
    let chunk = this.pos;
    for (;;) {
      if (this.pos >= this.text.length) {
        this.pos = start;
        this.fail('a string is not closed', 'add the closing double quote');
      }
      const code = this.text.charCodeAt(this.pos);
      if (code === 0x22) {
        out += this.text.slice(chunk, this.pos);
        this.pos++;
        return out;
      }
      if (code < 0x20) {
        this.fail(
          code === 0x0a
            ? 'a string is not closed before the end of the line'
            : 'a control character inside a string',
          code === 0x0a
            ? 'add the closing double quote'
            : 'write it as an escape such as \\t or \\u0000',
        );
      }
      if (code !== 0x5c) {
        this.pos++;
        continue;
      }
      out += this.text.slice(chunk, this.pos);
      const esc = this.text[this.pos + 1];
      switch (esc) {
        case '"':
        case '\\':
        case '/':
          out += esc;
          this.pos += 2;
          break;
        case 'b':
          out += '\b';
          this.pos += 2;
          break;
        case 'f':
          out += '\f';
          this.pos += 2;
          break;
        case 'n':
          out += '\n';
          this.pos += 2;
          break;
        case 'r':
          out += '\r';
          this.pos += 2;
          break;
        case 't':
          out += '\t';
          this.pos += 2;
          break;
        case 'u': {
          const hex = this.text.slice(this.pos + 2, this.pos + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex))
            this.fail(
              'a \\u escape needs four hex digits',
              'write it as \\u followed by 4 hex digits',
            );
          out += String.fromCharCode(Number.parseInt(hex, 16));
          this.pos += 6;
          break;
        }
        default:
          this.fail(
            `invalid escape \\${esc ?? ''} in a string`,
            'a backslash must be doubled (\\\\) in JSON, e.g. "C:\\\\Users"',
          );
      }
      chunk = this.pos;
    }
  }

  private parseNumber(): number {
    const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(this.text.slice(this.pos));
    if (!m) this.fail(`invalid number ${this.describeHere()}`);
    this.pos += m[0].length;
    return Number(m[0]);
  }

  private parseLiteral<T>(word: string, value: T): T {
    if (this.text.startsWith(word, this.pos)) {
      this.pos += word.length;
      return value;
    }
    return this.fail(
      `expected a value, found ${this.describeHere()}`,
      'strings must be double-quoted; the only bare words are true, false and null',
    );
  }

  /** One level deeper; past MAX_JSONC_DEPTH the file is refused, not the stack overflowed. */
  private enter(): void {
    if (++this.depth <= MAX_JSONC_DEPTH) return;
    const { line, column } = lineColumn(this.text, this.pos);
    throw new ConfigError({
      file: this.file,
      problem: `objects and lists are nested deeper than ${MAX_JSONC_DEPTH} levels (at line ${line}, column ${column})`,
      fix: 'flatten the structure: a hitloop or MCP config needs only a few levels',
    });
  }

  /** Skips whitespace and comments. */
  private skipTrivia(): void {
    const text = this.text;
    while (this.pos < text.length) {
      const ch = text[this.pos];
      if (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r') {
        this.pos++;
      } else if (ch === '/' && text[this.pos + 1] === '/') {
        this.comments.push(this.pos);
        const end = text.indexOf('\n', this.pos);
        this.pos = end === -1 ? text.length : end + 1;
      } else if (ch === '/' && text[this.pos + 1] === '*') {
        this.comments.push(this.pos);
        const end = text.indexOf('*/', this.pos + 2);
        if (end === -1) this.fail('a /* comment is not closed', 'add the closing */');
        this.pos = end + 2;
      } else {
        return;
      }
    }
  }

  private describeHere(): string {
    if (this.pos >= this.text.length) return 'the end of the file';
    const ch = this.text[this.pos]!;
    const word = /^[A-Za-z_$][\w$]*/.exec(this.text.slice(this.pos, this.pos + 40));
    return word ? `'${word[0]}'` : `'${ch}'`;
  }

  private fail(problem: string, fix?: string): never {
    const { line, column } = lineColumn(this.text, this.pos);
    throw new ConfigError({
      file: this.file,
      problem: `not valid JSON at line ${line}, column ${column}: ${problem}`,
      fix: fix ?? 'check quotes, commas and brackets; keys must be double-quoted',
    });
  }
}

/** 1-based line and column of a character offset. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 0x0a) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}
