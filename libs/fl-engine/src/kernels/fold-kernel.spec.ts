import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { assembleKernels, kernelModuleSource } from '../../../../tools/build-kernels';
import { FoldKernel, ScalarFoldKernel, WasmFoldKernel, createFoldKernel } from './fold-kernel';

function randomVector(n: number, seed: number): Float32Array {
  let x = seed >>> 0 || 1;
  return Float32Array.from({ length: n }, () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return ((x >>> 0) / 2 ** 32) * 8 - 4;
  });
}

describe('fold kernels', () => {
  const wasm = WasmFoldKernel.create();
  const scalar = new ScalarFoldKernel();

  it('the committed WebAssembly is exactly what fold.wat assembles to', async () => {
    const committed = readFileSync(join(__dirname, 'fold-wasm.ts'), 'utf8');
    expect(committed).toBe(kernelModuleSource(await assembleKernels()));
  });

  it('WebAssembly SIMD is available on this runtime and is the default', () => {
    expect(wasm).not.toBeNull();
    expect(createFoldKernel().name).toBe('wasm-simd');
    expect(createFoldKernel('scalar').name).toBe('scalar');
  });

  // Lengths around the 8-wide and 4-wide loops' boundaries, and one past the staging window.
  it.each([0, 1, 3, 4, 7, 8, 9, 31, 33, 32 * 1024 + 5])('folds %i values bit-identically to the scalar reference', (n) => {
    const values = randomVector(n, n + 1);
    const other = randomVector(n, n + 7);
    const results = [wasm!, scalar].map((kernel: FoldKernel) => {
      const sum = kernel.accumulator(n + 3);
      kernel.fold(sum, 2, values, 3.25);
      kernel.fold(sum, 2, other, 0.5);
      return sum.values().slice();
    });
    expect(Buffer.from(results[0].buffer)).toEqual(Buffer.from(results[1].buffer));
    const mismatches = [...values.keys()].filter((i) => results[1][i + 2] !== 3.25 * values[i] + 0.5 * other[i]);
    expect(mismatches).toEqual([]);
    expect([results[1][0], results[1][1], results[1][n + 2]]).toEqual([0, 0, 0]);
  });

  it('reads inputs in its own memory in place, with the same results as staged inputs', () => {
    const n = 1001;
    const values = randomVector(n, 5);
    const global = randomVector(n, 6);
    const buffer = wasm!.buffer(n * 4);
    const inPlace = new Float32Array(buffer.bytes().buffer, buffer.bytes().byteOffset, n);
    inPlace.set(values);
    const a = wasm!.accumulator(n);
    const b = wasm!.accumulator(n);
    wasm!.fold(a, 0, inPlace, 2);
    wasm!.fold(b, 0, values, 2);
    expect(a.values()).toEqual(b.values());
    expect(wasm!.sumOfSquares(inPlace)).toBe(scalar.sumOfSquares(values));
    expect(wasm!.squaredDistance(inPlace, global)).toBeCloseTo(scalar.squaredDistance(values, global), 9);
    buffer.release();
    a.release();
    b.release();
  });

  it('norms and distances agree with a float64 reference; a NaN or Infinity makes them non-finite', () => {
    for (const kernel of [wasm!, scalar]) {
      const v = randomVector(10_001, 3);
      const w = randomVector(10_001, 4);
      let ss = 0;
      let dd = 0;
      for (let i = 0; i < v.length; i++) {
        ss += v[i] * v[i];
        dd += (v[i] - w[i]) ** 2;
      }
      expect(kernel.sumOfSquares(v)).toBeCloseTo(ss, 6);
      expect(kernel.squaredDistance(v, w)).toBeCloseTo(dd, 6);
      for (const bad of [NaN, Infinity, -Infinity]) {
        const copy = v.slice();
        copy[9_999] = bad;
        expect(Number.isFinite(kernel.sumOfSquares(copy))).toBe(false);
        expect(Number.isFinite(kernel.squaredDistance(w, copy))).toBe(false);
      }
    }
  });

  it('keeps accumulators valid when its memory grows, and reuses released space', () => {
    const kernel = WasmFoldKernel.create()!;
    const first = kernel.accumulator(10);
    kernel.fold(first, 0, Float32Array.from({ length: 10 }, (_, i) => i), 1);
    const big = kernel.accumulator(3_000_000); // grows the memory: old views are detached, new ones are fine
    expect([...first.values()]).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const size = kernel.memoryBytes;
    big.release();
    const again = kernel.accumulator(3_000_000);
    expect(kernel.memoryBytes).toBe(size);
    expect(again.values().every((v) => v === 0)).toBe(true);
  });

  it('refuses spans outside the accumulator and vectors of different lengths', () => {
    for (const kernel of [wasm!, scalar]) {
      const sum = kernel.accumulator(4);
      expect(() => kernel.fold(sum, 2, new Float32Array(3), 1)).toThrow(RangeError);
      expect(() => kernel.squaredDistance(new Float32Array(3), new Float32Array(4))).toThrow(RangeError);
    }
    const other = WasmFoldKernel.create()!;
    expect(() => wasm!.fold(other.accumulator(2), 0, new Float32Array(2), 1)).toThrow('another kernel');
  });
});
