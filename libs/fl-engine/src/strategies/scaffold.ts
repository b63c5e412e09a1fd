import { SCAFFOLD_STEP_SIZE_SUM_KEY, ScaffoldParams, StrategyFitHints } from '@flops/contracts';
import { InsufficientUpdatesError, StrategyStateError, UpdateRefusedError } from '../errors';
import { Accumulator, FoldKernel } from '../kernels/fold-kernel';
import { ModelShape } from '../model/model-shape';
import type { CheckedUpdate } from '../robustness/update-guard';
import { RoundAggregation, RoundGuard, RoundResult, Strategy, StrategyState } from './strategy';

const LEARNER_PREFIX = 'learner:';

/**
 * SCAFFOLD (Karimireddy et al., ICML 2020) with the control variates kept by the aggregator: the server
 * variate c and one c_i per learner (zero until the learner first trains), so learners stay stateless.
 *
 * Learner side: it gets the global model x and its correction c − c_i (`correction(learnerId)`), adds the
 * correction to every local gradient, and reports S_i = Σ of the learning rates of its K local steps
 * (K·η_l for a constant rate) in its update's meta (SCAFFOLD_STEP_SIZE_SUM_KEY).
 * Server side (option II of the paper): c_i⁺ = c_i − c + (x − y_i) / S_i; then
 * x ← x + η_g · mean_i(y_i − x) and c ← c + (1/N) · Σ_i (c_i⁺ − c_i), over the round's learners, N learners in all.
 *
 * Memory: the running sums of y_i and of c_i⁺ − c_i (float64, 16 B per model value), c and every c_i
 * (float32: 4 B per value per learner, inherent to keeping variates for stateless learners) and the round's
 * new c_i⁺ until the round completes (4 B per value per update): a round that fails changes no variate.
 */
export class Scaffold implements Strategy {
  readonly name = 'scaffold' as const;
  readonly memory = 'streaming' as const;
  private c: Float32Array;
  private readonly variates = new Map<string, Float32Array>();
  private readonly sumY: Accumulator;
  private readonly sumDeltaC: Accumulator;
  private openRound?: ScaffoldRound;

  constructor(
    readonly shape: ModelShape,
    private readonly kernel: FoldKernel,
    readonly params: ScaffoldParams,
    /** N: learners in the federation (the mean of the variates is over all of them). */
    readonly learners: number,
  ) {
    if (!Number.isInteger(learners) || learners < 1) throw new RangeError(`scaffold needs the number of learners, got ${learners}`);
    this.c = new Float32Array(shape.size);
    this.sumY = kernel.accumulator(shape.size);
    this.sumDeltaC = kernel.accumulator(shape.size);
  }

  fitHints(): StrategyFitHints {
    return { scaffoldCorrection: true };
  }

  /** c − c_i for a learner: what it adds to each local gradient this round. */
  correction(learnerId: string): Float32Array {
    const ci = this.variates.get(learnerId);
    const out = this.c.slice();
    if (ci) for (let i = 0; i < out.length; i++) out[i] -= ci[i];
    return out;
  }

  /** The server's control variate c (a copy). */
  serverVariate(): Float32Array {
    return this.c.slice();
  }

  /** A learner's control variate c_i (a copy; zero if it never trained). */
  learnerVariate(learnerId: string): Float32Array {
    return this.variates.get(learnerId)?.slice() ?? new Float32Array(this.shape.size);
  }

  beginRound(round: number, global: Float32Array): RoundAggregation {
    this.sumY.zero();
    this.sumDeltaC.zero();
    const opened: ScaffoldRound = new ScaffoldRound(
      { round, global, c: this.c, variates: this.variates, sumY: this.sumY, sumDeltaC: this.sumDeltaC, kernel: this.kernel },
      this,
      () => this.openRound === opened,
    );
    this.openRound = opened;
    return opened;
  }

  memoryBytes(updates: number): number {
    return this.shape.size * (16 + 4 + 4 * Math.max(this.variates.size, this.learners) + 4 * updates);
  }

  exportState(): StrategyState {
    const vectors: Record<string, Float32Array> = { c: this.c.slice() };
    for (const [id, ci] of this.variates) vectors[LEARNER_PREFIX + id] = ci.slice();
    return { strategy: this.name, scalars: {}, vectors };
  }

