/**
 * Rényi-DP accountant for the (Poisson-subsampled) Gaussian mechanism, composed over rounds.
 *
 * RDP of one round at order α: α / (2z²) without subsampling (q = 1); with sampling rate q < 1 the bound of
 * Mironov, Talwar and Zhang ("Rényi Differential Privacy of the Sampled Gaussian Mechanism", 2019): the
 * exact binomial sum for integer α, the two erfc series for fractional α (see logAFractional). RDP adds up over rounds; ε at δ is
 * the best over the orders of the conversion of Canonne, Kamath and Steinke (2020, Prop. 12):
 * ε = r + log(1 − 1/α) − log(δ·α) / (α − 1). The orders are those of Google's dp-accounting, whose
 * RdpAccountant this is tested against (libs/fl-engine/src/privacy/dp-accounting.oracle-spec.ts).
 */
export const DEFAULT_RDP_ORDERS: readonly number[] = [
  ...Array.from({ length: 99 }, (_, x) => 1 + (x + 1) / 10),
  ...Array.from({ length: 53 }, (_, x) => 11 + x),
  128,
  256,
  512,
  1024,
];

export interface EpsilonAtDelta {
  epsilon: number;
  /** The order that gave the best bound. */
  order: number;
}

export class RdpAccountant {
  private readonly rdp: Float64Array;

  constructor(readonly orders: readonly number[] = DEFAULT_RDP_ORDERS) {
    if (orders.length === 0 || orders.some((a) => !(a > 1))) throw new RangeError('RDP orders must be numbers greater than 1');
    this.rdp = new Float64Array(orders.length);
  }

  /** Composes `steps` rounds of the Gaussian mechanism with noise multiplier z, each on a Poisson sample of rate q. */
  composeGaussian(noiseMultiplier: number, samplingRate = 1, steps = 1): void {
    const rdp = gaussianRdp(noiseMultiplier, samplingRate, this.orders);
    for (let i = 0; i < rdp.length; i++) this.rdp[i] += steps * rdp[i];
  }

  /** The RDP spent so far, per order. */
  spent(): Float64Array {
    return this.rdp.slice();
  }

  epsilon(delta: number): EpsilonAtDelta {
    return epsilonFromRdp(this.orders, this.rdp, delta);
  }

  /** JSON-safe: an infinite RDP (noise multiplier 0: no privacy) is written as null. */
  toJSON(): { orders: number[]; rdp: (number | null)[] } {
    return { orders: [...this.orders], rdp: [...this.rdp].map((r) => (Number.isFinite(r) ? r : null)) };
  }

  static fromJSON(raw: { orders: number[]; rdp: (number | null)[] }): RdpAccountant {
    const accountant = new RdpAccountant(raw.orders);
    const rdp = Array.isArray(raw.rdp) ? raw.rdp.map((r) => (r === null ? Infinity : r)) : [];
    if (rdp.length !== raw.orders.length || rdp.some((r) => typeof r !== 'number' || !(r >= 0))) {
      throw new TypeError('accountant state needs one non-negative RDP value (or null for infinity) per order');
    }
    accountant.rdp.set(rdp);
    return accountant;
  }
}

/** RDP of one (subsampled) Gaussian mechanism at each order. */
export function gaussianRdp(noiseMultiplier: number, samplingRate: number, orders: readonly number[]): Float64Array {
  if (!(noiseMultiplier >= 0)) throw new RangeError(`noise multiplier must be >= 0, got ${noiseMultiplier}`);
  if (!(samplingRate >= 0 && samplingRate <= 1)) throw new RangeError(`sampling rate must be in [0, 1], got ${samplingRate}`);
  return Float64Array.from(orders, (alpha) => {
    if (samplingRate === 0) return 0;
    if (noiseMultiplier === 0) return Infinity;
    if (samplingRate === 1) return alpha / (2 * noiseMultiplier * noiseMultiplier);
    const logA = Number.isInteger(alpha) ? logAInteger(samplingRate, noiseMultiplier, alpha) : logAFractional(samplingRate, noiseMultiplier, alpha);
    return logA / (alpha - 1);
  });
}

/** The best ε at δ over the orders (0 when even the KL bound gives it), as dp-accounting's compute_epsilon. */
export function epsilonFromRdp(orders: readonly number[], rdp: ArrayLike<number>, delta: number): EpsilonAtDelta {
  if (!(delta > 0 && delta < 1)) throw new RangeError(`delta must be in (0, 1), got ${delta}`);
  let best: EpsilonAtDelta = { epsilon: Infinity, order: orders[0] };
  orders.forEach((a, i) => {
    const r = rdp[i];
    let epsilon: number;
    if (r < 0 || delta * delta + Math.expm1(-r) > 0) epsilon = 0;
    else if (a > 1.01) epsilon = r + Math.log1p(-1 / a) - Math.log(delta * a) / (a - 1);
    else epsilon = Infinity;
    if (epsilon < best.epsilon) best = { epsilon, order: a };
  });
  return { epsilon: Math.max(0, best.epsilon), order: best.order };
}

