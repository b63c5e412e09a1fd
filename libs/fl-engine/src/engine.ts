import { CentralDpConfig, EngineStrategyName, MEAN_STRATEGIES, StrategyChoice, StrategyFitHints } from '@flops/contracts';
import { NamedTensor, TensorLayout, decodeTensors, encodeTensors, layoutDigest } from '@flops/tensor-codec';
import { StrategyStateError, UpdateRefusedError } from './errors';
import { FoldKernel, createFoldKernel } from './kernels/fold-kernel';
import { ModelShape } from './model/model-shape';
import { CentralDp } from './privacy/central-dp';
import { SecAggDecoded } from './privacy/secagg/codec';
import { CryptoRandom, RandomSource } from './privacy/random';
import { RefusalLedger } from './robustness/refusal-ledger';
import { CheckedUpdate, GuardOptions, LearnerUpdate, UpdateGuard } from './robustness/update-guard';
import { createStrategy } from './strategies/create-strategy';
import { MeanStrategy } from './strategies/mean-strategies';
import { Scaffold } from './strategies/scaffold';
import { RoundAggregation, RoundReport, Strategy, StrategyState } from './strategies/strategy';

export interface EngineSettings {
  /** The model's tensors (names and shapes), as the initial weights have them. */
  layout: TensorLayout;
  /** A validated strategy choice (validateStrategy in @flops/contracts). */
  strategy: StrategyChoice;
  /** Learners deployed. */
  learners: number;
  /** Checks beyond layout and finiteness, e.g. an L2 bound on an update's change to the model. */
  guard?: GuardOptions;
  /** Central differential privacy (mean strategies only). */
  centralDp?: CentralDpConfig;
  /** Default: WebAssembly SIMD where available. */
  kernel?: FoldKernel;
  /** Default: the operating system's CSPRNG. */
  random?: RandomSource;
}

export interface RoundOutcome {
  /** The new global model as named tensors (views of `model`). */
  tensors: NamedTensor[];
  model: Float32Array;
  report: RoundReport;
}

const STATE_FORMAT = 'flops-fl-engine-state';
const STATE_VERSION = 1;

/**
 * The FL engine as the aggregator uses it: per round, every update is checked (UpdateGuard) and refusals
 * are counted per learner (RefusalLedger) before the strategy, possibly under central DP, folds it in.
 * Pure: no I/O; the caller moves bytes and decides what a refused update means for the round.
 *
 * Memory (beyond the global model and the updates being read): streaming strategies hold 8 B per model
 * value (the float64 sum) plus their state (FedAvgM 4 B, FedAdagrad/Adam/Yogi 8 B, SCAFFOLD 20 B + 4 B per
 * learner per value); buffered ones hold 4 B per value per update of the round. `memoryBytes(n)` says it.
 */
export class AggregationEngine {
  readonly shape: ModelShape;
  readonly strategy: Strategy;
  readonly kernel: FoldKernel;
  readonly refusals = new RefusalLedger();
  private readonly guard: UpdateGuard;

  constructor(settings: EngineSettings) {
    this.shape = new ModelShape(settings.layout);
    this.kernel = settings.kernel ?? createFoldKernel();
    this.guard = new UpdateGuard(this.shape, this.kernel, settings.guard);
    const strategy = createStrategy(settings.strategy, { shape: this.shape, kernel: this.kernel, learners: settings.learners });
    if (settings.centralDp) {
      if (!(strategy instanceof MeanStrategy) || !MEAN_STRATEGIES.includes(strategy.name)) {
        throw new RangeError(`central DP needs a strategy that averages updates (${MEAN_STRATEGIES.join(', ')}), not ${settings.strategy.name}`);
      }
      const expected = settings.centralDp.expectedLearnersPerRound ?? settings.learners;
      this.strategy = new CentralDp(strategy, settings.centralDp, this.kernel, settings.random ?? new CryptoRandom(), expected);
    } else {
      this.strategy = strategy;
    }
  }

  get strategyName(): EngineStrategyName {
    return this.strategy.name;
  }

  /** What a learner's training code gets for a fit task (FedProx's μ, SCAFFOLD's correction). */
  fitHints(learnerId: string): StrategyFitHints {
    return this.strategy.fitHints(learnerId);
  }

  /** SCAFFOLD: the learner's correction c − c_i as model-shaped tensors; undefined for other strategies. */
  correction(learnerId: string): NamedTensor[] | undefined {
    return this.strategy instanceof Scaffold ? this.shape.tensors(this.strategy.correction(learnerId)) : undefined;
  }

  /**
   * Opens a round on the current global model: tensors in the model's layout (copied), or a flat vector, which
   * is used as is and must not change until the round is finished.
   */
  beginRound(round: number, global: readonly NamedTensor[] | Float32Array): EngineRound {
    const flat = global instanceof Float32Array ? this.checkedFlat(global) : this.shape.flatten(global);
    return new EngineRound(round, this.shape, this.guard, this.refusals, this.strategy.beginRound(round, flat), flat);
  }

