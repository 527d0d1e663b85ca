import { describe, expect, it } from 'vitest';
import {
  escapeHiddenInJson,
  findHiddenCharacters,
  findHiddenInValue,
  formatArgsForDisplay,
  hiddenMarker,
  makeVisible,
  summarizeHiddenCharacters,
  visibleLine,
} from '../../shared/util/visible-text.js';

const names = (text: string): string[] =>
  findHiddenCharacters(text).map((h) => `${h.code} ${h.name}`);

describe('makeVisible: each class of hidden character', () => {
  it.each([
    ['zero-width space', '\u200B', '⟦U+200B ZWSP⟧'],
    ['zero-width non-joiner', '\u200C', '⟦U+200C ZWNJ⟧'],
    ['zero-width joiner between letters', '\u200D', '⟦U+200D ZWJ⟧'],
    ['left-to-right mark', '\u200E', '⟦U+200E LRM⟧'],
    ['right-to-left mark', '\u200F', '⟦U+200F RLM⟧'],
    ['LRE', '\u202A', '⟦U+202A LRE⟧'],
    ['RLE', '\u202B', '⟦U+202B RLE⟧'],
    ['PDF', '\u202C', '⟦U+202C PDF⟧'],
    ['LRO', '\u202D', '⟦U+202D LRO⟧'],
    ['RLO', '\u202E', '⟦U+202E RLO⟧'],
    ['LRI', '\u2066', '⟦U+2066 LRI⟧'],
    ['RLI', '\u2067', '⟦U+2067 RLI⟧'],
    ['FSI', '\u2068', '⟦U+2068 FSI⟧'],
    ['PDI', '\u2069', '⟦U+2069 PDI⟧'],
    ['Arabic letter mark', '\u061C', '⟦U+061C ALM⟧'],
    ['word joiner', '\u2060', '⟦U+2060 WJ⟧'],
    ['invisible times', '\u2062', '⟦U+2062 INVISIBLE TIMES⟧'],
    ['invisible plus', '\u2064', '⟦U+2064 INVISIBLE PLUS⟧'],
    ['BOM', '\uFEFF', '⟦U+FEFF BOM⟧'],
    ['soft hyphen', '\u00AD', '⟦U+00AD SHY⟧'],
    ['NUL', '\u0000', '⟦U+0000 NUL⟧'],
    ['ESC (terminal escape)', '\u001B', '⟦U+001B ESC⟧'],
    ['carriage return', '\r', '⟦U+000D CR⟧'],
    ['DEL', '\u007F', '⟦U+007F DEL⟧'],
    ['C1 NEL', '\u0085', '⟦U+0085 NEL⟧'],
    ['C1 CSI', '\u009B', '⟦U+009B CSI⟧'],
    ['line separator', '\u2028', '⟦U+2028 LSEP⟧'],
    ['paragraph separator', '\u2029', '⟦U+2029 PSEP⟧'],
    ['tag A', '\u{E0041}', '⟦U+E0041 TAG A⟧'],
    ['language tag', '\u{E0001}', '⟦U+E0001 LANGUAGE TAG⟧'],
    ['cancel tag', '\u{E007F}', '⟦U+E007F CANCEL TAG⟧'],
    ['Hangul filler', '\u3164', '⟦U+3164 HANGUL FILLER⟧'],
    ['lone surrogate', '\uD800', '⟦U+D800 LONE SURROGATE⟧'],
  ])('%s', (_label, ch, marker) => {
    expect(makeVisible(`a${ch}b`)).toBe(`a${marker}b`);
    const [found, ...rest] = findHiddenCharacters(`a${ch}b`);
    expect(rest).toEqual([]);
    expect(found?.index).toBe(1);
    expect(found?.codePoint).toBe(ch.codePointAt(0));
    expect(found?.marker).toBe(marker);
  });

  it('keeps newline and tab', () => {
    expect(makeVisible('line one\n\tline two')).toBe('line one\n\tline two');
    expect(findHiddenCharacters('a\nb\tc')).toEqual([]);
  });

  it('reveals ASCII smuggled in tag characters', () => {
    const smuggled = [...'rm -rf']
      .map((c) => String.fromCodePoint(0xe0000 + c.charCodeAt(0)))
      .join('');
    expect(makeVisible(`ok${smuggled}`)).toBe(
      'ok⟦U+E0072 TAG r⟧⟦U+E006D TAG m⟧⟦U+E0020 TAG SPACE⟧⟦U+E002D TAG -⟧⟦U+E0072 TAG r⟧⟦U+E0066 TAG f⟧',
    );
  });

  it('flags runs of variation selectors (data smuggled after an emoji)', () => {
    expect(names('😀\u{E0100}\u{E0101}')).toEqual(['U+E0100 VS17', 'U+E0101 VS18']);
    expect(names('x\uFE0F\uFE0F')).toEqual(['U+FE0F VS16']);
    expect(names('\uFE0Fstart')).toEqual(['U+FE0F VS16']);
    expect(names('a\uFE01')).toEqual(['U+FE01 VS2']);
  });

  it('gives indexes in UTF-16 units after astral characters', () => {
    const text = '𝒳😀\u202Ex\u{E0041}';
    const found = findHiddenCharacters(text);
    expect(found.map((h) => [h.index, h.length])).toEqual([
      [4, 1],
      [6, 2],
    ]);
    expect(text.slice(found[1]!.index, found[1]!.index + found[1]!.length)).toBe('\u{E0041}');
  });

  it('shows a mixed Trojan Source string', () => {
    const text = 'access_level = "user\u202E \u2066// Check if admin\u2069 \u2066"';
    expect(makeVisible(text)).toBe(
      'access_level = "user⟦U+202E RLO⟧ ⟦U+2066 LRI⟧// Check if admin⟦U+2069 PDI⟧ ⟦U+2066 LRI⟧"',
    );
  });
});

