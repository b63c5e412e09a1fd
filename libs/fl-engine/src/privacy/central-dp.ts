import type { CentralDpConfig, StrategyFitHints } from '@flops/contracts';
import { InsufficientUpdatesError, StrategyStateError } from '../errors';
import { Accumulator, FoldKernel } from '../kernels/fold-kernel';
import type { CheckedUpdate } from '../robustness/update-guard';
import type { MeanStrategy } from '../strategies/mean-strategies';
import { RoundAggregation, RoundGuard, RoundResult, Strategy, StrategyState } from '../strategies/strategy';
import { RandomSource } from './random';
import { RdpAccountant } from './rdp-accountant';

/** What central DP spent and did in one round. */
export interface DpRoundReport {
  clipNorm: number;
  /** Standard deviation of the noise added to the sum of clipped updates. */
  noiseStddev: number;
  /** ε at the configured δ for this round alone, and for all rounds so far. */
  epsilonRound: number;
  epsilonTotal: number;
  delta: number;
  /** Adaptive clipping: the noisy fraction of updates within the clip norm (the only form it is ever known in). */
  unclippedFraction?: number;
}

/**
 * Central differential privacy around a mean strategy (DP-FedAvg, McMahan et al. 2018; adaptive clipping,
 * Andrew et al. 2021). Per round, each update's change Δ_i = w_i − global is clipped to L2 norm C, the
 * clipped changes are summed (streaming: Σ s_i·w_i − (Σ s_i)·global with s_i = min(1, C/‖Δ_i‖), one float64
 * running sum), Gaussian noise N(0, (z_Δ·C)²) is added to the sum, and it is divided by the expected number
 * of learners m: a fixed denominator, so the count of arrivals is not released. The noisy mean then goes
 * to the strategy's server step (FedAvgM/FedAdam… post-process it, which costs no privacy). Updates are
 * weighted uniformly: the guarantee is per learner, whatever its sample count.
 *
 * Adaptive clipping: b_i = [‖Δ_i‖ ≤ C]; b̄ = (Σ b_i + N(0, σ_b²)) / m; C ← C·exp(−η_C(b̄ − γ)). The update
 * noise is z_Δ = (z⁻² − (2σ_b)⁻²)^(−1/2), so the round as a whole is a Gaussian mechanism with multiplier z
 * (Andrew et al., Theorem 1), which the accountant composes.
 *
 * Where this differs from Flower 1.42's DifferentialPrivacyServerSide*Clipping: the update weights (Flower
 * inherits FedAvg's sample weighting, so its noise calibration assumes equal counts), the denominator
 * (Flower: the actual count), the order (Flower noises the inner strategy's output, after FedAdam's step),
 * and adaptive clipping, where Flower counts *clipped* updates in the geometric update, moving C away
 * from the target quantile, and noises with the already updated C.
 */
export class CentralDp implements Strategy {
  readonly memory = 'streaming' as const;
  private spent = new RdpAccountant();
  private clipNorm: number;
  private readonly updateNoise: number;
  private readonly countStddev: number;
  private sum?: Accumulator;
  private openRound?: DpRound;

  constructor(
    readonly inner: MeanStrategy,
    readonly config: CentralDpConfig,
    private readonly kernel: FoldKernel,
    private readonly random: RandomSource,
    /** m: the expected number of learners per round (the mean's denominator). */
    readonly expectedLearners: number,
  ) {
    if (!Number.isInteger(expectedLearners) || expectedLearners < 1) throw new RangeError(`expected learners per round must be a positive integer, got ${expectedLearners}`);
    const z = config.noiseMultiplier;
    this.clipNorm = config.clipNorm ?? 0.1;
    if (config.clipping === 'adaptive' && z > 0) {
      this.countStddev = config.clippedCountStddev ?? expectedLearners / 20;
      if (z >= 2 * this.countStddev) {
        throw new RangeError(`adaptive clipping: noiseMultiplier ${z} must be below 2 · clippedCountStddev (${2 * this.countStddev})`);
      }
      this.updateNoise = (z ** -2 - (2 * this.countStddev) ** -2) ** -0.5;
    } else {
      this.countStddev = config.clipping === 'adaptive' ? (config.clippedCountStddev ?? 0) : 0;
      this.updateNoise = z;
    }
  }

  get name(): MeanStrategy['name'] {
    return this.inner.name;
  }

  /** The clip norm the next round uses (learners clip to it themselves under secure aggregation). */
  get currentClipNorm(): number {
    return this.clipNorm;
  }

  /** The privacy spent so far. */
  get accountant(): RdpAccountant {
    return this.spent;
  }

  fitHints(learnerId: string): StrategyFitHints {
    return this.inner.fitHints(learnerId);
  }

