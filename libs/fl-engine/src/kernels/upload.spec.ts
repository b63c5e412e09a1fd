import { decodeTensors, encodeTensors } from '@flops/tensor-codec';
import { WasmFoldKernel } from './fold-kernel';
import { UploadTooLargeError, readInto } from './upload';

async function* chunked(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, Math.min(bytes.length, at + size));
}

describe('readInto', () => {
  const kernel = WasmFoldKernel.create()!;
  const values = Float32Array.from({ length: 1000 }, (_, i) => i / 7);
  const upload = encodeTensors([{ name: 'w', shape: [1000], values }], { numSamples: 3 });

  it('reads an upload into the kernel buffer; decoded tensors are folded where they lie', async () => {
    const buffer = kernel.buffer(upload.length + 100);
    const bytes = await readInto(buffer, chunked(upload, 777)); // chunk edges fall anywhere
    expect(Buffer.from(bytes)).toEqual(upload);
    const { tensors, meta } = decodeTensors(bytes);
    expect(meta).toEqual({ numSamples: 3 });
    expect(tensors[0].values.buffer).toBe(bytes.buffer); // a view of the kernel's memory: no copy
    const sum = kernel.accumulator(1000);
    kernel.fold(sum, 0, tensors[0].values, 2);
    expect(sum.values()[999]).toBe(2 * Math.fround(999 / 7));
  });

  it('stops at the first chunk past the buffer', async () => {
    const buffer = kernel.buffer(upload.length - 1);
    await expect(readInto(buffer, chunked(upload, 1024))).rejects.toThrow(UploadTooLargeError);
  });
});
