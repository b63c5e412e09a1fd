import { MAX_UPDATE_NUM_SAMPLES } from '@flops/contracts';
import type { NamedTensor } from '@flops/tensor-codec';
import { UpdateRefusedError } from '../errors';
import { FoldKernel } from '../kernels/fold-kernel';
import { ModelShape } from '../model/model-shape';

/** One learner's answer to a fit task: its model after local training. */
export interface LearnerUpdate {
  learnerId: string;
  /** Its weight in sample-weighted strategies: a positive integer, at most MAX_UPDATE_NUM_SAMPLES. */
  numSamples: number;
  tensors: readonly NamedTensor[];
  /** Training metrics it reported (QFedAvg reads its loss here). */
  metrics?: Readonly<Record<string, number>>;
  /** Other fields of the update's meta (SCAFFOLD reads its step-size sum here). */
  meta?: Readonly<Record<string, unknown>>;
}

/** An update that passed the checks. */
export interface CheckedUpdate extends LearnerUpdate {
  /** ‖update − global‖₂, when the checks computed it (a norm bound is set). */
  readonly deltaNorm?: number;
}

export interface GuardOptions {
  /** Refuse updates whose change to the global model has an L2 norm above this. */
  maxUpdateNorm?: number;
}

/**
 * Checks every update before it can touch an aggregate: its sample count, its layout, that every value is
 * finite and, optionally, that its distance from the global model is within an L2 bound. One kernel pass:
 * the squared norm (of the update, or of its difference from the global model) is not finite exactly when a
 * value is not, so finiteness costs nothing extra. Sample counts are capped so that a float64 sum of finite
 * float32 values weighted by them cannot overflow, which is why no dry run of the sum is needed.
 */
export class UpdateGuard {
  constructor(
    private readonly shape: ModelShape,
    private readonly kernel: FoldKernel,
    private readonly options: GuardOptions = {},
  ) {
    const bound = options.maxUpdateNorm;
    if (bound !== undefined && !(typeof bound === 'number' && bound > 0 && Number.isFinite(bound))) {
      throw new RangeError(`maxUpdateNorm must be a finite number greater than 0, got ${String(bound)}`);
    }
  }

  /** Returns the update with what the checks measured, or throws UpdateRefusedError (the update is unused). */
  check(update: LearnerUpdate, global: Float32Array): CheckedUpdate {
    const { numSamples } = update;
    if (typeof numSamples !== 'number' || !Number.isInteger(numSamples) || numSamples < 1 || numSamples > MAX_UPDATE_NUM_SAMPLES) {
      throw new UpdateRefusedError('num-samples', `numSamples must be an integer from 1 to ${MAX_UPDATE_NUM_SAMPLES}, got ${String(numSamples)}`);
    }
    this.shape.checkTensors(update.tensors);
    const bound = this.options.maxUpdateNorm;
    let squared = 0;
    update.tensors.forEach(({ values }, i) => {
      const start = this.shape.offsets[i];
      squared +=
        bound === undefined ? this.kernel.sumOfSquares(values) : this.kernel.squaredDistance(values, global.subarray(start, start + values.length));
    });
    if (!Number.isFinite(squared)) throw this.nonFinite(update.tensors);
    if (bound === undefined) return update;
    const deltaNorm = Math.sqrt(squared);
    if (deltaNorm > bound) {
      throw new UpdateRefusedError('norm-bound', `the update moves the model by ${deltaNorm.toPrecision(6)} (L2), more than the bound ${bound}`);
    }
    return { ...update, deltaNorm };
  }

  /** The refusal for an update with a NaN or ±Infinity, naming the first one (only on this slow path). */
  private nonFinite(tensors: readonly NamedTensor[]): UpdateRefusedError {
    for (const { name, values } of tensors) {
      const index = values.findIndex((v) => !Number.isFinite(v));
      if (index >= 0) return new UpdateRefusedError('non-finite', `tensor ${JSON.stringify(name)} has a non-finite value (${values[index]}) at index ${index}`);
    }
    return new UpdateRefusedError('non-finite', 'the update is too far from the global model to measure (its distance overflows)');
  }
}