describe('makeVisible: ordinary text is untouched', () => {
  it.each([
    ['plain ASCII', 'Hello, world! 123'],
    ['accents and CJK', 'Café naïve 日本語 한국어 Ελληνικά'],
    ['astral letters', '𝒳𝓎𝓏 𐐷 𠜎'],
    ['simple emoji', '😀 🎉 🚀'],
    ['emoji with presentation selector', '❤\uFE0F ☺\uFE0F 1\uFE0F⃣'],
    ['skin tones', '👍🏽 👩🏿'],
    ['ZWJ family', '👨\u200D👩\u200D👧\u200D👦'],
    ['ZWJ with skin tone', '👩🏽\u200D💻'],
    ['rainbow flag', '🏳\uFE0F\u200D🌈'],
    ['country flags', '🇫🇷 🇯🇵'],
    [
      'subdivision flags',
      '🏴\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F} 🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F} 🏴\u{E0067}\u{E0062}\u{E0077}\u{E006C}\u{E0073}\u{E007F}',
    ],
    ['script tag', '</script><script>alert(1)</script>'],
    ['img onerror', '<img src=x onerror="alert(1)">'],
    ['empty', ''],
  ])('%s', (_label, text) => {
    expect(makeVisible(text)).toBe(text);
    expect(findHiddenCharacters(text)).toEqual([]);
  });

  it('flags tag characters after a black flag when they are not a known flag', () => {
    const fake = `🏴${[...'xxevil'].map((c) => String.fromCodePoint(0xe0000 + c.charCodeAt(0))).join('')}\u{E007F}`;
    expect(findHiddenCharacters(fake)).toHaveLength(7);
  });

  it('is fast on long clean and dirty text', () => {
    const clean = 'The quick brown fox 🦊 jumps. '.repeat(40_000); // ~1.2 MB
    const dirty = 'a\u200Bb\u202Ec😀'.repeat(20_000);
    const t0 = performance.now();
    expect(makeVisible(clean)).toBe(clean);
    expect(findHiddenCharacters(dirty)).toHaveLength(40_000);
    expect(performance.now() - t0).toBeLessThan(2_000);
  });
});