  /**
   * The end of a round run under secure aggregation, from the decoded sum (decodeSecAggSum): the aggregator
   * never saw an update, so none was checked or refused; learners clipped their own (coordinates to
   * ±clippingRange, and to L2 norm C under central DP). Mean strategies only.
   */
  finishSecureRound(round: number, global: readonly NamedTensor[] | Float32Array, decoded: SecAggDecoded): RoundOutcome {
    const flat = global instanceof Float32Array ? global : this.shape.flatten(global);
    if (decoded.deltaSum.length !== this.shape.size) throw new RangeError(`the secure sum has ${decoded.deltaSum.length} values, the model ${this.shape.size}`);
    const sum = Float64Array.from(decoded.deltaSum);
    let result;
    if (this.strategy instanceof CentralDp) {
      result = this.strategy.aggregateSum(round, flat, sum, decoded.unclipped);
    } else if (this.strategy instanceof MeanStrategy) {
      for (let i = 0; i < sum.length; i++) sum[i] = flat[i] + sum[i] / decoded.weightSum;
      result = { model: this.strategy.applyMean(round, flat, sum), report: {} };
    } else {
      throw new RangeError(`secure aggregation needs a strategy that averages updates, not ${this.strategy.name}`);
    }
    return { model: result.model, tensors: this.shape.tensors(result.model), report: { ...result.report, secureAggregation: 1, updates: decoded.survivors } };
  }

  private checkedFlat(global: Float32Array): Float32Array {
    if (global.length !== this.shape.size) throw new RangeError(`the global model has ${global.length} values, the layout ${this.shape.size}`);
    return global;
  }

  /** Bytes the engine holds for a round of `updates` updates (see the class comment). */
  memoryBytes(updates: number): number {
    return this.strategy.memoryBytes(updates);
  }

  /** The strategy's state and the refusal counts, as one FLT1 buffer (opaque to the caller; for checkpoints). */
  exportState(): Buffer {
    const { strategy, scalars, vectors } = this.strategy.exportState();
    const tensors = Object.entries(vectors).map(([name, values]) => ({ name, shape: [values.length], values }));
    return encodeTensors(tensors, {
      format: STATE_FORMAT,
      version: STATE_VERSION,
      strategy,
      layout: layoutDigest(this.shape.layout),
      scalars,
      refusals: this.refusals.toJSON(),
    });
  }

  restoreState(bytes: Uint8Array): void {
    const { tensors, meta } = decodeTensors(bytes);
    if (meta.format !== STATE_FORMAT || meta.version !== STATE_VERSION) throw new StrategyStateError(`not engine state of version ${STATE_VERSION}`);
    if (meta.layout !== layoutDigest(this.shape.layout)) throw new StrategyStateError('the state belongs to a model with another layout');
    const state: StrategyState = {
      strategy: meta.strategy as EngineStrategyName,
      scalars: (meta.scalars ?? {}) as StrategyState['scalars'],
      vectors: Object.fromEntries(tensors.map(({ name, values }) => [name, values.slice()])),
    };
    RefusalLedger.fromJSON(meta.refusals); // malformed counts fail before anything changes
    this.strategy.restoreState(state);
    this.refusals.load(meta.refusals);
  }
}

/** One round: offer updates as they arrive, then finish. */
export class EngineRound {
  private readonly learners = new Set<string>();

  constructor(
    readonly round: number,
    private readonly shape: ModelShape,
    private readonly guard: UpdateGuard,
    private readonly refusals: RefusalLedger,
    private readonly aggregation: RoundAggregation,
    private readonly global: Float32Array,
  ) {}

  get count(): number {
    return this.aggregation.count;
  }

  /**
   * Checks an update and adds it. A refused update is counted against its learner and rethrown as
   * UpdateRefusedError; the aggregate is then exactly as before.
   */
  offer(update: LearnerUpdate): CheckedUpdate {
    try {
      if (this.learners.has(update.learnerId)) throw new UpdateRefusedError('strategy', `${update.learnerId} already sent an update in round ${this.round}`);
      const checked = this.guard.check(update, this.global);
      this.aggregation.add(checked);
      this.learners.add(update.learnerId);
      return checked;
    } catch (error) {
      if (error instanceof UpdateRefusedError) this.refusals.record(update.learnerId, this.round, error);
      throw error;
    }
  }

  /** The new global model. Throws InsufficientUpdatesError when the round's updates cannot be aggregated. */
  finish(): RoundOutcome {
    const { model, report } = this.aggregation.finish();
    return { model, tensors: this.shape.tensors(model), report };
  }
}
