import type { EngineStrategyName, StrategyFitHints } from '@flops/contracts';
import type { CheckedUpdate } from '../robustness/update-guard';

/**
 * How a strategy holds a round's updates. `streaming`: folded into running sums as they arrive, memory flat
 * in the number of learners. `buffered`: the math needs all of them at once (median, trimmed mean, Krum,
 * Bulyan), one float32 copy of the model per update.
 */
export type MemoryKind = 'streaming' | 'buffered';

/** What a round reports beside the model, e.g. which learners Krum selected. */
export type RoundReport = Record<string, number | string | string[]>;

export interface RoundResult {
  /** The new global model, flat (see ModelShape). */
  model: Float32Array;
  report: RoundReport;
}

/** One round of one strategy: updates go in one at a time, the new global model comes out. */
export interface RoundAggregation {
  readonly round: number;
  /** Updates added so far. */
  readonly count: number;
  /** Adds a checked update. Throws UpdateRefusedError('strategy') if this strategy cannot use it (nothing is added). */
  add(update: CheckedUpdate): void;
  /** The new global model. Throws InsufficientUpdatesError when the updates cannot be aggregated. */
  finish(): RoundResult;
}

/** A strategy's state between rounds (server optimiser moments, control variates, …), for checkpoints. */
export interface StrategyState {
  strategy: EngineStrategyName;
  scalars: Record<string, number | string | boolean | null>;
  vectors: Record<string, Float32Array>;
}

export interface Strategy {
  readonly name: EngineStrategyName;
  readonly memory: MemoryKind;
  /** What this strategy tells a learner's training code for a fit task. */
  fitHints(learnerId: string): StrategyFitHints;
  /** Opens a round on the current global model (flat). Opening a round abandons any open one. */
  beginRound(round: number, global: Float32Array): RoundAggregation;
  /**
   * Bytes this strategy holds for a round of `updates` updates, beyond the global model and the updates
   * being read: its state between rounds plus what the round accumulates.
   */
  memoryBytes(updates: number): number;
  exportState(): StrategyState;
  /** Replaces the state with an exported one (same strategy, same model). Throws StrategyStateError. */
  restoreState(state: StrategyState): void;
}

/** Keeps a round usable only while it is its strategy's current round and not yet finished. */
export class RoundGuard {
  private finished = false;

  constructor(
    private readonly label: string,
    private readonly isCurrent: () => boolean,
  ) {}

  check(): void {
    if (this.finished) throw new Error(`${this.label} is already finished`);
    if (!this.isCurrent()) throw new Error(`${this.label} was superseded by a newer round`);
  }

  /** Call once the round's preconditions hold, before its result changes any state. */
  finish(): void {
    this.check();
    this.finished = true;
  }
}
