import { describe, expect, it } from 'vitest';
import { uuidv7 } from '../../shared/util/uuidv7.js';

describe('uuidv7', () => {
  it('is a valid version-7, variant-1 UUID carrying the time', () => {
    const id = uuidv7(0x0123456789ab);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(id.slice(0, 13).replace('-', '')).toBe('0123456789ab');
  });
  it('increases strictly within a process, even within one millisecond', () => {
    const ids = Array.from({ length: 10_000 }, () => uuidv7());
    for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });
  it('stays ordered when the clock steps back', () => {
    const a = uuidv7(Date.now() + 60_000);
    const b = uuidv7(Date.now());
    expect(b > a).toBe(true);
  });
});
