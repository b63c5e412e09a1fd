/**
 * FLOps side of the aggregation-throughput benchmark (see bench/README.md).
 *
 *   node -r @swc-node/register bench/aggregation-throughput/flops.ts --params P --learners N [--repeats R] [--napi addon.node]
 *
 * One process, one line of JSON per measurement on stdout. Each measurement folds N distinct float32 updates of
 * P parameters (generated up front, as in flower.py) into a float64 running sum, R times; the record has every
 * repeat's seconds. Measurements:
 *
 *   probe-copy        TypedArray.prototype.set of a 256 MiB Float64Array: memcpy, the machine's copy bandwidth
 *   kernel:<name>     the fold alone, sum[i] += w·x[i], with each candidate kernel (the choice by measurement):
 *                     wasm-simd (update in the kernel's memory, as an upload read into the kernel's buffer),
 *                     wasm-simd-staged (update in ordinary memory), scalar (plain JS), workers-2 (two worker
 *                     threads over shared memory, plain JS), napi (a C addon, -O3 -march=native, if it built)
 *   engine-accept     what the aggregator does once an upload's bytes are in its buffer: decode FLT1 (zero copy),
 *                     check (layout, finite, one kernel pass) and fold, through AggregationEngine
 *   engine-upload     the same plus the one copy the network costs: the update's bytes written into the kernel's
 *                     buffer in 64 KiB chunks, as the socket delivers them
 *   weighted-average  WeightedAverage.add (apps/aggregator/src/domain), fed decoded FLT1 tensors: the aggregator's path
 *                     before it ran the engine (engine-upload is its path now), kept for comparison
 */
import 'reflect-metadata'; // class-validator/class-transformer decorators of @flops/contracts
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { validateStrategy } from '@flops/contracts';
import { AggregationEngine, FoldKernel, ScalarFoldKernel, WasmFoldKernel } from '@flops/fl-engine';
import { NamedTensor, decodeTensors, encodeTensors } from '@flops/tensor-codec';
import { WeightedAverage } from '../../apps/aggregator/src/domain';
import { fillUpdate, modelLayout, numSamples } from '../aggregation-memory/flops';

function args(): { params: number; learners: number; repeats: number; napi?: string } {
  const argv = process.argv.slice(2);
  const get = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  return { params: Number(get('--params') ?? 2_500_000), learners: Number(get('--learners') ?? 8), repeats: Number(get('--repeats') ?? 5), napi: get('--napi') };
}

function emit(record: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(record) + '\n');
}

function time(repeats: number, work: () => void): number[] {
  work(); // warm-up: JIT, page faults of fresh buffers
  return Array.from({ length: repeats }, () => {
    const start = performance.now();
    work();
    return (performance.now() - start) / 1000;
  });
}

