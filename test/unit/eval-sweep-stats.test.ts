import { describe, expect, it } from 'vitest';
import { exactMcNemar, pairedMcNemar } from '../../shared/eval/sweep/mcnemar.js';
import { meanInterval, studentTCdf, studentTQuantile } from '../../shared/eval/sweep/student-t.js';

/** The exact two-sided binomial p-value with BigInt arithmetic: an independent check. */
function exactByBigInt(b: number, c: number): number {
  const n = b + c;
  if (n === 0) return 1;
  const k = Math.min(b, c);
  let choose = 1n;
  let tail = 0n;
  for (let i = 0; i <= k; i++) {
    tail += choose;
    choose = (choose * BigInt(n - i)) / BigInt(i + 1);
  }
  // 2 * tail / 2^n, to 15 significant digits.
  const scale = 10n ** 18n;
  const ratio = Number((2n * tail * scale) / 2n ** BigInt(n)) / 1e18;
  return Math.min(1, ratio);
}

describe('exact McNemar test', () => {
  it('matches known values (scipy.stats.binomtest, two-sided)', () => {
    expect(exactMcNemar(1, 9).p).toBeCloseTo(0.0215, 4);
    expect(exactMcNemar(1, 9).p).toBe(0.021484375);
    expect(exactMcNemar(0, 0)).toEqual({ onlyA: 0, onlyB: 0, discordant: 0, p: 1 });
    expect(exactMcNemar(0, 5).p).toBeCloseTo(0.0625, 12);
    expect(exactMcNemar(0, 6).p).toBeCloseTo(0.03125, 12);
    expect(exactMcNemar(10, 25).p).toBeCloseTo(0.01667384780012071, 12);
    expect(exactMcNemar(40, 70).p).toBeCloseTo(0.005447429511444482, 12);
    expect(exactMcNemar(3, 3).p).toBe(1);
    expect(exactMcNemar(7, 8).p).toBe(1);
  });

  it('is symmetric in the two discordant counts', () => {
    for (const [b, c] of [
      [1, 9],
      [12, 30],
      [0, 17],
    ] as const)
      expect(exactMcNemar(b, c).p).toBe(exactMcNemar(c, b).p);
  });

  it('agrees with exact integer arithmetic up to thousands of pairs (no underflow of 2^-n)', () => {
    for (const [b, c] of [
      [30, 60],
      [200, 260],
      [480, 520],
      [1500, 1620],
    ] as const) {
      const p = exactMcNemar(b, c).p;
      const expected = exactByBigInt(b, c);
      expect(p).toBeGreaterThan(0);
      expect(Math.abs(p - expected) / expected).toBeLessThan(1e-9);
    }
  });

  it('refuses counts that are not whole numbers >= 0', () => {
    expect(() => exactMcNemar(-1, 2)).toThrow(RangeError);
    expect(() => exactMcNemar(1.5, 2)).toThrow(/whole number/);
  });

  it('counts discordant pairs of aligned outcomes', () => {
    const r = pairedMcNemar([true, true, false, false, true], [false, true, true, false, false]);
    expect(r).toMatchObject({ onlyA: 2, onlyB: 1, discordant: 3 });
    expect(() => pairedMcNemar([true], [true, false])).toThrow(/align/);
  });
});

describe('Student t', () => {
  it('gives the 97.5% quantiles of the t tables', () => {
    expect(studentTQuantile(0.975, 1)).toBeCloseTo(12.70620474, 6);
    expect(studentTQuantile(0.975, 2)).toBeCloseTo(4.30265273, 7);
    expect(studentTQuantile(0.975, 10)).toBeCloseTo(2.22813885, 7);
    expect(studentTQuantile(0.975, 30)).toBeCloseTo(2.04227246, 7);
    expect(studentTQuantile(0.975, 1000)).toBeCloseTo(1.96233908, 7);
    expect(studentTCdf(0, 4)).toBeCloseTo(0.5, 12);
    expect(studentTCdf(-2.22813885, 10)).toBeCloseTo(0.025, 8);
  });

  it('meanInterval: mean ± t·sd/√k, clamped when asked; none below two values', () => {
    const r = meanInterval([0.1, 0.2, 0.3]);
    expect(r.mean).toBeCloseTo(0.2, 12);
    const half = (4.30265273 * 0.1) / Math.sqrt(3);
    expect(r.interval![0]).toBeCloseTo(0.2 - half, 7);
    expect(r.interval![1]).toBeCloseTo(0.2 + half, 7);
    expect(meanInterval([0.1, 0.2, 0.3], [0, 1]).interval![0]).toBe(0);
    expect(meanInterval([0.4])).toEqual({ mean: 0.4, interval: null, n: 1 });
    expect(meanInterval([])).toEqual({ mean: null, interval: null, n: 0 });
    expect(meanInterval([0.5, 0.5, 0.5]).interval).toEqual([0.5, 0.5]);
  });
});
