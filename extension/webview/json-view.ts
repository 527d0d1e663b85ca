import { findHiddenCharacters } from '../../shared/util/visible-text.js';
import { h } from './dom.js';

// Tool arguments as highlighted JSON, built from text nodes and spans (never
// markup). Hidden and bidi-control characters become visible markers; the
// `\n` escapes of long strings are followed by a real line break so file
// contents read as lines; big payloads are shown a page at a time behind an
// explicit "Show N more bytes" button, never cut silently.

export type TokenKind =
  | 'key'
  | 'string'
  | 'number'
  | 'literal'
  | 'punct'
  | 'space'
  | 'hidden'
  | 'break'
  | 'note';

export interface Token {
  kind: TokenKind;
  text: string;
}

/** Characters per page: about 64 KB of arguments at a time. */
export const PAGE_CHARS = 64 * 1024;
const MAX_DEPTH = 256;

/**
 * The tokens of `value` pretty-printed as JSON (2-space indent).
 *
 * @example
 * jsonTokens({ a: 1 }).map((t) => t.text).join('') // '{\n  "a": 1\n}'
 */
export function jsonTokens(value: unknown): Token[] {
  const out: Token[] = [];
  visit(value, 0, out);
  return out;
}

function visit(value: unknown, depth: number, out: Token[]): void {
  if (depth > MAX_DEPTH) {
    out.push({ kind: 'note', text: `[nested deeper than ${MAX_DEPTH} levels: not shown here]` });
    return;
  }
  if (value === null) return void out.push({ kind: 'literal', text: 'null' });
  switch (typeof value) {
    case 'string':
      return stringTokens(value, 'string', out);
    case 'number':
      return void out.push({
        kind: 'number',
        text: Number.isFinite(value) ? String(value) : 'null',
      });
    case 'boolean':
      return void out.push({ kind: 'literal', text: String(value) });
    case 'object':
      break;
    default:
      return void out.push({ kind: 'note', text: `[${typeof value}]` });
  }
  const pad = '  '.repeat(depth + 1);
  const close = '  '.repeat(depth);
  if (Array.isArray(value)) {
    if (value.length === 0) return void out.push({ kind: 'punct', text: '[]' });
    out.push({ kind: 'punct', text: '[' });
    value.forEach((item, i) => {
      out.push({ kind: 'space', text: `\n${pad}` });
      visit(item, depth + 1, out);
      if (i < value.length - 1) out.push({ kind: 'punct', text: ',' });
    });
    out.push({ kind: 'space', text: `\n${close}` }, { kind: 'punct', text: ']' });
    return;
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) return void out.push({ kind: 'punct', text: '{}' });
  out.push({ kind: 'punct', text: '{' });
  entries.forEach(([key, child], i) => {
    out.push({ kind: 'space', text: `\n${pad}` });
    stringTokens(key, 'key', out);
    out.push({ kind: 'punct', text: ':' }, { kind: 'space', text: ' ' });
    visit(child, depth + 1, out);
    if (i < entries.length - 1) out.push({ kind: 'punct', text: ',' });
  });
  out.push({ kind: 'space', text: `\n${close}` }, { kind: 'punct', text: '}' });
}

function stringTokens(text: string, kind: 'key' | 'string', out: Token[]): void {
  // JSON escapes quotes, backslashes and C0 controls; what it leaves raw
  // (bidi controls, zero-width characters, tags) is marked below.
  const json = JSON.stringify(text);
  let last = 0;
  for (const hidden of findHiddenCharacters(json)) {
    textTokens(json.slice(last, hidden.index), kind, out);
    out.push({ kind: 'hidden', text: hidden.marker });
    last = hidden.index + hidden.length;
  }
  textTokens(json.slice(last), kind, out);
}

function textTokens(text: string, kind: 'key' | 'string', out: Token[]): void {
  if (text === '') return;
  if (kind === 'key') return void out.push({ kind, text });
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== '\\') continue;
    if (text[i + 1] === 'n') {
      out.push({ kind, text: text.slice(start, i + 2) }, { kind: 'break', text: '\n' });
      start = i + 2;
    }
    i++; // skip the escaped character
  }
  if (start < text.length) out.push({ kind, text: text.slice(start) });
}

/** UTF-8 length without allocating. */
export function utf8Length(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

/**
 * Renders tokens into a `<pre>` page by page. `render()` appends the next
 * page; `remainingBytes` says how much is still unshown (line breaks added
 * for reading are not counted).
 */
export class JsonPager {
  private index = 0;
  private offset = 0;
  private remaining: number;

  constructor(
    private readonly tokens: readonly Token[],
    private readonly target: HTMLElement,
    private readonly pageChars = PAGE_CHARS,
  ) {
    this.remaining = tokens.reduce((n, t) => n + (t.kind === 'break' ? 0 : utf8Length(t.text)), 0);
  }

  get remainingBytes(): number {
    return this.remaining;
  }

  get done(): boolean {
    return this.index >= this.tokens.length;
  }

  /** Appends up to one page. */
  render(): void {
    let budget = this.pageChars;
    const fragment = document.createDocumentFragment();
    while (budget > 0 && this.index < this.tokens.length) {
      const token = this.tokens[this.index]!;
      let piece = token.text.slice(this.offset);
      if (piece.length > budget && token.kind !== 'hidden') {
        let cut = budget;
        // Never split a surrogate pair.
        const unit = piece.charCodeAt(cut - 1);
        if (unit >= 0xd800 && unit <= 0xdbff) cut--;
        piece = piece.slice(0, Math.max(1, cut));
        this.offset += piece.length;
      } else {
        this.index++;
        this.offset = 0;
      }
      budget -= piece.length;
      if (token.kind !== 'break') this.remaining -= utf8Length(piece);
      fragment.appendChild(tokenNode(token.kind, piece));
    }
    this.target.appendChild(fragment);
  }
}

function tokenNode(kind: TokenKind, text: string): Node {
  if (kind === 'space') return document.createTextNode(text);
  if (kind === 'break')
    return h('span', { class: 'j-break', attrs: { 'aria-hidden': 'true' } }, text);
  if (kind === 'hidden')
    return h('span', { class: 'j-hidden', title: 'hidden or direction-changing character' }, text);
  return h('span', { class: `j-${kind}` }, text);
}