async function timeAsync(repeats: number, work: () => Promise<void>): Promise<number[]> {
  await work();
  const seconds: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const start = performance.now();
    await work();
    seconds.push((performance.now() - start) / 1000);
  }
  return seconds;
}

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const sum = new Float64Array(workerData.sum);
const updates = workerData.updates.map((b) => new Float32Array(b));
parentPort.on('message', ({ from, to, weights }) => {
  for (let k = 0; k < updates.length; k++) {
    const x = updates[k], w = weights[k];
    for (let i = from; i < to; i++) sum[i] += w * x[i];
  }
  parentPort.postMessage('done');
});`;

async function main(): Promise<void> {
  const { params, learners, repeats, napi } = args();
  const layout = modelLayout(params);
  const weights = Array.from({ length: learners }, (_, k) => numSamples(k + 1));
  const common = { params, learners, updateBytes: params * 4, node: process.version };

  // The machine's copy bandwidth, on buffers far larger than the caches.
  const probeBytes = 256 * 1024 * 1024;
  const source = new Float64Array(probeBytes / 8).fill(1);
  const target = new Float64Array(probeBytes / 8);
  emit({ ...common, measure: 'probe-copy', bytesMoved: 2 * probeBytes, seconds: time(repeats, () => target.set(source)) });

  // The updates, as the learners' FLT1 uploads and as float32 vectors.
  const flat = Array.from({ length: learners }, (_, k) => {
    const values = new Float32Array(params);
    fillUpdate(k + 1, values);
    return values;
  });

  // Kernels: the fold alone. wasm-simd folds updates that lie in its own memory (an upload buffer).
  const wasm = WasmFoldKernel.create()!;
  const inKernel = flat.map((values) => {
    const buffer = wasm.buffer(values.byteLength);
    const bytes = buffer.bytes();
    new Float32Array(bytes.buffer, bytes.byteOffset, params).set(values);
    return buffer;
  });
  const wasmSum = wasm.accumulator(params);
  const kernelRun = (kernel: FoldKernel, sum: ReturnType<FoldKernel['accumulator']>, inputs: () => Float32Array[]) => () => {
    const list = inputs();
    for (let k = 0; k < learners; k++) kernel.fold(sum, 0, list[k], weights[k]);
  };
  const kernelViews = (): Float32Array[] => inKernel.map((b) => new Float32Array(b.bytes().buffer, b.bytes().byteOffset, params));
  emit({ ...common, measure: 'kernel:wasm-simd', bytesMovedPerUpdate: params * 20, seconds: time(repeats, kernelRun(wasm, wasmSum, kernelViews)) });
  emit({ ...common, measure: 'kernel:wasm-simd-staged', bytesMovedPerUpdate: params * 20, seconds: time(repeats, kernelRun(wasm, wasmSum, () => flat)) });
  const scalar = new ScalarFoldKernel();
  emit({ ...common, measure: 'kernel:scalar', bytesMovedPerUpdate: params * 20, seconds: time(repeats, kernelRun(scalar, scalar.accumulator(params), () => flat)) });

  // Two worker threads, each folding half of every update, over shared memory.
  const shared = new SharedArrayBuffer(params * 8);
  const sharedUpdates = flat.map((values) => {
    const buffer = new SharedArrayBuffer(values.byteLength);
    new Float32Array(buffer).set(values);
    return buffer;
  });
  const workers = [0, 1].map(() => new Worker(WORKER_SOURCE, { eval: true, workerData: { sum: shared, updates: sharedUpdates } }));
  const half = Math.ceil(params / 2);
  const parallel = (): Promise<void> =>
    Promise.all(workers.map((w, i) => new Promise<void>((resolve) => {
      w.once('message', () => resolve());
      w.postMessage({ from: i * half, to: Math.min(params, (i + 1) * half), weights });
    }))).then(() => undefined);
  emit({ ...common, measure: 'kernel:workers-2', bytesMovedPerUpdate: params * 20, seconds: await timeAsync(repeats, parallel) });
  await Promise.all(workers.map((w) => w.terminate()));

  if (napi) {
     
    const addon = require(napi) as { fold(sum: Float64Array, src: Float32Array, weight: number): void };
    const sum = new Float64Array(params);
    emit({ ...common, measure: 'kernel:napi', bytesMovedPerUpdate: params * 20, seconds: time(repeats, () => flat.forEach((values, k) => addon.fold(sum, values, weights[k]))) });
  }

  // The aggregator's path through the engine.
  const uploads = flat.map((values, k) => encodeTensors(split(layout, values), { numSamples: weights[k] }));
  const choice = validateStrategy('fedavg', {}, { minLearnersPerRound: 1, learners }).value!;
  const engine = new AggregationEngine({ layout, strategy: choice, learners });
  const slots = uploads.map((bytes) => engine.kernel.buffer(bytes.length));
  const global = new Float32Array(params);
  const writeUpload = (k: number): Uint8Array => {
    const view = slots[k].bytes();
    for (let at = 0; at < uploads[k].length; at += 65536) view.set(uploads[k].subarray(at, Math.min(uploads[k].length, at + 65536)), at);
    return view;
  };
  uploads.forEach((_, k) => writeUpload(k));
  // Per update: the round is opened (and its sum zeroed, once per round) outside the timed part.
  const accept = (copy: boolean): number[] =>
    Array.from({ length: repeats + 1 }, () => {
      const round = engine.beginRound(1, global);
      const start = performance.now();
      for (let k = 0; k < learners; k++) {
        const { tensors, meta } = decodeTensors(copy ? writeUpload(k) : slots[k].bytes());
        round.offer({ learnerId: `learner-${k}`, numSamples: meta.numSamples as number, tensors });
      }
      return (performance.now() - start) / 1000;
    }).slice(1);
  emit({ ...common, measure: 'engine-accept', bytesMovedPerUpdate: params * 24, seconds: accept(false) });
  emit({ ...common, measure: 'engine-upload', bytesMovedPerUpdate: params * 32, seconds: accept(true) });

  // WeightedAverage, the aggregator's path before the engine: decoded tensors from ordinary buffers.
  const average = new WeightedAverage(layout);
  emit({
    ...common,
    measure: 'weighted-average',
    bytesMovedPerUpdate: params * 24,
    seconds: time(repeats, () => {
      average.reset();
      uploads.forEach((bytes, k) => average.add(decodeTensors(bytes).tensors, weights[k]));
    }),
  });
}

function split(layout: ReturnType<typeof modelLayout>, values: Float32Array): NamedTensor[] {
  let offset = 0;
  return layout.map(({ name, shape }) => {
    const count = shape.reduce((a, b) => a * b, 1);
    const tensor = { name, shape: [...shape], values: values.subarray(offset, offset + count) };
    offset += count;
    return tensor;
  });
}

void main();
