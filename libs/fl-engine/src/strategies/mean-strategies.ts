import type { EngineStrategyName, FedAdagradParams, FedAdamParams, FedAvgMParams, FedProxParams, FedYogiParams, StrategyFitHints } from '@flops/contracts';
import { InsufficientUpdatesError, StrategyStateError } from '../errors';
import { Accumulator, FoldKernel } from '../kernels/fold-kernel';
import { ModelShape } from '../model/model-shape';
import type { CheckedUpdate } from '../robustness/update-guard';
import { RoundAggregation, RoundGuard, RoundResult, Strategy, StrategyState } from './strategy';
import { restoreVectors } from './strategy-state';

/**
 * Strategies whose round is a sample-weighted mean of the updates followed by a server step: FedAvg,
 * FedProx, FedAvgM, FedAdagrad, FedAdam, FedYogi. The mean is folded update by update into one float64
 * running sum (the fold kernel), so a round holds 8 bytes per model value however many learners report;
 * the server step then needs the strategy's own state (momentum or moments, float32).
 *
 * Central DP and secure aggregation produce the mean differently (clipped and noised, or unmasked from a
 * sum) and hand it to the same server step, `applyMean`.
 */
export abstract class MeanStrategy implements Strategy {
  readonly memory = 'streaming' as const;
  /** Allocated at the first round: a strategy wrapped by central DP never needs its own. */
  private sum?: Accumulator;
  private openRound?: MeanRound;

  protected constructor(
    readonly name: EngineStrategyName,
    readonly shape: ModelShape,
    protected readonly kernel: FoldKernel,
  ) {}

  fitHints(_learnerId: string): StrategyFitHints {
    return {};
  }

  beginRound(round: number, global: Float32Array): RoundAggregation {
    const sum = (this.sum ??= this.kernel.accumulator(this.shape.size));
    sum.zero();
    const opened: MeanRound = new MeanRound(this, round, global, sum, this.kernel, () => this.openRound === opened);
    this.openRound = opened;
    return opened;
  }

  /** The new global model from the current one and the round's mean update (float64, may be overwritten). */
  abstract applyMean(round: number, global: Float32Array, mean: Float64Array): Float32Array;

  memoryBytes(_updates: number): number {
    return this.shape.size * 8 + this.stateVectors() * this.shape.size * 4;
  }

  exportState(): StrategyState {
    return { strategy: this.name, scalars: {}, vectors: this.vectors() };
  }

  restoreState(state: StrategyState): void {
    this.setVectors(restoreVectors(state, this.name, this.shape.size, this.vectorKeys()));
  }

  /** Model-sized float32 vectors of state this strategy keeps between rounds (for the memory figure). */
  protected stateVectors(): number {
    return this.vectorKeys().length;
  }

  protected vectorKeys(): readonly string[] {
    return [];
  }

  protected vectors(): Record<string, Float32Array> {
    return {};
  }

  protected setVectors(_vectors: Record<string, Float32Array>): void {}
}

/** A round of a MeanStrategy: Σ numSamples · update, folded as updates arrive. */
class MeanRound implements RoundAggregation {
  private weight = 0;
  private added = 0;
  private readonly guard: RoundGuard;

  constructor(
    private readonly strategy: MeanStrategy,
    readonly round: number,
    private readonly global: Float32Array,
    private readonly sum: Accumulator,
    private readonly kernel: FoldKernel,
    isOpen: () => boolean,
  ) {
    this.guard = new RoundGuard(`round ${round} of ${strategy.name}`, isOpen);
  }

  get count(): number {
    return this.added;
  }

  add(update: CheckedUpdate): void {
    this.guard.check();
    const { offsets } = this.strategy.shape;
    update.tensors.forEach(({ values }, i) => this.kernel.fold(this.sum, offsets[i], values, update.numSamples));
    this.weight += update.numSamples;
    this.added += 1;
  }

  finish(): RoundResult {
    this.guard.check();
    if (this.added === 0) throw new InsufficientUpdatesError(`round ${this.round}: no update to average`);
    this.guard.finish();
    const mean = this.sum.values();
    for (let i = 0; i < mean.length; i++) mean[i] /= this.weight;
    const model = this.strategy.applyMean(this.round, this.global, mean);
    return { model, report: { updates: this.added, totalWeight: this.weight } };
  }
}

export class FedAvg extends MeanStrategy {
  constructor(shape: ModelShape, kernel: FoldKernel, name: EngineStrategyName = 'fedavg') {
    super(name, shape, kernel);
  }

  applyMean(_round: number, _global: Float32Array, mean: Float64Array): Float32Array {
    return Float32Array.from(mean);
  }
}

/** FedAvg on the server; the learners add (μ/2)·‖w − w_global‖² to their loss (Li et al., 2020). */
export class FedProx extends FedAvg {
  constructor(
    shape: ModelShape,
    kernel: FoldKernel,
    private readonly params: FedProxParams,
  ) {
    super(shape, kernel, 'fedprox');
  }

