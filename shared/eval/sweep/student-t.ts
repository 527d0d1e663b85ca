/** Two-sided 95%. */
const UPPER = 0.975;

/**
 * log Γ(x) for x > 0 (Lanczos, g = 7, n = 9): accurate to about 1e-15
 * relative, which is ample for quantiles printed to six digits.
 */
function logGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
    -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6,
    1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let a = c[0]!;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** The continued fraction of the regularized incomplete beta (modified Lentz). */
function betaContinuedFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return h;
}

/** The regularized incomplete beta function I_x(a, b). */
function regularizedBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(
    logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x),
  );
  // The fraction converges fast on this side of the mean; use the symmetry otherwise.
  return x < (a + 1) / (a + b + 2)
    ? (front * betaContinuedFraction(x, a, b)) / a
    : 1 - (front * betaContinuedFraction(1 - x, b, a)) / b;
}

/**
 * P(T ≤ t) for Student's t with `df` degrees of freedom.
 *
 * @example
 * studentTCdf(0, 5) // 0.5
 */
export function studentTCdf(t: number, df: number): number {
  const tail = 0.5 * regularizedBeta(df / (df + t * t), df / 2, 0.5);
  return t >= 0 ? 1 - tail : tail;
}

/**
 * The quantile of Student's t: the `t` with `P(T ≤ t) = q`, for q in (0.5, 1)
 * (found by bisection on {@link studentTCdf} to 1e-12).
 *
 * @example
 * studentTQuantile(0.975, 2) // 4.302652729...
 * studentTQuantile(0.975, 10) // 2.228138851...
 */
export function studentTQuantile(q: number, df: number): number {
  if (!(q > 0.5 && q < 1))
    throw new RangeError(`studentTQuantile: q must be in (0.5, 1), got ${q}`);
  if (!(df > 0)) throw new RangeError(`studentTQuantile: df must be > 0, got ${df}`);
  let lo = 0;
  let hi = 1;
  while (studentTCdf(hi, df) < q) hi *= 2;
  while (hi - lo > 1e-12 * Math.max(1, hi)) {
    const mid = (lo + hi) / 2;
    if (studentTCdf(mid, df) < q) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/**
 * The mean of per-seed values and its 95% t-interval,
 * `mean ± t(0.975, k-1) · sd / √k` (sd: the sample standard deviation), the
 * spread a reader should expect from rerunning with other seeds. With fewer
 * than two values there is no spread to estimate and `interval` is null.
 * `clamp` bounds the interval (rates live in [0, 1]; the t-interval does not
 * know that).
 *
 * @example
 * meanInterval([0.1, 0.2, 0.3], [0, 1]) // { mean: 0.2, interval: [0 (clamped from -0.048), 0.448], n: 3 }
 */
export function meanInterval(
  values: readonly number[],
  clamp?: readonly [number, number],
): { mean: number | null; interval: [number, number] | null; n: number } {
  const k = values.length;
  if (k === 0) return { mean: null, interval: null, n: 0 };
  let sum = 0;
  for (const v of values) sum += v;
  const mean = sum / k;
  if (k < 2) return { mean, interval: null, n: k };
  let ss = 0;
  for (const v of values) ss += (v - mean) ** 2;
  const half = (studentTQuantile(UPPER, k - 1) * Math.sqrt(ss / (k - 1))) / Math.sqrt(k);
  let low = mean - half;
  let high = mean + half;
  if (clamp) {
    low = Math.max(clamp[0], low);
    high = Math.min(clamp[1], high);
  }
  return { mean, interval: [low, high], n: k };
}
