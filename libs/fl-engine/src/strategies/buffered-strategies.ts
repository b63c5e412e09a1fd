import type { BulyanParams, EngineStrategyName, FedTrimmedAvgParams, KrumParams, MultiKrumParams, StrategyFitHints } from '@flops/contracts';
import { InsufficientUpdatesError, UpdateRefusedError } from '../errors';
import { FoldKernel } from '../kernels/fold-kernel';
import { ModelShape } from '../model/model-shape';
import type { CheckedUpdate } from '../robustness/update-guard';
import { RoundAggregation, RoundGuard, RoundResult, Strategy, StrategyState } from './strategy';
import { restoreVectors } from './strategy-state';

/** Squared L2 distance between the round's i-th and j-th updates. */
type Distance = (i: number, j: number) => number;

/** An update kept for the end of the round: a flat float32 copy. */
interface KeptUpdate {
  learnerId: string;
  numSamples: number;
  values: Float32Array;
}

/**
 * Strategies whose math needs every update of the round at once: coordinate-wise median and trimmed mean,
 * Krum, MultiKrum and Bulyan (Byzantine-robust rules, as Flower defines them). A round keeps one float32
 * copy of each update (4 B per model value per update) and, for the Krum family, the pairwise squared
 * distances (8 B per pair), computed as updates arrive so that the end of the round only selects.
 * These strategies keep no state between rounds.
 */
abstract class BufferedStrategy implements Strategy {
  readonly memory = 'buffered' as const;
  private openRound?: BufferedRound;

  protected constructor(
    readonly name: EngineStrategyName,
    readonly shape: ModelShape,
    protected readonly kernel: FoldKernel,
    /** Whether aggregate() needs pairwise distances. */
    readonly needsDistances: boolean,
  ) {}

  fitHints(): StrategyFitHints {
    return {};
  }

  beginRound(round: number, _global: Float32Array): RoundAggregation {
    const opened: BufferedRound = new BufferedRound(this, round, this.kernel, () => this.openRound === opened);
    this.openRound = opened;
    return opened;
  }

  memoryBytes(updates: number): number {
    return updates * this.shape.size * 4 + (this.needsDistances ? updates * updates * 8 : 0);
  }

  exportState(): StrategyState {
    return { strategy: this.name, scalars: {}, vectors: {} };
  }

  restoreState(state: StrategyState): void {
    restoreVectors(state, this.name, this.shape.size, []);
  }

  /** The round's result from all its updates (in arrival order) and, if needed, their squared distances. */
  abstract aggregate(round: number, updates: readonly KeptUpdate[], distance: Distance): RoundResult;
}

class BufferedRound implements RoundAggregation {
  private readonly updates: KeptUpdate[] = [];
  /** lower[i][j] = ‖u_i − u_j‖² for j < i: each update's distances to the earlier ones, computed on arrival. */
  private readonly lower: Float64Array[] = [];

  private readonly guard: RoundGuard;

  constructor(
    private readonly strategy: BufferedStrategy,
    readonly round: number,
    private readonly kernel: FoldKernel,
    isOpen: () => boolean,
  ) {
    this.guard = new RoundGuard(`round ${round} of ${strategy.name}`, isOpen);
  }

  get count(): number {
    return this.updates.length;
  }

  add(update: CheckedUpdate): void {
    this.guard.check();
    if (this.updates.some((kept) => kept.learnerId === update.learnerId)) {
      throw new UpdateRefusedError('strategy', `${update.learnerId} already sent an update this round`);
    }
    const values = this.strategy.shape.flatten(update.tensors);
    if (this.strategy.needsDistances) {
      this.lower.push(Float64Array.from(this.updates, (kept) => this.kernel.squaredDistance(kept.values, values)));
    }
    this.updates.push({ learnerId: update.learnerId, numSamples: update.numSamples, values });
  }

