import { FOLD_WASM_BASE64 } from './fold-wasm';

/**
 * A float64 running sum the kernel folds float32 values into. Its memory may belong to the kernel
 * (WebAssembly linear memory), so take a fresh `values()` view whenever you read it: a view taken
 * before a later allocation on the same kernel can be detached by it.
 */
export interface Accumulator {
  readonly length: number;
  values(): Float64Array;
  zero(): void;
  release(): void;
}

/**
 * A byte buffer in the kernel's memory: an upload read into it is folded where it lies, with no copy.
 * Like an accumulator's, its `bytes()` view is valid until the next allocation on the kernel.
 */
export interface KernelBuffer {
  readonly byteLength: number;
  bytes(): Uint8Array;
  release(): void;
}

/**
 * The per-update hot loops of aggregation: fold a float32 update into a float64 sum, and the squared
 * norms the checks need. Float32 inputs may lie anywhere; inputs in this kernel's
 * own memory (a KernelBuffer) are read in place, others are staged through a small cache-sized window.
 * Folds are bit-identical across kernels (one rounding per element, same operations). Reductions (norms,
 * distances) use eight partial sums in both, so they agree bit for bit on inputs in kernel memory and to
 * the last bits otherwise (staged inputs are summed window by window).
 */
export abstract class FoldKernel {
  abstract readonly name: 'wasm-simd' | 'scalar';
  /** A zeroed float64 accumulator of `length` values. */
  abstract accumulator(length: number): Accumulator;
  /** A byte buffer in the kernel's memory (16-byte aligned), e.g. to read an upload into. */
  abstract buffer(byteLength: number): KernelBuffer;
  /** sum[offset + i] += weight * values[i], for every i. */
  abstract fold(sum: Accumulator, offset: number, values: Float32Array, weight: number): void;
  /** Σ values[i]², in float64. Not finite exactly when some value is NaN or ±Infinity. */
  abstract sumOfSquares(values: Float32Array): number;
  /** Σ (a[i] - b[i])², in float64. Not finite exactly when some value is NaN or ±Infinity. */
  abstract squaredDistance(a: Float32Array, b: Float32Array): number;
}

/** Plain JavaScript loops: the reference, and the fallback where WebAssembly SIMD is unavailable. */
export class ScalarFoldKernel extends FoldKernel {
  readonly name = 'scalar' as const;

  accumulator(length: number): Accumulator {
    const values = new Float64Array(length);
    return { length, values: () => values, zero: () => values.fill(0), release: () => undefined };
  }

  buffer(byteLength: number): KernelBuffer {
    const bytes = new Uint8Array(byteLength);
    return { byteLength, bytes: () => bytes, release: () => undefined };
  }

  fold(sum: Accumulator, offset: number, values: Float32Array, weight: number): void {
    checkSpan(sum, offset, values.length);
    const s = sum.values();
    for (let i = 0; i < values.length; i++) s[offset + i] += weight * values[i];
  }

  sumOfSquares(values: Float32Array): number {
    return this.squaredDistance(values, undefined);
  }

  /**
   * Eight partial sums over i mod 8, combined lane-wise as ((s0 + s2) + (s4 + s6)) + ((s1 + s3) + (s5 + s7)),
   * then the tail in order: the SIMD kernel's order of operations.
   */
  squaredDistance(a: Float32Array, b: Float32Array | undefined): number {
    if (b) checkSameLength(a, b);
    const s = new Float64Array(8);
    const whole = a.length - (a.length % 8);
    for (let i = 0; i < whole; i += 8) {
      for (let lane = 0; lane < 8; lane++) {
        const d = b ? a[i + lane] - b[i + lane] : a[i + lane];
        s[lane] += d * d;
      }
    }
    let total = s[0] + s[2] + (s[4] + s[6]) + (s[1] + s[3] + (s[5] + s[7]));
    for (let i = whole; i < a.length; i++) {
      const d = b ? a[i] - b[i] : a[i];
      total += d * d;
    }
    return total;
  }
}