/** log A_α for integer α: log Σ_k C(α,k)(1−q)^(α−k) q^k exp((k² − k) / (2σ²)). */
function logAInteger(q: number, sigma: number, alpha: number): number {
  let logA = -Infinity;
  for (let k = 0; k <= alpha; k++) {
    const term = logBinomial(alpha, k) + k * Math.log(q) + (alpha - k) * Math.log1p(-q) + (k * k - k) / (2 * sigma * sigma);
    logA = logAdd(logA, term);
  }
  return logA;
}

/**
 * log A_α for fractional α: the two series of Mironov, Talwar and Zhang (2019, Section 3.3), with every term
 * counted by its magnitude |C(α, i)| (where the exact series alternates in sign for i > α + 1), as
 * dp-accounting 0.6 does: an upper bound on A_α, so the RDP is, if anything, overstated. It stops once both
 * terms are decreasing and e^30 times smaller than the sum; an order that does not converge within 1000
 * terms is infinite (excluded from the conversion to ε).
 */
function logAFractional(q: number, sigma: number, alpha: number): number {
  let logA0 = -Infinity;
  let logA1 = -Infinity;
  let lastS0 = -Infinity;
  let lastS1 = -Infinity;
  const z0 = sigma * sigma * Math.log(1 / q - 1) + 0.5;
  for (let i = 0; i < 1000; i++) {
    const logCoefficient = logBinomial(alpha, i);
    const j = alpha - i;
    const logT0 = logCoefficient + i * Math.log(q) + j * Math.log1p(-q);
    const logT1 = logCoefficient + j * Math.log(q) + i * Math.log1p(-q);
    const logE0 = Math.log(0.5) + logErfc((i - z0) / (Math.SQRT2 * sigma));
    const logE1 = Math.log(0.5) + logErfc((z0 - j) / (Math.SQRT2 * sigma));
    const logS0 = logT0 + (i * i - i) / (2 * sigma * sigma) + logE0;
    const logS1 = logT1 + (j * j - j) / (2 * sigma * sigma) + logE1;
    logA0 = logAdd(logA0, logS0);
    logA1 = logAdd(logA1, logS1);
    const total = logAdd(logA0, logA1);
    if (logS0 < lastS0 && logS1 < lastS1 && Math.max(logS0, logS1) < total - 30) return total;
    lastS0 = logS0;
    lastS1 = logS1;
  }
  return Infinity;
}

function logAdd(x: number, y: number): number {
  const [hi, lo] = x >= y ? [x, y] : [y, x];
  if (lo === -Infinity) return hi;
  return hi + Math.log1p(Math.exp(lo - hi));
}

/** log |C(n, k)| for real n (via log |Γ|). */
function logBinomial(n: number, k: number): number {
  return logGamma(n + 1) - logGamma(k + 1) - logGamma(n - k + 1);
}

/** log |Γ(x)| (Lanczos, g = 7, n = 9: ~15 significant digits; reflection below 1/2). */
function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
    -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  const z = x - 1;
  let sum = c[0];
  for (let k = 1; k < 9; k++) sum += c[k] / (z + k);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}

/** log erfc(x), accurate in the far tails too (where erfc underflows). */
export function logErfc(x: number): number {
  if (x < 0) return Math.log(2 - Math.exp(logErfc(-x)));
  if (x < 2) return Math.log1p(-erfSeries(x));
  // Laplace's continued fraction for erfc(x)·√π·e^(x²) = 1 / (x + (1/2) / (x + 1 / (x + (3/2) / (x + …)))),
  // evaluated bottom-up; 200 terms reach double precision for x ≥ 2.
  let fraction = x;
  for (let k = 200; k >= 1; k--) fraction = x + k / 2 / fraction;
  return -x * x - 0.5 * Math.log(Math.PI) - Math.log(fraction);
}

/** erf(x) by its Maclaurin series (|x| < 2: at most ~2 digits lost to cancellation). */
function erfSeries(x: number): number {
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= (-x * x) / n;
    const next = term / (2 * n + 1);
    sum += next;
    if (Math.abs(next) < 1e-17 * Math.abs(sum)) break;
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}
