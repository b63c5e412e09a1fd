import type { QFedAvgParams, StrategyFitHints } from '@flops/contracts';
import { InsufficientUpdatesError, UpdateRefusedError } from '../errors';
import { Accumulator, FoldKernel } from '../kernels/fold-kernel';
import { ModelShape } from '../model/model-shape';
import type { CheckedUpdate } from '../robustness/update-guard';
import { RoundAggregation, RoundGuard, RoundResult, Strategy, StrategyState } from './strategy';
import { restoreVectors } from './strategy-state';

/**
 * q-FedAvg (Li et al., "Fair Resource Allocation in Federated Learning", 2020), as Flower's Message-API
 * QFedAvg: each learner's loss F_k (from its update's metrics) weights its step. With L = 1 / clientLearningRate
 * and Δ_k = L·(global − w_k): δ_k = F_k^q · Δ_k, h_k = q·F_k^(q−1)·‖Δ_k‖² + L·F_k^q, and the new model is
 * global − Σδ_k / Σh_k (F_k offset by 1e-10, as Flower).
 *
 * Streaming: Σδ_k = L·(Σc_k)·global − L·Σc_k·w_k with c_k = F_k^q, so one float64 running sum of c_k·w_k and
 * two scalars suffice; ‖Δ_k‖ comes from the kernel's distance pass.
 */
export class QFedAvg implements Strategy {
  readonly name = 'qfedavg' as const;
  readonly memory = 'streaming' as const;
  private readonly sum: Accumulator;
  private openRound?: QFedAvgRound;

  constructor(
    readonly shape: ModelShape,
    private readonly kernel: FoldKernel,
    readonly params: QFedAvgParams,
  ) {
    this.sum = kernel.accumulator(shape.size);
  }

  fitHints(): StrategyFitHints {
    return {};
  }

  beginRound(round: number, global: Float32Array): RoundAggregation {
    this.sum.zero();
    const opened: QFedAvgRound = new QFedAvgRound(this, round, global, this.sum, this.kernel, () => this.openRound === opened);
    this.openRound = opened;
    return opened;
  }

  memoryBytes(): number {
    return this.shape.size * 8;
  }

  exportState(): StrategyState {
    return { strategy: this.name, scalars: {}, vectors: {} };
  }

  restoreState(state: StrategyState): void {
    restoreVectors(state, this.name, this.shape.size, []);
  }
}

class QFedAvgRound implements RoundAggregation {
  private added = 0;
  /** Σ L·c_k, the weight of the global model in Σδ_k. */
  private globalWeight = 0;
  private h = 0;
  private readonly guard: RoundGuard;

  constructor(
    private readonly strategy: QFedAvg,
    readonly round: number,
    private readonly global: Float32Array,
    private readonly sum: Accumulator,
    private readonly kernel: FoldKernel,
    isOpen: () => boolean,
  ) {
    this.guard = new RoundGuard(`round ${round} of qfedavg`, isOpen);
  }

  get count(): number {
    return this.added;
  }

  add(update: CheckedUpdate): void {
    this.guard.check();
    const { q, clientLearningRate, lossKey } = this.strategy.params;
    const loss = update.metrics?.[lossKey];
    if (typeof loss !== 'number' || !Number.isFinite(loss) || loss < 0) {
      throw new UpdateRefusedError('strategy', `qfedavg needs the learner's training loss as a finite metric ${JSON.stringify(lossKey)} >= 0, got ${String(loss)}`);
    }
    const L = 1 / clientLearningRate;
    const { offsets } = this.strategy.shape;
    let squared = 0;
    update.tensors.forEach(({ values }, i) => (squared += this.kernel.squaredDistance(this.global.subarray(offsets[i], offsets[i] + values.length), values)));
    const lossPowQ = Math.pow(loss + 1e-10, q);
    // Σδ_k = Σ L·c_k·(global − w_k): fold w_k with weight L·c_k, remember Σ L·c_k for the global part.
    update.tensors.forEach(({ values }, i) => this.kernel.fold(this.sum, offsets[i], values, L * lossPowQ));
    this.globalWeight += L * lossPowQ;
    this.h += q * Math.pow(loss + 1e-10, q - 1) * L * L * squared + L * lossPowQ;
    this.added += 1;
  }

  finish(): RoundResult {
    this.guard.check();
    if (this.added === 0) throw new InsufficientUpdatesError(`round ${this.round}: no update to aggregate`);
    this.guard.finish();
    const folded = this.sum.values();
    const model = new Float32Array(this.global.length);
    for (let i = 0; i < model.length; i++) {
      const deltaSum = this.globalWeight * this.global[i] - folded[i];
      model[i] = this.global[i] - deltaSum / this.h;
    }
    return { model, report: { updates: this.added, qffl_h: this.h } };
  }
}