  beginRound(round: number, global: Float32Array): RoundAggregation {
    const sum = (this.sum ??= this.kernel.accumulator(global.length));
    sum.zero();
    const clipNorm = this.clipNorm;
    const opened: DpRound = new DpRound(
      { round, global, clipNorm, sum, kernel: this.kernel, offsets: this.inner.shape.offsets },
      (deltaSum, unclipped) => this.aggregateSum(round, global, deltaSum, unclipped),
      () => this.openRound === opened,
    );
    this.openRound = opened;
    return opened;
  }

  /**
   * The end of a round from Σ_i clip(Δ_i), the sum of the clipped changes (from the streaming round, or unmasked
   * by secure aggregation from learners that clipped to `currentClipNorm` themselves), and the number of
   * unclipped ones (adaptive clipping). Adds the noise (in place), divides by m, runs the server step,
   * adapts C and accounts for the round.
   */
  aggregateSum(round: number, global: Float32Array, deltaSum: Float64Array, unclipped: number): RoundResult {
    const m = this.expectedLearners;
    const clipNorm = this.clipNorm;
    const noiseStddev = this.updateNoise * clipNorm;
    this.random.addGaussian(deltaSum, noiseStddev);
    for (let i = 0; i < deltaSum.length; i++) deltaSum[i] = global[i] + deltaSum[i] / m;
    const model = this.inner.applyMean(round, global, deltaSum);
    const report: DpRoundReport = { clipNorm, noiseStddev, epsilonRound: 0, epsilonTotal: 0, delta: this.config.delta };
    if (this.config.clipping === 'adaptive') {
      const fraction = (unclipped + this.random.gaussian(this.countStddev)) / m;
      this.clipNorm = clipNorm * Math.exp(-this.config.clipLearningRate * (fraction - this.config.targetUnclippedQuantile));
      report.unclippedFraction = fraction;
    }
    const single = new RdpAccountant(this.spent.orders);
    single.composeGaussian(this.config.noiseMultiplier);
    this.spent.composeGaussian(this.config.noiseMultiplier);
    report.epsilonRound = single.epsilon(this.config.delta).epsilon;
    report.epsilonTotal = this.spent.epsilon(this.config.delta).epsilon;
    return { model, report: { ...report } };
  }

  memoryBytes(updates: number): number {
    return this.inner.memoryBytes(updates);
  }

  exportState(): StrategyState {
    const inner = this.inner.exportState();
    return { ...inner, scalars: { ...inner.scalars, 'dp.clipNorm': this.clipNorm, 'dp.rdp': JSON.stringify(this.spent.toJSON()) } };
  }

  restoreState(state: StrategyState): void {
    const { 'dp.clipNorm': clipNorm, 'dp.rdp': rdp, ...scalars } = state.scalars;
    if (typeof clipNorm !== 'number' || !(clipNorm > 0) || typeof rdp !== 'string') throw new StrategyStateError('state has no central-DP part (dp.clipNorm, dp.rdp)');
    const spent = RdpAccountant.fromJSON(JSON.parse(rdp) as Parameters<typeof RdpAccountant.fromJSON>[0]);
    this.inner.restoreState({ ...state, scalars });
    this.clipNorm = clipNorm;
    this.spent = spent;
    this.openRound = undefined;
  }
}

interface DpRoundParts {
  round: number;
  global: Float32Array;
  clipNorm: number;
  sum: Accumulator;
  kernel: FoldKernel;
  offsets: readonly number[];
}

class DpRound implements RoundAggregation {
  readonly round: number;
  private added = 0;
  /** Σ s_i: how much of the global model the folded sum of s_i·w_i carries. */
  private clipWeight = 0;
  private unclipped = 0;

  private readonly guard: RoundGuard;

  constructor(
    private readonly parts: DpRoundParts,
    private readonly complete: (deltaSum: Float64Array, unclipped: number) => RoundResult,
    isOpen: () => boolean,
  ) {
    this.round = parts.round;
    this.guard = new RoundGuard(`round ${parts.round}`, isOpen);
  }

  get count(): number {
    return this.added;
  }

  add(update: CheckedUpdate): void {
    this.guard.check();
    const { global, clipNorm, sum, kernel, offsets } = this.parts;
    let norm = update.deltaNorm;
    if (norm === undefined) {
      let squared = 0;
      update.tensors.forEach(({ values }, i) => (squared += kernel.squaredDistance(values, global.subarray(offsets[i], offsets[i] + values.length))));
      norm = Math.sqrt(squared);
    }
    const scale = norm > clipNorm ? clipNorm / norm : 1;
    update.tensors.forEach(({ values }, i) => kernel.fold(sum, offsets[i], values, scale));
    this.clipWeight += scale;
    if (norm <= clipNorm) this.unclipped += 1;
    this.added += 1;
  }

  finish(): RoundResult {
    this.guard.check();
    if (this.added === 0) throw new InsufficientUpdatesError(`round ${this.round}: no update to aggregate`);
    this.guard.finish();
    const { global, sum } = this.parts;
    const deltaSum = sum.values();
    for (let i = 0; i < deltaSum.length; i++) deltaSum[i] -= this.clipWeight * global[i];
    return this.complete(deltaSum, this.unclipped);
  }
}
