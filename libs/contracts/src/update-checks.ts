/** Largest `numSamples` an update may carry. With it, a float64 sum of finite float32 values can never overflow. */
export const MAX_UPDATE_NUM_SAMPLES = 2 ** 32;

/** Why the aggregator refused an update; counted per learner. */
export const UPDATE_REFUSAL_REASONS = ['layout', 'num-samples', 'non-finite', 'norm-bound', 'strategy'] as const;
export type UpdateRefusalReason = (typeof UPDATE_REFUSAL_REASONS)[number];
