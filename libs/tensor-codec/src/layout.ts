import { createHash } from 'node:crypto';
import { TensorCodecError } from './errors';

/** A named float32 tensor; `values` holds product(shape) elements in row-major order. */
export interface NamedTensor {
  name: string;
  shape: number[];
  values: Float32Array;
}

/** The name and shape of one tensor, without its values. */
export interface TensorSpec {
  readonly name: string;
  readonly shape: readonly number[];
}

/** The names and shapes of a model's tensors, in order: two models can be averaged only if these match. */
export type TensorLayout = readonly TensorSpec[];

/** Renders a shape for error messages, e.g. `[2, 3]`; a scalar is `[]`. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/**
 * Number of elements a tensor of this shape holds (1 for a scalar `[]`).
 * Throws if a dimension is not a non-negative integer or the count is not exactly representable.
 */
export function elementCount(shape: readonly number[]): number {
  let count = 1;
  for (const dim of shape) {
    if (!Number.isSafeInteger(dim) || dim < 0) {
      throw new TensorCodecError(`shape ${formatShape(shape)} has an invalid dimension ${String(dim)}; dimensions must be non-negative integers`);
    }
    count *= dim;
  }
  if (!Number.isSafeInteger(count)) {
    throw new TensorCodecError(`shape ${formatShape(shape)} has too many elements`);
  }
  return count;
}

/**
 * Validates and copies the layout (names and shapes) of a tensor list.
 * Names must be non-empty and unique, dimensions non-negative integers.
 */
export function tensorLayoutOf(tensors: readonly TensorSpec[]): TensorLayout {
  const seen = new Set<string>();
  return tensors.map((tensor, index) => {
    const { name, shape } = tensor;
    if (typeof name !== 'string' || name.length === 0) {
      throw new TensorCodecError(`tensor #${index} needs a non-empty string name`);
    }
    if (seen.has(name)) {
      throw new TensorCodecError(`tensor name ${JSON.stringify(name)} is used more than once`);
    }
    seen.add(name);
    if (!Array.isArray(shape)) {
      throw new TensorCodecError(`tensor ${JSON.stringify(name)} needs a shape array`);
    }
    try {
      elementCount(shape);
    } catch (error) {
      throw error instanceof TensorCodecError ? new TensorCodecError(`tensor ${JSON.stringify(name)}: ${error.message}`) : error;
    }
    // Copy so later changes to the caller's arrays cannot change a layout someone already checked against.
    return { name, shape: [...(shape as readonly number[])] };
  });
}

/** True when both layouts have the same tensor names, in the same order, with the same shapes. */
export function sameLayout(a: TensorLayout, b: TensorLayout): boolean {
  return a.length === b.length && a.every((tensor, i) => tensor.name === b[i].name && sameShape(tensor.shape, b[i].shape));
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((dim, i) => dim === b[i]);
}

/** A short stable fingerprint of a layout (hex SHA-256), for cheap compatibility checks across processes. */
export function layoutDigest(layout: TensorLayout): string {
  const canonical = JSON.stringify(layout.map(({ name, shape }) => [name, shape]));
  return createHash('sha256').update(canonical, 'utf8').digest('hex');
}
