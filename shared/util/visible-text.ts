/**
 * Makes invisible and display-altering characters visible before a person is
 * asked to approve text they cannot fully see.
 *
 * A tool call's arguments come from a model that may have read attacker
 * content. Zero-width characters, bidi overrides (Trojan Source), Unicode tag
 * characters ("ASCII smuggling") and terminal control codes can make an
 * argument look different from what will run. Every approval channel shows
 * arguments through this module, so the reviewer sees a marker such as
 * `⟦U+202E RLO⟧` where such a character sits.
 *
 * Pure TypeScript with no `node:` imports: the VS Code webview reuses it.
 * Escaping for HTML is not done here; rendering safety is the UI's job (text
 * like `</script>` comes out verbatim).
 */

/** One hidden character found in a string. */
export interface HiddenCharacter {
  /** The code point, e.g. 0x202e. */
  codePoint: number;
  /** `U+202E` style label (at least four hex digits). */
  code: string;
  /** A short name: `RLO`, `ZWSP`, `ESC`, `TAG A`, `VS17`. */
  name: string;
  /** Position in the string, in UTF-16 code units (what `String#slice` uses). */
  index: number;
  /** Length in UTF-16 code units: 2 for astral characters such as tags. */
  length: number;
  /** The text `makeVisible` puts in its place, e.g. `⟦U+202E RLO⟧`. */
  marker: string;
}

/** A hidden character inside a JSON-like value, with where it was found. */
export interface HiddenCharacterInValue extends HiddenCharacter {
  /** Path to the string, e.g. `items[2].name` (itself made visible). */
  path: string;
  /** True when the character is in an object key rather than a string value. */
  inKey: boolean;
}

// Candidates. Some are allowed in context (see permittedRun): an emoji
// presentation selector after a base character, a ZWJ inside an emoji
// sequence, and the three RGI subdivision flags. Variation selectors are in the
// set because runs of them can carry arbitrary bytes after a single emoji.
// Built from a string: the class deliberately lists combining and format
// characters one by one, which a regex-literal lint would flag as misleading.
const HIDDEN_CLASS = String.raw`[\x00-\x08\x0B-\x1F\x7F-\x9F\xAD\u034F\u061C\u115F\u1160\u17B4\u17B5\u180E\u200B-\u200F\u2028-\u202E\u2060-\u206F\u3164\uFE00-\uFE0F\uFEFF\uFFA0\uFFF9-\uFFFB\u{E0000}-\u{E007F}\u{E0100}-\u{E01EF}\p{Cs}]`;
const HIDDEN_ALL = new RegExp(HIDDEN_CLASS, 'gu');
// Non-global twin for the fast path and single-character tests (no lastIndex state).
const HIDDEN_ONE = new RegExp(HIDDEN_CLASS, 'u');
const PICTOGRAPHIC = /^\p{Extended_Pictographic}$/u;