const PAGE_BYTES = 65536;
const MAX_PAGES = 65536; // wasm32: 4 GiB
const ALIGN = 16;
/** Foreign inputs are staged in windows of this many values: small enough to stay in L2 cache. */
const STAGE_VALUES = 32 * 1024;

/** The parts of the WebAssembly API used here (this project's TypeScript lib settings do not declare it). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
  validate(bytes: Uint8Array): boolean;
}
const wasm = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

interface KernelExports {
  memory: WasmMemory;
  fold(sum: number, src: number, n: number, w: number): void;
  sumsq(src: number, n: number): number;
  sqdist(a: number, b: number, n: number): number;
}

let compiled: object | null | undefined;

/** The compiled kernels, or null where this runtime lacks WebAssembly SIMD. */
function kernelModule(): object | null {
  if (compiled === undefined) {
    const bytes = Buffer.from(FOLD_WASM_BASE64, 'base64');
    compiled = wasm?.validate(bytes) ? new wasm.Module(bytes) : null;
  }
  return compiled;
}

/**
 * The kernels in WebAssembly SIMD (two float64 lanes per instruction), with their own linear memory.
 * Chosen by measurement (bench/aggregation-throughput): as fast as a native addon built with -O3 on this
 * kind of machine, portable (arm64 too), and needs no compiler or Node headers at install.
 * Memory is one wasm32 space of at most 4 GiB; allocation is first fit with coalescing.
 */
export class WasmFoldKernel extends FoldKernel {
  readonly name = 'wasm-simd' as const;
  private readonly exports: KernelExports;
  /** Free blocks, sorted by offset: [offset, bytes]. Offset 0 is never handed out (a null pointer). */
  private free: [number, number][] = [];
  private top = ALIGN;
  /** Staging windows, allocated up front: staging must never grow the memory (that would detach the caller's views). */
  private readonly stageA: number;
  private readonly stageB: number;

  private constructor(module: object) {
    super();
    this.exports = new wasm!.Instance(module, {}).exports as KernelExports;
    this.stageA = this.allocate(STAGE_VALUES * 4);
    this.stageB = this.allocate(STAGE_VALUES * 4);
  }

  /** A new kernel with its own memory, or null where WebAssembly SIMD is not available. */
  static create(): WasmFoldKernel | null {
    const module = kernelModule();
    return module ? new WasmFoldKernel(module) : null;
  }

  /** Bytes of linear memory in use by live allocations and free blocks (the memory never shrinks). */
  get memoryBytes(): number {
    return this.exports.memory.buffer.byteLength;
  }

  accumulator(length: number): Accumulator {
    const offset = this.allocate(length * 8);
    const memory = this.exports.memory;
    const view = (): Float64Array => new Float64Array(memory.buffer, offset, length);
    view().fill(0);
    return {
      length,
      values: view,
      zero: () => view().fill(0),
      release: () => this.deallocate(offset, length * 8),
      [KERNEL_OFFSET]: offset,
      [KERNEL_OWNER]: this,
    } as Accumulator;
  }

  buffer(byteLength: number): KernelBuffer {
    const offset = this.allocate(byteLength);
    const memory = this.exports.memory;
    return { byteLength, bytes: () => new Uint8Array(memory.buffer, offset, byteLength), release: () => this.deallocate(offset, byteLength) };
  }

  fold(sum: Accumulator, offset: number, values: Float32Array, weight: number): void {
    checkSpan(sum, offset, values.length);
    const base = this.ownOffset(sum) + offset * 8;
    if (this.owns(values)) return this.exports.fold(base, values.byteOffset, values.length, weight);
    this.staged(values, undefined, (a, _b, start, count) => this.exports.fold(base + start * 8, a, count, weight));
  }

  sumOfSquares(values: Float32Array): number {
    if (this.owns(values)) return this.exports.sumsq(values.byteOffset, values.length);
    let total = 0;
    this.staged(values, undefined, (a, _b, _start, count) => (total += this.exports.sumsq(a, count)));
    return total;
  }

