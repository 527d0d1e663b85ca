import { homedir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { applyEdits, proposedFileChange } from '../../extension/src/file-edits.js';

describe('proposedFileChange', () => {
  it("recognises server-filesystem's write_file and edit_file", () => {
    expect(proposedFileChange('write_file', { path: '/a/b.txt', content: 'hi' }, '/cwd')).toEqual({
      kind: 'write',
      path: '/a/b.txt',
      content: 'hi',
    });
    expect(
      proposedFileChange(
        'edit_file',
        { path: 'src/x.ts', edits: [{ oldText: 'a', newText: 'b' }], dryRun: false },
        '/work',
      ),
    ).toEqual({ kind: 'edit', path: '/work/src/x.ts', edits: [{ oldText: 'a', newText: 'b' }] });
  });

  it('recognises the same shapes under prefixed or similar names, and ~ paths', () => {
    expect(proposedFileChange('fs__write_file', { path: '~/n.md', content: '' }, '/w')).toEqual({
      kind: 'write',
      path: join(homedir(), 'n.md'),
      content: '',
    });
    expect(
      proposedFileChange('create_file', { file_path: '/x', content: 'c' }, undefined)?.kind,
    ).toBe('write');
    expect(
      proposedFileChange('str_replace', { path: '/x', old_str: 'a', new_str: 'b' }, undefined),
    ).toEqual({ kind: 'edit', path: '/x', edits: [{ oldText: 'a', newText: 'b' }] });
  });

  it('does not offer a diff for other tools or other shapes', () => {
    expect(proposedFileChange('read_file', { path: '/x' }, '/w')).toBeUndefined();
    expect(proposedFileChange('write_file', { path: '/x', content: 3 }, '/w')).toBeUndefined();
    expect(
      proposedFileChange('edit_file', { path: '/x', edits: [{ oldText: 1 }] }, '/w'),
    ).toBeUndefined();
    expect(
      proposedFileChange('send_email', { to: 'a', content: 'b', path: '/x' }, '/w'),
    ).toBeUndefined();
  });
});

describe('applyEdits (as server-filesystem applies them)', () => {
  it('replaces the first exact match, in order', () => {
    expect(
      applyEdits('a\nb\nb\n', [
        { oldText: 'b', newText: 'c' },
        { oldText: 'c\nb', newText: 'd' },
      ]),
    ).toEqual({ ok: true, text: 'a\nd\n' });
  });

  it('normalises CRLF and matches lines up to surrounding whitespace, keeping the indentation', () => {
    const file = 'function f() {\r\n    return 1;\r\n}\r\n';
    const result = applyEdits(file, [{ oldText: 'return 1;', newText: 'return 2;' }]);
    expect(result).toEqual({ ok: true, text: 'function f() {\n    return 2;\n}\n' });
    const loose = applyEdits('  if (x) {\n    y();\n  }\n', [
      { oldText: 'if (x) {\n  y();\n}', newText: 'if (z) {\n  w();\n}' },
    ]);
    // server-filesystem's own (quirky) indentation rule, mirrored so the preview matches
    expect(loose.ok && loose.text).toBe('  if (z) {\n  w();\n}\n');
  });

  it('says which edit does not match, as the tool would fail', () => {
    const result = applyEdits('abc', [
      { oldText: 'a', newText: 'x' },
      { oldText: 'nope', newText: 'y' },
    ]);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.message).toContain('edit 2 of 2');
  });

  it('treats $ patterns in new text literally', () => {
    expect(applyEdits('a', [{ oldText: 'a', newText: "$&$'$`" }])).toEqual({
      ok: true,
      text: "$&$'$`",
    });
  });
});
