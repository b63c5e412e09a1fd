import { elementCount, formatShape, NamedTensor, sameShape, TensorLayout, tensorLayoutOf } from '@flops/tensor-codec';
import { EmptyAggregationError, IncompatibleUpdateError, InvalidWeightError, NonFiniteUpdateError } from './aggregation-errors';

/**
 * Running FedAvg: Σ(weight · update) / Σ weight, where the weight is normally the learner's sample count.
 *
 * Updates are folded into one float64 accumulator per tensor as they arrive, so memory stays at one
 * model's size however many learners report, and rounding error stays far below float32 precision.
 * Every update is fully validated before any of it is added, so a rejected update leaves the sum untouched.
 */
export class WeightedAverage {
  readonly layout: TensorLayout;
  private readonly sums: Float64Array[];
  private updates = 0;
  private weightSum = 0;

  constructor(layout: TensorLayout) {
    this.layout = tensorLayoutOf(layout); // validated private copy: callers cannot change it under us
    this.sums = this.layout.map(({ shape }) => new Float64Array(elementCount(shape)));
  }

  /** Number of updates added so far. */
  get count(): number {
    return this.updates;
  }

  /** Sum of the weights of the updates added so far. */
  get totalWeight(): number {
    return this.weightSum;
  }

  /** Adds one update with the given weight (> 0, finite). Throws, changing nothing, if the update is unusable. */
  add(tensors: readonly NamedTensor[], weight: number): void {
    this.assertUsableWeight(weight);
    this.assertMatchesLayout(tensors);
    this.assertKeepsSumFinite(tensors, weight);
    tensors.forEach(({ values }, i) => {
      const sum = this.sums[i];
      for (let j = 0; j < sum.length; j++) sum[j] += weight * values[j];
    });
    this.updates += 1;
    this.weightSum += weight;
  }

  /** The weighted average so far, as fresh float32 tensors in layout order. */
  result(): NamedTensor[] {
    if (this.updates === 0) {
      throw new EmptyAggregationError('cannot compute a weighted average before any update has been added');
    }
    return this.layout.map(({ name, shape }, i) => {
      const sum = this.sums[i];
      const values = new Float32Array(sum.length);
      // Divide in float64 and round to float32 once, on assignment.
      for (let j = 0; j < sum.length; j++) values[j] = sum[j] / this.weightSum;
      return { name, shape: [...shape], values };
    });
  }

  /** Forgets all updates (e.g. at the start of a new round), keeping the layout and the allocated memory. */
  reset(): void {
    for (const sum of this.sums) sum.fill(0);
    this.updates = 0;
    this.weightSum = 0;
  }

  private assertUsableWeight(weight: number): void {
    if (typeof weight !== 'number' || !Number.isFinite(weight) || weight <= 0) {
      throw new InvalidWeightError(`update weight must be a finite number greater than 0, got ${String(weight)}`);
    }
    if (!Number.isFinite(this.weightSum + weight)) {
      throw new InvalidWeightError(`update weight ${weight} would overflow the total weight`);
    }
  }

  private assertMatchesLayout(tensors: readonly NamedTensor[]): void {
    const length = Math.max(tensors.length, this.layout.length);
    for (let i = 0; i < length; i++) {
      const expected = this.layout[i];
      const actual = tensors[i];
      if (!actual) {
        throw new IncompatibleUpdateError(
          `update is missing tensor ${JSON.stringify(expected.name)} ${formatShape(expected.shape)}: it has ${tensors.length} tensors, the model ${this.layout.length}`,
        );
      }
      if (!expected) {
        throw new IncompatibleUpdateError(
          `update has unexpected extra tensor ${JSON.stringify(actual.name)}: it has ${tensors.length} tensors, the model ${this.layout.length}`,
        );
      }
      if (actual.name !== expected.name) {
        throw new IncompatibleUpdateError(
          `update tensor #${i} is ${JSON.stringify(actual.name)} but the model expects ${JSON.stringify(expected.name)} there`,
        );
      }
      if (!Array.isArray(actual.shape) || !sameShape(actual.shape, expected.shape)) {
        const shown = Array.isArray(actual.shape) ? formatShape(actual.shape) : String(actual.shape);
        throw new IncompatibleUpdateError(
          `tensor ${JSON.stringify(actual.name)} has shape ${shown} but the model expects ${formatShape(expected.shape)}`,
        );
      }
      const valueCount = actual.values?.length;
      if (valueCount !== this.sums[i].length) {
        throw new IncompatibleUpdateError(
          `tensor ${JSON.stringify(actual.name)} has ${String(valueCount)} values but shape ${formatShape(expected.shape)} needs ${this.sums[i].length}`,
        );
      }
    }
  }

  /** A dry run of the accumulation: rejects NaN/±Infinity values and anything that would overflow the sum. */
  private assertKeepsSumFinite(tensors: readonly NamedTensor[], weight: number): void {
    tensors.forEach(({ name, values }, i) => {
      const sum = this.sums[i];
      for (let j = 0; j < sum.length; j++) {
        const value = values[j];
        if (!Number.isFinite(value)) {
          throw new NonFiniteUpdateError(`tensor ${JSON.stringify(name)} has a non-finite value (${value}) at index ${j}`);
        }
        if (!Number.isFinite(sum[j] + weight * value)) {
          throw new NonFiniteUpdateError(
            `tensor ${JSON.stringify(name)} value ${value} at index ${j}, weighted by ${weight}, would overflow the running sum`,
          );
        }
      }
    });
  }
}
