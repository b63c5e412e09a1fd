import { MAX_UPDATE_NUM_SAMPLES } from '@flops/contracts';
import { Accumulator, FoldKernel, KernelBuffer, createFoldKernel } from '@flops/fl-engine';
import { elementCount, formatShape, NamedTensor, sameShape, TensorLayout, tensorLayoutOf } from '@flops/tensor-codec';
import { EmptyAggregationError, IncompatibleUpdateError, InvalidWeightError, NonFiniteUpdateError } from './aggregation-errors';

/**
 * Running FedAvg: Σ(weight · update) / Σ weight, where the weight is normally the learner's sample count.
 *
 * Updates are folded into one float64 accumulator per tensor as they arrive, so memory stays at one
 * model's size however many learners report, and rounding error stays far below float32 precision.
 * Every update is fully validated before any of it is added, so a rejected update leaves the sum untouched.
 * The fold is the FL engine's WebAssembly SIMD kernel; weights are capped at MAX_UPDATE_NUM_SAMPLES, so a
 * float64 sum of finite float32 values cannot overflow and one check pass (finite values) is all it takes.
 */
export class WeightedAverage {
  readonly layout: TensorLayout;
  private readonly kernel: FoldKernel = createFoldKernel();
  private readonly sums: Accumulator[];
  private updates = 0;
  private weightSum = 0;

  constructor(layout: TensorLayout) {
    this.layout = tensorLayoutOf(layout); // validated private copy: callers cannot change it under us
    this.sums = this.layout.map(({ shape }) => this.kernel.accumulator(elementCount(shape)));
  }

  /** A buffer to read an upload into: tensors decoded from it are folded where they lie, with no copy. */
  uploadBuffer(byteLength: number): KernelBuffer {
    return this.kernel.buffer(byteLength);
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
    this.assertFinite(tensors);
    tensors.forEach(({ values }, i) => this.kernel.fold(this.sums[i], 0, values, weight));
    this.updates += 1;
    this.weightSum += weight;
  }

  /** The weighted average so far, as fresh float32 tensors in layout order. */
  result(): NamedTensor[] {
    if (this.updates === 0) {
      throw new EmptyAggregationError('cannot compute a weighted average before any update has been added');
    }
    return this.layout.map(({ name, shape }, i) => {
      const sum = this.sums[i].values();
      const values = new Float32Array(sum.length);
      // Divide in float64 and round to float32 once, on assignment.
      for (let j = 0; j < sum.length; j++) values[j] = sum[j] / this.weightSum;
      return { name, shape: [...shape], values };
    });
  }

  /** Forgets all updates (e.g. at the start of a new round), keeping the layout and the allocated memory. */
  reset(): void {
    for (const sum of this.sums) sum.zero();
    this.updates = 0;
    this.weightSum = 0;
  }

  private assertUsableWeight(weight: number): void {
    if (typeof weight !== 'number' || !Number.isFinite(weight) || weight <= 0 || weight > MAX_UPDATE_NUM_SAMPLES) {
      throw new InvalidWeightError(`update weight must be a finite number greater than 0 and at most ${MAX_UPDATE_NUM_SAMPLES}, got ${String(weight)}`);
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

  /** Rejects NaN/±Infinity values: one kernel pass (a squared norm is finite exactly when every value is). */
  private assertFinite(tensors: readonly NamedTensor[]): void {
    tensors.forEach(({ name, values }) => {
      if (Number.isFinite(this.kernel.sumOfSquares(values))) return;
      const index = values.findIndex((value) => !Number.isFinite(value));
      throw new NonFiniteUpdateError(`tensor ${JSON.stringify(name)} has a non-finite value (${values[index]}) at index ${index}`);
    });
  }
}
