// Where each key/value pair of a TOML document is, as byte offsets into its
// text. smol-toml parses TOML into values but forgets positions; `hitloop
// wrap` must change two values of one table and leave every other byte alone
// (comments, order, quoting), so that --undo gives back the file byte for
// byte. The text has already been parsed by smol-toml when this runs, so the
// scanner only needs to follow valid TOML; anything else is reported.

/** One `key = value` as written in the text. */
export interface TomlKeyval {
  /** The full key: the enclosing table's path, then the dotted key, decoded. */
  path: string[];
  /** Offset of the first character of the key as written. */
  keyStart: number;
  /** Offset of the last dotted segment of the key (`command` in `fs.command`). */
  lastKeyStart: number;
  valueStart: number;
  valueEnd: number;
  /** True inside an inline table `{ ... }`, where pairs are comma-separated on one line. */
  inline: boolean;
  /** True when the value (an array written over several lines) holds a comment. */
  commentInValue: boolean;
  /** For an array value, where each element is. */
  elements?: Array<{ start: number; end: number }>;
}

/**
 * Lists every key/value pair of a (valid) TOML document with its position.
 * Arrays of tables (`[[x]]`) get their index as a path segment, `[[x]]` number
 * 0 being `x`, `#0`.
 *
 * @example
 * scanToml('[mcp_servers.fs]\ncommand = "npx"\n')
 * // [{ path: ['mcp_servers', 'fs', 'command'], keyStart: 17, valueStart: 27, valueEnd: 32, ... }]
 */
export function scanToml(text: string): TomlKeyval[] {
  return new Scanner(text).document();
}

class Scanner {
  private at = 0;
  private readonly out: TomlKeyval[] = [];
  private readonly arrayTables = new Map<string, number>();
  private commentSeen = false;

  constructor(private readonly text: string) {}

  document(): TomlKeyval[] {
    let table: string[] = [];
    for (;;) {
      this.skipBlank(true);
      if (this.at >= this.text.length) return this.out;
      const c = this.text[this.at];
      if (c === '[') {
        const array = this.text[this.at + 1] === '[';
        this.at += array ? 2 : 1;
        const key = this.key();
        this.skipBlank(false);
        this.expect(array ? ']]' : ']');
        if (array) {
          const id = JSON.stringify(key);
          const n = (this.arrayTables.get(id) ?? -1) + 1;
          this.arrayTables.set(id, n);
          table = [...key, `#${n}`];
        } else {
          // A table under an array table belongs to its latest element.
          table = this.underArrayTables(key);
        }
      } else {
        this.keyval(table, false);
      }
      this.endOfLine();
    }
  }

  private underArrayTables(key: string[]): string[] {
    const out: string[] = [];
    for (let i = 0; i < key.length; i++) {
      out.push(key[i]!);
      const n = this.arrayTables.get(JSON.stringify(key.slice(0, i + 1)));
      if (n !== undefined && i < key.length - 1) out.push(`#${n}`);
    }
    return out;
  }

  private keyval(table: string[], inline: boolean): void {
    const keyStart = this.at;
    const { key, lastStart } = this.keyWithLast();
    this.skipBlank(false);
    this.expect('=');
    this.skipBlank(false);
    const valueStart = this.at;
    this.commentSeen = false;
    const elements = this.value([...table, ...key]);
    this.out.push({
      path: [...table, ...key],
      keyStart,
      lastKeyStart: lastStart,
      valueStart,
      valueEnd: this.at,
      inline,
      commentInValue: this.commentSeen,
      ...(elements ? { elements } : {}),
    });
  }

  private key(): string[] {
    return this.keyWithLast().key;
  }

  private keyWithLast(): { key: string[]; lastStart: number } {
    const key: string[] = [];
    let lastStart = this.at;
    for (;;) {
      this.skipBlank(false);
      lastStart = this.at;
      const c = this.text[this.at];
      if (c === '"') key.push(this.basicString());
      else if (c === "'") key.push(this.literalString());
      else {
        const m = /^[A-Za-z0-9_-]+/.exec(this.text.slice(this.at, this.at + 256));
        if (!m) this.fail('a key');
        key.push(m![0]);
        this.at += m![0].length;
      }
      this.skipBlank(false);
      if (this.text[this.at] !== '.') return { key, lastStart };
      this.at++;
    }
  }