  finish(): RoundResult {
    this.guard.check();
    if (this.updates.length === 0) throw new InsufficientUpdatesError(`round ${this.round}: no update to aggregate`);
    const lower = this.lower;
    const distance: Distance = (i, j) => (i === j ? 0 : i > j ? lower[i][j] : lower[j][i]);
    // Buffered strategies keep no state: a round that cannot be aggregated yet (Bulyan's n ≥ 4f + 3) stays open.
    const result = this.strategy.aggregate(this.round, this.updates, distance);
    this.guard.finish();
    return result;
  }
}

export class FedMedian extends BufferedStrategy {
  constructor(shape: ModelShape, kernel: FoldKernel) {
    super('fedmedian', shape, kernel, false);
  }

  aggregate(_round: number, updates: readonly KeptUpdate[]): RoundResult {
    return { model: columnwise(updates.map((u) => u.values), median), report: { updates: updates.length } };
  }
}

/** Coordinate-wise mean after cutting ⌊β·n⌋ values at each end (as scipy's trim_mean, which Flower follows). */
export class FedTrimmedAvg extends BufferedStrategy {
  constructor(
    shape: ModelShape,
    kernel: FoldKernel,
    private readonly params: FedTrimmedAvgParams,
  ) {
    super('fedtrimmedavg', shape, kernel, false);
  }

  aggregate(_round: number, updates: readonly KeptUpdate[]): RoundResult {
    const cut = Math.floor(this.params.beta * updates.length);
    const model = columnwise(
      updates.map((u) => u.values),
      (column) => {
        sortAscending(column);
        let total = 0;
        for (let k = cut; k < column.length - cut; k++) total += column[k];
        return total / (column.length - 2 * cut);
      },
    );
    return { model, report: { updates: updates.length, trimmedPerSide: cut } };
  }
}

/**
 * Krum (Blanchard et al., 2017) and MultiKrum: each update is scored by the sum of its squared distances to
 * its n − f − 2 nearest others (at least 1); Krum returns the best-scored update, MultiKrum the
 * sample-weighted mean of the `numToSelect` best (Flower's `Krum`, `MultiKrum`).
 */
export class Krum extends BufferedStrategy {
  constructor(
    name: 'krum' | 'multikrum',
    shape: ModelShape,
    kernel: FoldKernel,
    private readonly params: KrumParams | MultiKrumParams,
  ) {
    super(name, shape, kernel, true);
  }

  aggregate(_round: number, updates: readonly KeptUpdate[], distance: Distance): RoundResult {
    const all = updates.map((_, i) => i);
    const scores = krumScores(all, distance, this.params.numMalicious);
    const keep = this.name === 'multikrum' ? Math.min((this.params as MultiKrumParams).numToSelect, updates.length) : 1;
    const chosen = lowest(scores, keep).map((k) => all[k]);
    const model = keep === 1 ? updates[chosen[0]].values.slice() : weightedMean(chosen.map((i) => updates[i]));
    return { model, report: { updates: updates.length, selected: chosen.map((i) => updates[i].learnerId) } };
  }
}

/**
 * Bulyan (El Mhamdi et al., 2018): needs n ≥ 4f + 3. θ = n − 2f updates are selected with Krum, then each
 * coordinate is the mean of the β = θ − 2f selected values closest to the selected values' median.
 * Selection `iterative-krum` (the paper, and Flower's `flwr.server.strategy.Bulyan`) runs Krum θ times,
 * each time over the updates not yet selected; `multikrum` (Flower's Message-API Bulyan) takes the θ best
 * Krum scores of one pass over all n.
 */
export class Bulyan extends BufferedStrategy {
  constructor(
    shape: ModelShape,
    kernel: FoldKernel,
    private readonly params: BulyanParams,
  ) {
    super('bulyan', shape, kernel, true);
  }