// biome-ignore format: a table reads better in rows
const C0_NAMES = [
  'NUL', 'SOH', 'STX', 'ETX', 'EOT', 'ENQ', 'ACK', 'BEL', 'BS', 'HT', 'LF', 'VT', 'FF', 'CR', 'SO', 'SI',
  'DLE', 'DC1', 'DC2', 'DC3', 'DC4', 'NAK', 'SYN', 'ETB', 'CAN', 'EM', 'SUB', 'ESC', 'FS', 'GS', 'RS', 'US',
];
// biome-ignore format: a table reads better in rows
const C1_NAMES = [
  'PAD', 'HOP', 'BPH', 'NBH', 'IND', 'NEL', 'SSA', 'ESA', 'HTS', 'HTJ', 'VTS', 'PLD', 'PLU', 'RI', 'SS2', 'SS3',
  'DCS', 'PU1', 'PU2', 'STS', 'CCH', 'MW', 'SPA', 'EPA', 'SOS', 'SGCI', 'SCI', 'CSI', 'ST', 'OSC', 'PM', 'APC',
];
const NAMES = new Map<number, string>([
  [0x7f, 'DEL'],
  [0xad, 'SHY'],
  [0x34f, 'CGJ'],
  [0x61c, 'ALM'],
  [0x115f, 'HANGUL CHOSEONG FILLER'],
  [0x1160, 'HANGUL JUNGSEONG FILLER'],
  [0x17b4, 'KHMER VOWEL INHERENT AQ'],
  [0x17b5, 'KHMER VOWEL INHERENT AA'],
  [0x180e, 'MVS'],
  [0x200b, 'ZWSP'],
  [0x200c, 'ZWNJ'],
  [0x200d, 'ZWJ'],
  [0x200e, 'LRM'],
  [0x200f, 'RLM'],
  [0x2028, 'LSEP'],
  [0x2029, 'PSEP'],
  [0x202a, 'LRE'],
  [0x202b, 'RLE'],
  [0x202c, 'PDF'],
  [0x202d, 'LRO'],
  [0x202e, 'RLO'],
  [0x2060, 'WJ'],
  [0x2061, 'FUNCTION APPLICATION'],
  [0x2062, 'INVISIBLE TIMES'],
  [0x2063, 'INVISIBLE SEPARATOR'],
  [0x2064, 'INVISIBLE PLUS'],
  [0x2066, 'LRI'],
  [0x2067, 'RLI'],
  [0x2068, 'FSI'],
  [0x2069, 'PDI'],
  [0x206a, 'ISS'],
  [0x206b, 'ASS'],
  [0x206c, 'IAFS'],
  [0x206d, 'AAFS'],
  [0x206e, 'NADS'],
  [0x206f, 'NODS'],
  [0x3164, 'HANGUL FILLER'],
  [0xfeff, 'BOM'],
  [0xffa0, 'HALFWIDTH HANGUL FILLER'],
  [0xfff9, 'IAA'],
  [0xfffa, 'IAS'],
  [0xfffb, 'IAT'],
  [0xe0001, 'LANGUAGE TAG'],
  [0xe0020, 'TAG SPACE'],
  [0xe007f, 'CANCEL TAG'],
]);

const BLACK_FLAG = 0x1f3f4;
// The only tag sequences in general use: the England, Scotland and Wales flags
// (🏴 + tag letters + CANCEL TAG). A closed list, so it cannot smuggle text.
const SUBDIVISION_FLAG_TAGS = ['gbeng', 'gbsct', 'gbwls'].map(
  (code) =>
    [...code].map((c) => String.fromCodePoint(0xe0000 + c.charCodeAt(0))).join('') + '\u{E007F}',
);

function nameOf(cp: number): string {
  if (cp < 0x20) return C0_NAMES[cp] ?? 'CONTROL';
  if (cp >= 0x80 && cp <= 0x9f) return C1_NAMES[cp - 0x80] ?? 'CONTROL';
  const named = NAMES.get(cp);
  if (named) return named;
  if (cp >= 0xfe00 && cp <= 0xfe0f) return `VS${cp - 0xfe00 + 1}`;
  if (cp >= 0xe0100 && cp <= 0xe01ef) return `VS${cp - 0xe0100 + 17}`;
  if (cp > 0xe0020 && cp < 0xe007f) return `TAG ${String.fromCharCode(cp - 0xe0000)}`;
  if (cp >= 0xe0000 && cp <= 0xe007f) return 'TAG';
  if (cp >= 0xd800 && cp <= 0xdfff) return 'LONE SURROGATE';
  return 'RESERVED';
}

