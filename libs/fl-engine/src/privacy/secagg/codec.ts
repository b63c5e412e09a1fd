import { SecureAggregationConfig, secAggGraph } from '@flops/contracts';
import { SecAggError, SecAggSettings, SecAggSum, dequantizeSum } from './protocol';

/**
 * What a learner puts into secure aggregation, and what the aggregator makes of the sum. The vector is the
 * learner's change to the global model followed by one control coordinate, every value in
 * [−clippingRange, clippingRange] (quantisation clamps it there):
 *
 *   weighted (no DP)   (w/W)·Δ, then (2w/W − 1)·range, with w = min(numSamples, W), W = maxWeight:
 *                      the sum gives Σ w·Δ / W and Σ w, so the aggregator gets the sample-weighted mean of Δ.
 *   central DP         clip_C(Δ) (L2 norm at most C, clipped by the learner), then ±range for "within C":
 *                      the sum gives Σ clip_C(Δ) and the number of unclipped updates (adaptive clipping), and
 *                      the aggregator adds the noise to that sum.
 */
export type SecAggMode = { kind: 'weighted' } | { kind: 'dp'; clipNorm: number };

export function secAggVectorLength(modelSize: number): number {
  return modelSize + 1;
}

/** A round's settings from the project's configuration: k neighbours, t = k − maxDropouts. */
export function secAggSettings(
  config: SecureAggregationConfig,
  round: { roundId: string; graphSeed: string; participants: string[]; modelSize: number },
): SecAggSettings {
  const { neighbours, threshold } = secAggGraph(config, round.participants.length);
  return { roundId: round.roundId, graphSeed: round.graphSeed, participants: round.participants, neighbours, threshold, vectorLength: secAggVectorLength(round.modelSize) };
}

/** The learner's input to secure aggregation for its update `delta` = its model − the global model. */
export function secAggInput(delta: ArrayLike<number>, numSamples: number, config: SecureAggregationConfig, mode: SecAggMode): Float64Array {
  const range = config.clippingRange;
  const out = new Float64Array(secAggVectorLength(delta.length));
  if (mode.kind === 'weighted') {
    const weight = Math.min(numSamples, config.maxWeight) / config.maxWeight;
    for (let i = 0; i < delta.length; i++) out[i] = weight * delta[i];
    out[delta.length] = (2 * weight - 1) * range;
  } else {
    let squared = 0;
    for (let i = 0; i < delta.length; i++) squared += delta[i] * delta[i];
    const norm = Math.sqrt(squared);
    const scale = norm > mode.clipNorm ? mode.clipNorm / norm : 1;
    for (let i = 0; i < delta.length; i++) out[i] = scale * delta[i];
    out[delta.length] = norm <= mode.clipNorm ? range : -range;
  }
  return out;
}

export interface SecAggDecoded {
  /** Σ over the survivors of their first vectorLength − 1 values: Σ (w/W)·Δ, or Σ clip_C(Δ). */
  deltaSum: Float64Array;
  survivors: number;
  /** weighted: Σ w / W. */
  weightSum: number;
  /** dp: how many survivors' updates were within C. */
  unclipped: number;
}

export function decodeSecAggSum(result: SecAggSum, config: SecureAggregationConfig, mode: SecAggMode): SecAggDecoded {
  const n = result.survivors.length;
  const values = dequantizeSum(result.sum, n, config.clippingRange, config.quantizationRange);
  const control = values[values.length - 1];
  const deltaSum = values.subarray(0, values.length - 1);
  // control = Σ(2w/W − 1)·range (weighted) or (2·unclipped − n)·range (dp).
  const half = (control / config.clippingRange + n) / 2;
  if (mode.kind === 'weighted') {
    if (!(half > 0)) throw new SecAggError('the survivors\' weights sum to nothing');
    return { deltaSum, survivors: n, weightSum: half, unclipped: 0 };
  }
  return { deltaSum, survivors: n, weightSum: n, unclipped: Math.round(half) };
}