  aggregate(round: number, updates: readonly KeptUpdate[], distance: Distance): RoundResult {
    const n = updates.length;
    const f = this.params.numMalicious;
    if (n < 4 * f + 3) throw new InsufficientUpdatesError(`round ${round}: Bulyan with numMalicious ${f} needs at least ${4 * f + 3} updates, got ${n}`);
    const theta = n - 2 * f;
    const beta = theta - 2 * f;
    let selected: number[];
    if (this.params.selection === 'multikrum') {
      const all = updates.map((_, i) => i);
      selected = lowest(krumScores(all, distance, f), theta);
    } else {
      const remaining = updates.map((_, i) => i);
      selected = [];
      while (selected.length < theta) {
        const [best] = lowest(krumScores(remaining, distance, f), 1);
        selected.push(remaining[best]);
        remaining.splice(best, 1);
      }
    }
    const gap = new Float64Array(theta);
    const order = new Int32Array(theta);
    const model = columnwise(
      selected.map((i) => updates[i].values),
      (column) => {
        const centre = median(column.slice());
        for (let k = 0; k < theta; k++) {
          gap[k] = Math.abs(column[k] - centre);
          order[k] = k;
        }
        sortIndicesBy(order, gap);
        let total = 0;
        for (let k = 0; k < beta; k++) total += column[order[k]];
        return total / beta;
      },
    );
    return { model, report: { updates: n, selected: selected.map((i) => updates[i].learnerId), closestPerCoordinate: beta } };
  }
}

/** Krum scores of the updates `members` (indices), each against the other members only. */
function krumScores(members: readonly number[], distance: Distance, numMalicious: number): Float64Array {
  const m = members.length;
  const closest = Math.max(1, m - numMalicious - 2);
  const scores = new Float64Array(m);
  const row = new Float64Array(Math.max(0, m - 1));
  members.forEach((i, a) => {
    let k = 0;
    for (const j of members) if (j !== i) row[k++] = distance(i, j);
    sortAscending(row);
    let score = 0;
    for (let c = 0; c < Math.min(closest, row.length); c++) score += row[c];
    scores[a] = score;
  });
  return scores;
}

/** Positions of the `count` lowest scores, lowest first (ties: the earlier position first). */
function lowest(scores: Float64Array, count: number): number[] {
  return [...scores.keys()].sort((a, b) => scores[a] - scores[b] || a - b).slice(0, count);
}

/** Sample-weighted mean, in float64, rounded once. */
function weightedMean(updates: readonly KeptUpdate[]): Float32Array {
  const size = updates[0].values.length;
  const sum = new Float64Array(size);
  let weight = 0;
  for (const { values, numSamples } of updates) {
    for (let i = 0; i < size; i++) sum[i] += numSamples * values[i];
    weight += numSamples;
  }
  return Float32Array.from(sum, (v) => v / weight);
}

/** out[i] = reduce(the i-th value of every vector); the column buffer is scratch the reducer may reorder. */
function columnwise(vectors: readonly Float32Array[], reduce: (column: Float64Array) => number): Float32Array {
  const size = vectors[0].length;
  const out = new Float32Array(size);
  const column = new Float64Array(vectors.length);
  for (let i = 0; i < size; i++) {
    for (let k = 0; k < vectors.length; k++) column[k] = vectors[k][i];
    out[i] = reduce(column);
  }
  return out;
}

/** Median (the mean of the two middle values for an even count); reorders `column`. */
function median(column: Float64Array): number {
  sortAscending(column);
  const mid = column.length >> 1;
  return column.length % 2 === 1 ? column[mid] : (column[mid - 1] + column[mid]) / 2;
}

/** Insertion sort: the columns here hold one value per learner, a few to a few hundred. */
function sortAscending(values: Float64Array): void {
  if (values.length > 64) {
    values.sort();
    return;
  }
  for (let i = 1; i < values.length; i++) {
    const v = values[i];
    let j = i - 1;
    while (j >= 0 && values[j] > v) {
      values[j + 1] = values[j];
      j--;
    }
    values[j + 1] = v;
  }
}

/** Sorts `order` (indices) by ascending key, stable. */
function sortIndicesBy(order: Int32Array, key: Float64Array): void {
  for (let i = 1; i < order.length; i++) {
    const o = order[i];
    let j = i - 1;
    while (j >= 0 && key[order[j]] > key[o]) {
      order[j + 1] = order[j];
      j--;
    }
    order[j + 1] = o;
  }
}