  squaredDistance(a: Float32Array, b: Float32Array): number {
    checkSameLength(a, b);
    if (this.owns(a) && this.owns(b)) return this.exports.sqdist(a.byteOffset, b.byteOffset, a.length);
    let total = 0;
    this.staged(a, b, (pa, pb, _start, count) => (total += this.exports.sqdist(pa, pb!, count)));
    return total;
  }

  /** True when `values` is a view of this kernel's memory (so the kernels can read it in place). */
  private owns(values: Float32Array): boolean {
    return values.buffer === this.exports.memory.buffer;
  }

  private ownOffset(sum: Accumulator): number {
    const owned = sum as Accumulator & { [KERNEL_OWNER]?: unknown; [KERNEL_OFFSET]?: number };
    if (owned[KERNEL_OWNER] !== this) throw new Error('accumulator belongs to another kernel');
    return owned[KERNEL_OFFSET]!;
  }

  /** Copies windows of `a` (and `b`) into kernel memory and calls `work` on each, with pointers and counts. */
  private staged(a: Float32Array, b: Float32Array | undefined, work: (pa: number, pb: number | undefined, start: number, count: number) => void): void {
    const memory = this.exports.memory;
    for (let start = 0; start < a.length; start += STAGE_VALUES) {
      const count = Math.min(STAGE_VALUES, a.length - start);
      new Float32Array(memory.buffer, this.stageA, count).set(a.subarray(start, start + count));
      if (b) new Float32Array(memory.buffer, this.stageB, count).set(b.subarray(start, start + count));
      work(this.stageA, b ? this.stageB : undefined, start, count);
    }
  }

  private allocate(bytes: number): number {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    const index = this.free.findIndex(([, length]) => length >= size);
    if (index >= 0) {
      const [offset, length] = this.free[index];
      if (length === size) this.free.splice(index, 1);
      else this.free[index] = [offset + size, length - size];
      return offset;
    }
    const offset = this.top;
    const needed = Math.ceil((offset + size) / PAGE_BYTES);
    const memory = this.exports.memory;
    const pages = memory.buffer.byteLength / PAGE_BYTES;
    if (needed > MAX_PAGES) throw new RangeError(`kernel memory would exceed 4 GiB (${offset + size} bytes)`);
    if (needed > pages) memory.grow(needed - pages);
    this.top = offset + size;
    return offset;
  }

  private deallocate(offset: number, bytes: number): void {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    const blocks = [...this.free, [offset, size] as [number, number]].sort((x, y) => x[0] - y[0]);
    const merged: [number, number][] = [];
    for (const block of blocks) {
      const last = merged[merged.length - 1];
      if (last && last[0] + last[1] === block[0]) last[1] += block[1];
      else merged.push([...block]);
    }
    const last = merged[merged.length - 1];
    if (last && last[0] + last[1] === this.top) {
      this.top = last[0];
      merged.pop();
    }
    this.free = merged;
  }
}

const KERNEL_OFFSET = Symbol('kernel-offset');
const KERNEL_OWNER = Symbol('kernel-owner');

/** The fastest kernel this runtime supports: WebAssembly SIMD, else plain JavaScript. */
export function createFoldKernel(prefer: 'wasm-simd' | 'scalar' = 'wasm-simd'): FoldKernel {
  return (prefer === 'wasm-simd' ? WasmFoldKernel.create() : null) ?? new ScalarFoldKernel();
}

function checkSpan(sum: Accumulator, offset: number, count: number): void {
  if (!Number.isInteger(offset) || offset < 0 || offset + count > sum.length) {
    throw new RangeError(`values ${offset}..${offset + count} lie outside the ${sum.length}-value accumulator`);
  }
}

function checkSameLength(a: Float32Array, b: Float32Array): void {
  if (a.length !== b.length) throw new RangeError(`vectors differ in length: ${a.length} and ${b.length}`);
}