  /** Consumes one value; for an array, returns where its elements are. */
  private value(path: string[]): Array<{ start: number; end: number }> | undefined {
    const c = this.text[this.at];
    if (c === '"') {
      if (this.text.startsWith('"""', this.at)) this.multilineString('"""');
      else this.basicString();
    } else if (c === "'") {
      if (this.text.startsWith("'''", this.at)) this.multilineString("'''");
      else this.literalString();
    } else if (c === '[') {
      this.at++;
      const elements: Array<{ start: number; end: number }> = [];
      for (;;) {
        this.skipBlank(true);
        if (this.text[this.at] === ']') break;
        const start = this.at;
        // Inline tables inside an array are that element's, not the array's.
        this.value([...path, `#${elements.length}`]);
        elements.push({ start, end: this.at });
        this.skipBlank(true);
        if (this.text[this.at] === ',') this.at++;
        else if (this.text[this.at] !== ']') this.fail("',' or ']'");
      }
      this.at++;
      return elements;
    } else if (c === '{') {
      this.at++;
      this.skipBlank(false);
      if (this.text[this.at] === '}') {
        this.at++;
        return undefined;
      }
      const seen = this.commentSeen;
      for (;;) {
        this.keyval(path, true);
        this.skipBlank(false);
        if (this.text[this.at] === ',') {
          this.at++;
          this.skipBlank(false);
        } else break;
      }
      this.commentSeen = seen;
      this.expect('}');
    } else {
      // Numbers, booleans, dates: up to a delimiter. A date and a time may be
      // separated by one space (`1979-05-27 07:32:00`).
      const m = /^[^\s,\]}#]+/.exec(this.text.slice(this.at, this.at + 128));
      if (!m) this.fail('a value');
      this.at += m![0].length;
      if (/^\d{4}-\d{2}-\d{2}$/.test(m![0]) && /^ \d/.test(this.text.slice(this.at, this.at + 2))) {
        this.at++;
        this.at += /^[^\s,\]}#]+/.exec(this.text.slice(this.at, this.at + 128))![0].length;
      }
    }
    return undefined;
  }

  private basicString(): string {
    const start = this.at;
    this.at++;
    for (;;) {
      const c = this.text[this.at];
      if (c === undefined || c === '\n') this.fail('a closing "');
      if (c === '\\') this.at += 2;
      else if (c === '"') break;
      else this.at++;
    }
    this.at++;
    return decodeBasic(this.text.slice(start + 1, this.at - 1));
  }

  private literalString(): string {
    const end = this.text.indexOf("'", this.at + 1);
    if (end === -1) this.fail("a closing '");
    const value = this.text.slice(this.at + 1, end);
    this.at = end + 1;
    return value;
  }

  private multilineString(quote: string): void {
    let i = this.at + 3;
    for (;;) {
      if (i >= this.text.length) this.fail(`a closing ${quote}`);
      if (quote === '"""' && this.text[i] === '\\') {
        i += 2;
        continue;
      }
      if (this.text.startsWith(quote, i)) {
        // Up to two more quotes may end the string's content (`""""` ends with `"`).
        let end = i + 3;
        while (end < i + 5 && this.text[end] === quote[0]) end++;
        this.at = end;
        return;
      }
      i++;
    }
  }

  /** Spaces and tabs; with `lines`, also newlines and comments. */
  private skipBlank(lines: boolean): void {
    for (;;) {
      const c = this.text[this.at];
      if (c === ' ' || c === '\t') this.at++;
      else if (lines && (c === '\n' || c === '\r')) this.at++;
      else if (lines && c === '#') {
        this.commentSeen = true;
        this.skipComment();
      } else return;
    }
  }

  private skipComment(): void {
    const nl = this.text.indexOf('\n', this.at);
    this.at = nl === -1 ? this.text.length : nl;
  }

  private endOfLine(): void {
    this.skipBlank(false);
    if (this.text[this.at] === '#') this.skipComment();
    if (this.text[this.at] === '\r') this.at++;
    if (this.at < this.text.length && this.text[this.at] !== '\n') this.fail('the end of the line');
    this.at++;
  }

  private expect(token: string): void {
    if (!this.text.startsWith(token, this.at)) this.fail(`'${token}'`);
    this.at += token.length;
  }

  private fail(what: string): never {
    throw new Error(`TOML scanner: expected ${what} at offset ${this.at}`);
  }
}

/** The value of a basic string's content (TOML escapes, a superset of JSON's by `\U` and `\e`). */
function decodeBasic(raw: string): string {
  return raw.replace(/\\(U[0-9A-Fa-f]{8}|u[0-9A-Fa-f]{4}|x[0-9A-Fa-f]{2}|.)/g, (_, e: string) => {
    const hex = e.length > 1 ? Number.parseInt(e.slice(1), 16) : Number.NaN;
    if (!Number.isNaN(hex)) return String.fromCodePoint(hex);
    return (
      (
        { b: '\b', t: '\t', n: '\n', f: '\f', r: '\r', e: '\x1b', '"': '"', '\\': '\\' } as Record<
          string,
          string
        >
      )[e] ?? e
    );
  });
}

/**
 * A TOML basic string for `value`: JSON's escapes are all valid TOML, and
 * TOML also forbids a raw DEL.
 *
 * @example
 * tomlString('C:\\tools\\node.exe') // '"C:\\\\tools\\\\node.exe"'
 */
export function tomlString(value: string): string {
  return JSON.stringify(value).replace(/\x7f/g, '\\u007F');
}

/**
 * A one-line TOML array of strings.
 *
 * @example
 * tomlStringArray(['-y', 'srv']) // '["-y", "srv"]'
 */
export function tomlStringArray(values: readonly string[]): string {
  return `[${values.map(tomlString).join(', ')}]`;
}
