import { Type } from 'class-transformer';
import { IsIn, IsInt, IsNumber, IsOptional, Max, Min, ValidateIf, ValidateNested } from 'class-validator';
import { validatePayload } from './messages';
import { EngineStrategyName } from './strategies';

/** Strategies whose aggregate is a mean of updates: central DP and secure aggregation need one. */
export const MEAN_STRATEGIES: readonly EngineStrategyName[] = ['fedavg', 'fedprox', 'fedavgm', 'fedadagrad', 'fedadam', 'fedyogi'];

export const DP_CLIPPING_MODES = ['fixed', 'adaptive'] as const;
export type DpClippingMode = (typeof DP_CLIPPING_MODES)[number];

/** Secure aggregation sums integers modulo 2^32. */
export const SECAGG_MODULUS = 2 ** 32;

const FINITE = { allowNaN: false, allowInfinity: false };

/**
 * Central differential privacy (user level): each learner's update (its change to the global model) is
 * clipped to L2 norm C, the clipped updates are summed, Gaussian noise of standard deviation z·C is added to
 * the sum, and the sum is divided by the expected number of learners per round. With adaptive clipping
 * (Andrew et al., 2021) C follows a target quantile of the update norms, privately.
 */
export class CentralDpConfig {
  /** z: noise standard deviation relative to the clip norm. */
  @IsNumber(FINITE) @Min(0) noiseMultiplier!: number;
  @IsIn(DP_CLIPPING_MODES) clipping: DpClippingMode = 'fixed';
  /** C for fixed clipping (required); the initial C for adaptive clipping (default 0.1, as Flower). */
  @ValidateIf((o: CentralDpConfig) => o.clipping === 'fixed' || o.clipNorm !== undefined)
  @IsNumber(FINITE)
  @Min(Number.MIN_VALUE, { message: 'clipNorm must be a number greater than 0' })
  clipNorm?: number;
  /** Adaptive: the fraction of updates that should fall within C (γ). */
  @IsNumber(FINITE) @Min(0) @Max(1) targetUnclippedQuantile = 0.5;
  /** Adaptive: η_C of the geometric update C ← C·exp(−η_C(b̄ − γ)). */
  @IsNumber(FINITE) @Min(Number.MIN_VALUE, { message: 'clipLearningRate must be a number greater than 0' }) clipLearningRate = 0.2;
  /** Adaptive: σ_b, noise on the count of unclipped updates; default expectedLearnersPerRound / 20. */
  @IsOptional() @IsNumber(FINITE) @Min(0) clippedCountStddev?: number;
  /** δ of the (ε, δ) the accountant reports. */
  @IsNumber(FINITE) @Min(Number.MIN_VALUE, { message: 'delta must be a number greater than 0' }) @Max(0.5) delta = 1e-5;
  /** The denominator of the noisy mean; default: all deployed learners. */
  @IsOptional() @IsInt() @Min(1) expectedLearnersPerRound?: number;
}

/**
 * Secure aggregation in the SecAgg+ family (Bell et al., 2020): every learner masks its quantised update
 * with pairwise masks agreed with its neighbours and a self mask; seeds and mask keys are secret-shared
 * among the neighbours so that the masks of learners that drop out can be removed. The aggregator learns
 * only the sum.
 */
export class SecureAggregationConfig {
  /** Learners that may drop out after they were sent the round's keys, with the round still completing. */
  @IsInt() @Min(0) maxDropouts = 1;
  /** Neighbours of each learner in the masking graph (SecAgg+); default: every other learner (SecAgg). */
  @IsOptional() @IsInt() @Min(2) @Max(255) neighbours?: number;
  /** Each coordinate of a (weighted) update is clipped to ±clippingRange before quantisation. */
  @IsNumber(FINITE) @Min(Number.MIN_VALUE, { message: 'clippingRange must be a number greater than 0' }) clippingRange = 8;
  /** Quantisation levels per coordinate. learners × quantizationRange must stay below 2^32. */
  @IsInt() @Min(2) quantizationRange = 2 ** 22;
  /** Sample counts above this are capped when weighting (weights are numSamples / maxWeight ≤ 1). */
  @IsNumber(FINITE) @Min(1) maxWeight = 1000;
}

export class PrivacyConfig {
  @IsOptional() @ValidateNested() @Type(() => CentralDpConfig) centralDp?: CentralDpConfig;
  @IsOptional() @ValidateNested() @Type(() => SecureAggregationConfig) secureAggregation?: SecureAggregationConfig;
}

/** The neighbours each learner has, and how many of them must answer to unmask it (a majority). */
export function secAggGraph(config: SecureAggregationConfig, learners: number): { neighbours: number; threshold: number } {
  const neighbours = Math.min(config.neighbours ?? learners - 1, learners - 1);
  return { neighbours, threshold: neighbours - config.maxDropouts };
}

/** Validates a privacy configuration against the strategy and the number of learners; problems name the field. */
export function validatePrivacy(raw: unknown, context: { strategy: EngineStrategyName; learners: number }): { value?: PrivacyConfig; problems: string[] } {
  const { value, problems } = validatePayload(PrivacyConfig, raw ?? {});
  const all = problems.map((p) => `privacy.${p}`);
  if (!value) return { problems: all };
  const mean = MEAN_STRATEGIES.includes(context.strategy);
  if (value.centralDp && !mean) {
    all.push(`privacy.centralDp: needs a strategy that averages updates (${MEAN_STRATEGIES.join(', ')}), not ${context.strategy}`);
  }
  const dp = value.centralDp;
  if (dp?.clipping === 'adaptive' && dp.noiseMultiplier > 0) {
    // Andrew et al.: the update noise is (z⁻² − (2σ_b)⁻²)^(−1/2), defined only while z < 2σ_b.
    const countStddev = dp.clippedCountStddev ?? (dp.expectedLearnersPerRound ?? context.learners) / 20;
    if (dp.noiseMultiplier >= 2 * countStddev) {
      all.push(`privacy.centralDp.noiseMultiplier: adaptive clipping needs noiseMultiplier below 2 · clippedCountStddev (${2 * countStddev}); raise clippedCountStddev or lower the noise`);
    }
  }
  const secAgg = value.secureAggregation;
  if (secAgg) {
    if (!mean) all.push(`privacy.secureAggregation: needs a strategy that averages updates (${MEAN_STRATEGIES.join(', ')}), not ${context.strategy}`);
    const { neighbours, threshold } = secAggGraph(secAgg, context.learners);
    if (context.learners < 3) all.push('privacy.secureAggregation: needs at least 3 learners');
    else if (threshold <= neighbours / 2) {
      all.push(
        `privacy.secureAggregation.maxDropouts: with ${neighbours} neighbours per learner at most ${Math.ceil(neighbours / 2) - 1} may drop out (a majority of each learner's neighbours must answer)`,
      );
    }
    // Integer sums of the quantised coordinates (and of the weights) must not wrap modulo 2^32.
    if (context.learners * secAgg.quantizationRange >= SECAGG_MODULUS) {
      all.push(`privacy.secureAggregation.quantizationRange: learners × quantizationRange must be below 2^32 (at most ${Math.floor((SECAGG_MODULUS - 1) / context.learners)})`);
    }
  }
  return all.length ? { problems: all } : { value, problems: [] };
}
