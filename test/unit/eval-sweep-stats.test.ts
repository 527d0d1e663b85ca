import { describe, expect, it } from 'vitest';
import { exactMcNemar, holmAdjust, pairedMcNemar } from '../../shared/eval/sweep/mcnemar.js';
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

describe('Holm–Bonferroni adjustment', () => {
  it("matches R's p.adjust(method = 'holm')", () => {
    // p.adjust(c(0.01, 0.04, 0.03, 0.005), "holm") -> 0.03 0.06 0.06 0.02
    expect(holmAdjust([0.01, 0.04, 0.03, 0.005]).map((x) => Number(x.toPrecision(12)))).toEqual([
      0.03, 0.06, 0.06, 0.02,
    ]);
    // p.adjust(c(0.02, 0.001, 0.5, 0.03, 0.04), "holm") -> 0.080 0.005 0.500 0.090 0.090
    expect(
      holmAdjust([0.02, 0.001, 0.5, 0.03, 0.04]).map((x) => Number(x.toPrecision(12))),
    ).toEqual([0.08, 0.005, 0.5, 0.09, 0.09]);
    expect(holmAdjust([])).toEqual([]);
    expect(holmAdjust([0.2])).toEqual([0.2]);
    expect(holmAdjust([0.6, 0.6, 1])).toEqual([1, 1, 1]);
  });

  it('never lowers a p-value, never exceeds Bonferroni, and keeps their order', () => {
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let round = 0; round < 200; round++) {
      const ps = Array.from({ length: 1 + Math.floor(random() * 30) }, () => random() ** 3);
      const adjusted = holmAdjust(ps);
      ps.forEach((p, i) => {
        expect(adjusted[i]).toBeGreaterThanOrEqual(p);
        expect(adjusted[i]).toBeLessThanOrEqual(Math.min(1, ps.length * p) + 1e-15);
        ps.forEach((q, j) => {
          if (p < q) expect(adjusted[i]).toBeLessThanOrEqual(adjusted[j]!);
        });
      });
    }
  });

  it('refuses a value that is not a p-value', () => {
    expect(() => holmAdjust([0.1, Number.NaN])).toThrow(/p-values must be in \[0, 1\]/);
    expect(() => holmAdjust([1.5])).toThrow(RangeError);
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