function codeOf(cp: number): string {
  return `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * The marker `makeVisible` shows for a code point.
 *
 * @example
 * hiddenMarker(0x202e) // '⟦U+202E RLO⟧'
 */
export function hiddenMarker(codePoint: number): string {
  return `⟦${codeOf(codePoint)} ${nameOf(codePoint)}⟧`;
}

/** The code point that ends just before `index`, and where it starts. */
function previous(text: string, index: number): { cp: number; start: number } | undefined {
  if (index <= 0) return undefined;
  const unit = text.charCodeAt(index - 1);
  if (unit >= 0xdc00 && unit <= 0xdfff && index >= 2) {
    const high = text.charCodeAt(index - 2);
    if (high >= 0xd800 && high <= 0xdbff)
      return { cp: text.codePointAt(index - 2)!, start: index - 2 };
  }
  return { cp: unit, start: index - 1 };
}

function isHidden(cp: number): boolean {
  return HIDDEN_ONE.test(String.fromCodePoint(cp));
}

function isPictographic(cp: number | undefined): boolean {
  return cp !== undefined && PICTOGRAPHIC.test(String.fromCodePoint(cp));
}

/**
 * Length of an allowed run starting at `index` (0 when the character there must
 * be flagged). Keeps ordinary emoji intact: ❤️, 👩🏽‍💻, 🏳️‍🌈, 🏴󠁧󠁢󠁳󠁣󠁴󠁿.
 */
function permittedRun(text: string, index: number, cp: number): number {
  if (cp === 0xfe0e || cp === 0xfe0f) {
    // One presentation selector after a visible base is how emoji are written;
    // a second selector, or one after another hidden character, is not.
    const prev = previous(text, index);
    return prev && !isHidden(prev.cp) ? 1 : 0;
  }
  if (cp === 0x200d) {
    let prev = previous(text, index);
    // Skip one presentation selector or skin-tone modifier: 🏳️‍🌈, 👩🏽‍💻.
    if (prev && (prev.cp === 0xfe0f || (prev.cp >= 0x1f3fb && prev.cp <= 0x1f3ff))) {
      prev = previous(text, prev.start);
    }
    return isPictographic(prev?.cp) && isPictographic(text.codePointAt(index + 1)) ? 1 : 0;
  }
  if (cp >= 0xe0020 && cp <= 0xe007f && previous(text, index)?.cp === BLACK_FLAG) {
    for (const tags of SUBDIVISION_FLAG_TAGS) if (text.startsWith(tags, index)) return tags.length;
  }
  return 0;
}

/**
 * Lists the hidden characters in `text`, in order. Characters that are part of
 * ordinary emoji (presentation selectors, ZWJ between pictographs, the
 * England/Scotland/Wales flag tags) are not reported. `\n` and `\t` are
 * ordinary; `\r` and every other control character are reported.
 *
 * @example
 * findHiddenCharacters('pay\u202Eusd').map((h) => `${h.code} ${h.name} @${h.index}`)
 * // ['U+202E RLO @3']
 */
export function findHiddenCharacters(text: string): HiddenCharacter[] {
  const found: HiddenCharacter[] = [];
  // Fast path: almost all text has none, and one regex test is far cheaper
  // than walking code points in JavaScript.
  if (!HIDDEN_ONE.test(text)) return found;
  let skipUntil = -1;
  for (const match of text.matchAll(HIDDEN_ALL)) {
    const index = match.index;
    if (index < skipUntil) continue;
    const cp = match[0].codePointAt(0)!;
    const run = permittedRun(text, index, cp);
    if (run > 0) {
      skipUntil = index + run;
      continue;
    }
    found.push({
      codePoint: cp,
      code: codeOf(cp),
      name: nameOf(cp),
      index,
      length: match[0].length,
      marker: hiddenMarker(cp),
    });
  }
  return found;
}

/**
 * Returns `text` with every hidden character replaced by a visible marker.
 * Everything else, including emoji, astral characters and markup such as
 * `</script>`, comes out unchanged.
 *
 * @example
 * makeVisible('transfer\u200B to\u202Eevil') // 'transfer⟦U+200B ZWSP⟧ to⟦U+202E RLO⟧evil'
 */
export function makeVisible(text: string): string {
  const found = findHiddenCharacters(text);
  if (found.length === 0) return text;
  let out = '';
  let last = 0;
  for (const hidden of found) {
    out += text.slice(last, hidden.index) + hidden.marker;
    last = hidden.index + hidden.length;
  }
  return out + text.slice(last);
}

/**
 * Walks a JSON-like value (object keys and string values, nested arrays and
 * objects) and lists every hidden character with the path to where it is.
 * Use it for warnings: JSON text escapes C0 controls as `\u001b`, so scanning
 * the pretty-printed JSON would miss those.
 *
 * @example
 * findHiddenInValue({ to: 'a\u200Bb', cc: ['x\u202E'] }).map((h) => `${h.path}: ${h.name}`)
 * // ['to: ZWSP', 'cc[0]: RLO']
 */
export function findHiddenInValue(value: unknown): HiddenCharacterInValue[] {
  const out: HiddenCharacterInValue[] = [];
  const ancestors = new Set<object>();
  const visit = (node: unknown, path: string, depth: number): void => {
    if (typeof node === 'string') {
      for (const h of findHiddenCharacters(node)) out.push({ ...h, path, inKey: false });
      return;
    }
    // Arguments come from JSON, but guard against cycles and absurd depth so a
    // display helper can never hang or overflow the stack.
    if (node === null || typeof node !== 'object' || depth > 64 || ancestors.has(node)) return;
    ancestors.add(node);
    if (Array.isArray(node)) {
      node.forEach((item, i) => {
        visit(item, `${path}[${i}]`, depth + 1);
      });
    } else {
      for (const [key, child] of Object.entries(node)) {
        const childPath = joinPath(path, key);
        for (const h of findHiddenCharacters(key)) out.push({ ...h, path: childPath, inKey: true });
        visit(child, childPath, depth + 1);
      }
    }
    ancestors.delete(node);
  };
  visit(value, '', 0);
  return out;
}

function joinPath(parent: string, key: string): string {
  const shown = /^[A-Za-z_$][\w$]*$/.test(key) ? key : `[${JSON.stringify(makeVisible(key))}]`;
  if (shown.startsWith('[')) return parent + shown;
  return parent ? `${parent}.${shown}` : shown;
}

/**
 * A one-line summary for a warning, or `''` when nothing was found.
 *
 * @example
 * summarizeHiddenCharacters(findHiddenInValue({ to: 'a\u200Bb\u202E' }))
 * // '2 hidden characters: U+200B ZWSP in to, U+202E RLO in to'
 */
export function summarizeHiddenCharacters(
  found: ReadonlyArray<HiddenCharacter | HiddenCharacterInValue>,
  max = 5,
): string {
  if (found.length === 0) return '';
  const items = found.slice(0, max).map((h) => {
    const where = 'path' in h && h.path ? ` in ${h.inKey ? 'key ' : ''}${h.path}` : '';
    return `${h.code} ${h.name}${where}`;
  });
  const more = found.length > max ? `, and ${found.length - max} more` : '';
  const noun = found.length === 1 ? 'hidden character' : 'hidden characters';
  return `${found.length} ${noun}: ${items.join(', ')}${more}`;
}

/**
 * Pretty-prints tool arguments as JSON (2-space indent) with hidden characters
 * made visible. Never throws: a value JSON cannot represent (a cycle, a
 * BigInt) still produces readable text, because a display helper that throws
 * would leave the reviewer with nothing to look at.
 *
 * @example
 * formatArgsForDisplay({ to: 'bob\u202E' })
 * // '{\n  "to": "bob⟦U+202E RLO⟧"\n}'
 */
export function formatArgsForDisplay(args: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(
      args,
      (_key, value: unknown) => (typeof value === 'bigint' ? `${value}n` : value),
      2,
    );
  } catch (err) {
    json = `[arguments cannot be shown as JSON: ${err instanceof Error ? err.message : String(err)}]`;
  }
  return makeVisible(json ?? String(args));
}

const LINE_BREAKS = /[\n\t]/g;

/**
 * `makeVisible` for text printed on one line of a terminal (an id, a name, a
 * reason): also marks line feeds and tabs, so text from outside (a peer
 * writing to a shared store, a hub's answer) cannot start a line of its own
 * and pass it off as hitloop's.
 *
 * @example
 * visibleLine('abc\n+ approved\u001b[2J') // 'abc⟦U+000A LF⟧+ approved⟦U+001B ESC⟧[2J'
 */
export function visibleLine(text: string): string {
  return makeVisible(text).replace(LINE_BREAKS, (c) => hiddenMarker(c.charCodeAt(0)));
}

/**
 * JSON text for a terminal: every hidden character inside its strings (C1
 * controls, bidi overrides, zero-width and tag characters, which
 * `JSON.stringify` leaves as they are) is written as a `\uXXXX` escape. The
 * result parses to exactly the same value, so `--json` output stays
 * faithful and machine-readable while nothing in it can drive the terminal.
 *
 * @example
 * escapeHiddenInJson(JSON.stringify({ a: 'x\u202Ey\u009B2J' })) // '{"a":"x\\u202ey\\u009b2J"}'
 */
export function escapeHiddenInJson(json: string): string {
  if (!HIDDEN_ONE.test(json)) return json;
  return json.replace(HIDDEN_ALL, (c) =>
    [...Array(c.length).keys()]
      .map((i) => `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`)
      .join(''),
  );
}
