import { NamedTensor, TensorLayout, elementCount, formatShape, tensorLayoutOf } from '@flops/tensor-codec';
import { UpdateRefusedError } from '../errors';

/**
 * A model's tensors laid end to end as one flat float32 vector: the engine's working form. Strategies do
 * their arithmetic on flat vectors; `tensors()` turns one back into named tensors without copying.
 */
export class ModelShape {
  readonly layout: TensorLayout;
  /** Where each tensor starts in the flat vector, in layout order. */
  readonly offsets: readonly number[];
  /** Values in the whole model. */
  readonly size: number;

  constructor(layout: TensorLayout) {
    this.layout = tensorLayoutOf(layout);
    const offsets: number[] = [];
    let size = 0;
    for (const { shape } of this.layout) {
      offsets.push(size);
      size += elementCount(shape);
    }
    this.offsets = offsets;
    this.size = size;
  }

  /** Named tensors viewing `flat` (no copy). */
  tensors(flat: Float32Array): NamedTensor[] {
    this.checkFlat(flat);
    return this.layout.map(({ name, shape }, i) => ({
      name,
      shape: [...shape],
      values: flat.subarray(this.offsets[i], this.offsets[i] + elementCount(shape)),
    }));
  }

  /** Copies tensors (checked against the layout) into a flat vector. */
  flatten(tensors: readonly NamedTensor[], into = new Float32Array(this.size)): Float32Array {
    this.checkTensors(tensors);
    this.checkFlat(into);
    tensors.forEach(({ values }, i) => into.set(values, this.offsets[i]));
    return into;
  }

  /** Throws UpdateRefusedError('layout') unless the tensors have exactly this layout (names, order, shapes, counts). */
  checkTensors(tensors: readonly NamedTensor[]): void {
    const given = (tensors as readonly NamedTensor[] | undefined)?.length;
    if (given !== this.layout.length) {
      throw new UpdateRefusedError('layout', `update has ${given ?? 'no'} tensors, the model ${this.layout.length}`);
    }
    tensors.forEach((tensor, i) => {
      const expected = this.layout[i];
      if (tensor?.name !== expected.name) {
        throw new UpdateRefusedError('layout', `update tensor #${i} is ${JSON.stringify(tensor?.name)} but the model expects ${JSON.stringify(expected.name)}`);
      }
      const shape: readonly number[] = tensor.shape;
      if (!Array.isArray(shape) || shape.length !== expected.shape.length || shape.some((d, k) => d !== expected.shape[k])) {
        const shown = Array.isArray(shape) ? formatShape(shape) : String(shape);
        throw new UpdateRefusedError('layout', `tensor ${JSON.stringify(expected.name)} has shape ${shown} but the model expects ${formatShape(expected.shape)}`);
      }
      const count = (this.offsets[i + 1] ?? this.size) - this.offsets[i];
      if (!(tensor.values instanceof Float32Array) || tensor.values.length !== count) {
        throw new UpdateRefusedError('layout', `tensor ${JSON.stringify(expected.name)} needs ${count} float32 values`);
      }
    });
  }

  private checkFlat(flat: Float32Array): void {
    if (!(flat instanceof Float32Array) || flat.length !== this.size) {
      throw new RangeError(`a flat model vector has ${this.size} float32 values, got ${flat instanceof Float32Array ? flat.length : typeof flat}`);
    }
  }
}
