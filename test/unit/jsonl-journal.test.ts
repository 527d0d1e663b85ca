import { appendFileSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { TrialJournal } from '../../shared/eval/journal.js';
import {
  type JournalKind,
  JournalMismatchError,
  JsonLinesJournal,
} from '../../shared/eval/jsonl-journal.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const Entry = z.object({ id: z.number().int() }).strict();
const KIND: JournalKind<z.infer<typeof Entry>> = {
  format: 'test-journal/1',
  settingsField: 'settings',
  entry: Entry,
  name: 'test journal',
  owner: 'a test run with other settings',
  entryName: 'a test entry',
  describe: (s) => Object.keys(s).join('+'),
};

function reopen(path: string, fingerprint = 'fp'): number[] {
  const ids: number[] = [];
  JsonLinesJournal.open(path, KIND, fingerprint, { a: 1 }, (e) => ids.push(e.id)).close();
  return ids;
}

describe('JsonLinesJournal', () => {
  it('keeps appended entries across opens and drops a cut last line', () => {
    const path = join(makeTempDir('hitloop-jsonl-'), 'j.jsonl');
    const file = JsonLinesJournal.open(path, KIND, 'fp', { a: 1 }, () => {});
    file.append({ id: 1 }, { sync: true });
    file.append({ id: 2 });
    file.close();
    appendFileSync(path, '{"id":3');
    expect(reopen(path)).toEqual([1, 2]);
    expect(readFileSync(path, 'utf8').endsWith('{"id":2}\n')).toBe(true);
  });

  it('refuses a journal of another fingerprint, naming its settings', () => {
    const path = join(makeTempDir('hitloop-jsonl-'), 'j.jsonl');
    reopen(path);
    expect(() => reopen(path, 'other')).toThrow(JournalMismatchError);
    expect(() => reopen(path, 'other')).toThrow(
      `${path} belongs to a test run with other settings (a)`,
    );
  });

  it('refuses a damaged line that is not the last one', () => {
    const path = join(makeTempDir('hitloop-jsonl-'), 'j.jsonl');
    reopen(path);
    appendFileSync(path, 'garbage\n{"id":1}\n');
    expect(() => reopen(path)).toThrow(`${path}:2: not valid JSON; the journal is damaged`);
  });

  it("writes the experiment's trial journal owner-only (0600), like the sweep's", () => {
    const path = join(makeTempDir('hitloop-jsonl-'), 'journal.jsonl');
    TrialJournal.open(path, 'fp', { seed: 1 }).close();
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });
});