describe('findHiddenInValue and summaries', () => {
  it('reports paths for values and keys', () => {
    const found = findHiddenInValue({
      to: 'bob\u200B@example.com',
      items: [{ name: 'x\u202E' }],
      'we\u2060ird': 1,
      esc: '\u001B[2J',
    });
    expect(found.map((h) => `${h.path}|${h.name}|${h.inKey}`)).toEqual([
      'to|ZWSP|false',
      'items[0].name|RLO|false',
      '["we⟦U+2060 WJ⟧ird"]|WJ|true',
      'esc|ESC|false',
    ]);
    expect(summarizeHiddenCharacters(found, 2)).toBe(
      '4 hidden characters: U+200B ZWSP in to, U+202E RLO in items[0].name, and 2 more',
    );
    expect(summarizeHiddenCharacters([])).toBe('');
    expect(summarizeHiddenCharacters(findHiddenCharacters('a\u200B'))).toBe(
      '1 hidden character: U+200B ZWSP',
    );
  });

  it('survives cycles', () => {
    const loop: Record<string, unknown> = { s: '\u200B' };
    loop.self = loop;
    expect(findHiddenInValue(loop)).toHaveLength(1);
  });

  it('hiddenMarker names the code point', () => {
    expect(hiddenMarker(0x202e)).toBe('⟦U+202E RLO⟧');
    expect(hiddenMarker(0xe0100)).toBe('⟦U+E0100 VS17⟧');
  });
});

describe('formatArgsForDisplay', () => {
  it('pretty-prints with two spaces and makes hidden characters visible', () => {
    expect(formatArgsForDisplay({ to: 'bob\u202Emoc.live', n: 1, list: ['😀'] })).toBe(
      '{\n  "to": "bob⟦U+202E RLO⟧moc.live",\n  "n": 1,\n  "list": [\n    "😀"\n  ]\n}',
    );
  });

  it('leaves markup verbatim', () => {
    expect(formatArgsForDisplay({ html: '</script><img onerror=x>' })).toBe(
      '{\n  "html": "</script><img onerror=x>"\n}',
    );
  });

  it('never throws', () => {
    const loop: Record<string, unknown> = {};
    loop.self = loop;
    expect(formatArgsForDisplay(loop)).toMatch(/^\[arguments cannot be shown as JSON: /);
    expect(formatArgsForDisplay({ big: 10n })).toBe('{\n  "big": "10n"\n}');
    expect(formatArgsForDisplay(undefined)).toBe('undefined');
  });
});

describe('visibleLine', () => {
  it('also marks line feeds and tabs, so outside text cannot start a line of its own', () => {
    expect(visibleLine('abc\n+ approved\u001b[2J\tx')).toBe(
      'abc⟦U+000A LF⟧+ approved⟦U+001B ESC⟧[2J⟦U+0009 HT⟧x',
    );
    expect(visibleLine('plain id 01a2-ok')).toBe('plain id 01a2-ok');
  });
});

describe('escapeHiddenInJson', () => {
  it('writes C1 controls, bidi, zero-width and tag characters as \\u escapes; the value is unchanged', () => {
    const value = { a: 'x\u202Ey\u009B2J', k: 'z\u200B\u{E0041}', emoji: '👩🏽‍💻' };
    const json = escapeHiddenInJson(JSON.stringify(value));
    expect(json).not.toMatch(/[\u0080-\u009f\u200b\u202e]/u);
    expect(json).toContain('x\\u202ey\\u009b2J');
    expect(json).toContain('\\udb40\\udc41');
    expect(JSON.parse(json)).toEqual(value);
    expect(escapeHiddenInJson('{"a":1}')).toBe('{"a":1}');
  });
});