  override fitHints(): StrategyFitHints {
    return { proximalMu: this.params.proximalMu };
  }
}

/**
 * FedAvg with server momentum (Hsu et al., 2019), as Flower's FedAvgM: the pseudo-gradient is
 * global − mean; with momentum β it becomes v ← β·v + pseudo-gradient (v starts as the first one); the new
 * model is global − lr · v. With lr = 1 and β = 0 it is FedAvg.
 */
export class FedAvgM extends MeanStrategy {
  private momentum?: Float32Array;

  constructor(
    shape: ModelShape,
    kernel: FoldKernel,
    private readonly params: FedAvgMParams,
  ) {
    super('fedavgm', shape, kernel);
  }

  applyMean(_round: number, global: Float32Array, mean: Float64Array): Float32Array {
    const { serverLearningRate: lr, serverMomentum: beta } = this.params;
    const out = new Float32Array(global.length);
    if (beta === 0 && lr === 1) {
      out.set(mean);
      return out;
    }
    if (beta > 0) {
      const first = !this.momentum;
      const v = (this.momentum ??= new Float32Array(global.length));
      for (let i = 0; i < out.length; i++) {
        v[i] = (first ? 0 : beta * v[i]) + (global[i] - mean[i]);
        out[i] = global[i] - lr * v[i];
      }
    } else {
      for (let i = 0; i < out.length; i++) out[i] = global[i] - lr * (global[i] - mean[i]);
    }
    return out;
  }

  protected override vectorKeys(): readonly string[] {
    return ['momentum'];
  }

  protected override vectors(): Record<string, Float32Array> {
    return this.momentum ? { momentum: this.momentum.slice() } : {};
  }

  protected override setVectors(vectors: Record<string, Float32Array>): void {
    this.momentum = vectors.momentum;
  }
}

type FedOptVariant = 'fedadagrad' | 'fedadam' | 'fedyogi';

/**
 * Adaptive server optimisers (Reddi et al., 2021), as Flower's FedAdagrad, FedAdam and FedYogi: with
 * Δ = mean − global, m ← β₁m + (1 − β₁)Δ and v by the variant (Adagrad v + Δ², Adam β₂v + (1 − β₂)Δ²,
 * Yogi v − (1 − β₂)Δ²·sign(v − Δ²)); the new model is global + η·m / (√v + τ). FedAdam scales η by
 * √(1 − β₂^(t+1)) / (1 − β₁^(t+1)) in round t, as Flower does. m and v are kept as float32.
 */
export class FedOpt extends MeanStrategy {
  private m?: Float32Array;
  private v?: Float32Array;

  constructor(
    variant: FedOptVariant,
    shape: ModelShape,
    kernel: FoldKernel,
    private readonly params: FedAdagradParams | FedAdamParams | FedYogiParams,
  ) {
    super(variant, shape, kernel);
  }

  applyMean(round: number, global: Float32Array, mean: Float64Array): Float32Array {
    const { eta, tau } = this.params;
    const beta1 = this.name === 'fedadagrad' ? 0 : (this.params as FedAdamParams).beta1;
    const beta2 = this.name === 'fedadagrad' ? 0 : (this.params as FedAdamParams).beta2;
    const step = this.name === 'fedadam' ? (eta * Math.sqrt(1 - Math.pow(beta2, round + 1))) / (1 - Math.pow(beta1, round + 1)) : eta;
    const m = (this.m ??= new Float32Array(global.length));
    const v = (this.v ??= new Float32Array(global.length));
    const out = new Float32Array(global.length);
    for (let i = 0; i < out.length; i++) {
      const delta = mean[i] - global[i];
      const squared = delta * delta;
      m[i] = beta1 * m[i] + (1 - beta1) * delta;
      switch (this.name) {
        case 'fedadagrad':
          v[i] = v[i] + squared;
          break;
        case 'fedadam':
          v[i] = beta2 * v[i] + (1 - beta2) * squared;
          break;
        default:
          v[i] = v[i] - (1 - beta2) * squared * Math.sign(v[i] - squared);
      }
      out[i] = global[i] + (step * m[i]) / (Math.sqrt(v[i]) + tau);
    }
    return out;
  }

  protected override vectorKeys(): readonly string[] {
    return ['m', 'v'];
  }

  protected override vectors(): Record<string, Float32Array> {
    return this.m && this.v ? { m: this.m.slice(), v: this.v.slice() } : {};
  }

  protected override setVectors(vectors: Record<string, Float32Array>): void {
    if (!vectors.m !== !vectors.v) throw new StrategyStateError(`${this.name} state needs both moments m and v, or neither`);
    this.m = vectors.m;
    this.v = vectors.v;
  }
}