  restoreState(state: StrategyState): void {
    if (state.strategy !== this.name) throw new StrategyStateError(`state of strategy ${JSON.stringify(state.strategy)} cannot restore scaffold`);
    const { c, ...rest } = state.vectors;
    const check = (key: string, v: Float32Array | undefined): Float32Array => {
      if (!(v instanceof Float32Array) || v.length !== this.shape.size) throw new StrategyStateError(`scaffold state vector ${JSON.stringify(key)} must have ${this.shape.size} values`);
      return v.slice();
    };
    const restored = new Map<string, Float32Array>();
    for (const [key, vector] of Object.entries(rest)) {
      if (!key.startsWith(LEARNER_PREFIX)) throw new StrategyStateError(`scaffold keeps no state vector ${JSON.stringify(key)}`);
      restored.set(key.slice(LEARNER_PREFIX.length), check(key, vector));
    }
    this.c = check('c', c);
    this.openRound = undefined;
    this.variates.clear();
    for (const [id, ci] of restored) this.variates.set(id, ci);
  }
}

interface ScaffoldRoundParts {
  round: number;
  global: Float32Array;
  c: Float32Array;
  variates: Map<string, Float32Array>;
  sumY: Accumulator;
  sumDeltaC: Accumulator;
  kernel: FoldKernel;
}

class ScaffoldRound implements RoundAggregation {
  /** The new c_i⁺ of this round's learners, committed when the round completes. */
  private readonly staged = new Map<string, Float32Array>();
  readonly round: number;
  private readonly global: Float32Array;

  private readonly guard: RoundGuard;

  constructor(
    private readonly parts: ScaffoldRoundParts,
    private readonly strategy: Scaffold,
    isOpen: () => boolean,
  ) {
    this.round = parts.round;
    this.global = parts.global;
    this.guard = new RoundGuard(`round ${parts.round} of scaffold`, isOpen);
  }

  get count(): number {
    return this.staged.size;
  }

  add(update: CheckedUpdate): void {
    this.guard.check();
    const stepSizeSum = update.meta?.[SCAFFOLD_STEP_SIZE_SUM_KEY];
    if (typeof stepSizeSum !== 'number' || !Number.isFinite(stepSizeSum) || stepSizeSum <= 0) {
      throw new UpdateRefusedError('strategy', `scaffold needs ${SCAFFOLD_STEP_SIZE_SUM_KEY} in the update's meta: the sum of the local learning rates, a finite number > 0; got ${String(stepSizeSum)}`);
    }
    if (this.staged.has(update.learnerId)) throw new UpdateRefusedError('strategy', `${update.learnerId} already sent an update this round`);
    const { c, variates, sumY, sumDeltaC, kernel } = this.parts;
    const { offsets } = this.strategy.shape;
    const ci = variates.get(update.learnerId);
    const next = new Float32Array(c.length);
    const deltaC = new Float32Array(c.length);
    update.tensors.forEach(({ values }, t) => {
      const start = offsets[t];
      for (let j = 0; j < values.length; j++) {
        const i = start + j;
        const old = ci ? ci[i] : 0;
        next[i] = old - c[i] + (this.global[i] - values[j]) / stepSizeSum;
        deltaC[i] = next[i] - old;
      }
      kernel.fold(sumY, start, values, 1);
    });
    kernel.fold(sumDeltaC, 0, deltaC, 1);
    this.staged.set(update.learnerId, next);
  }

  finish(): RoundResult {
    this.guard.check();
    const n = this.staged.size;
    if (n === 0) throw new InsufficientUpdatesError(`round ${this.round}: no update to aggregate`);
    this.guard.finish();
    const { c, variates, sumY, sumDeltaC } = this.parts;
    const eta = this.strategy.params.globalLearningRate;
    const y = sumY.values();
    const model = new Float32Array(this.global.length);
    for (let i = 0; i < model.length; i++) model[i] = this.global[i] + eta * (y[i] / n - this.global[i]);
    const dc = sumDeltaC.values();
    for (let i = 0; i < c.length; i++) c[i] += dc[i] / this.strategy.learners;
    for (const [id, ci] of this.staged) variates.set(id, ci);
    return { model, report: { updates: n, learnersWithVariates: variates.size } };
  }
}
