import { InvalidWeightError } from './aggregation-errors';

/** Metrics one learner reported (e.g. loss, accuracy) and the weight they carry, normally its sample count. */
export interface WeightedMetrics {
  weight: number;
  metrics: Readonly<Record<string, number>>;
}

/**
 * Per metric key, the weighted mean over the entries that report that key with a finite value.
 * Learners may report different metric sets, and a NaN loss from one learner must not hide everyone else's.
 * Entries with weight 0 contribute nothing; a key no entry contributes to is left out of the result.
 * Throws InvalidWeightError for a negative or non-finite weight.
 */
export function weightedMean(entries: readonly WeightedMetrics[]): Record<string, number> {
  // A Map, not an object, so keys such as "__proto__" or "constructor" are ordinary keys.
  const totals = new Map<string, { weightedSum: number; weight: number }>();
  entries.forEach(({ weight, metrics }, index) => {
    if (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0) {
      throw new InvalidWeightError(`metrics entry #${index} has weight ${String(weight)}; weights must be finite and >= 0`);
    }
    if (weight === 0) return;
    for (const [key, value] of Object.entries(metrics)) {
      if (typeof value !== 'number' || !Number.isFinite(value)) continue;
      const total = totals.get(key) ?? { weightedSum: 0, weight: 0 };
      total.weightedSum += weight * value;
      total.weight += weight;
      totals.set(key, total);
    }
  });
  return Object.fromEntries([...totals].map(([key, { weightedSum, weight }]) => [key, weightedSum / weight]));
}
