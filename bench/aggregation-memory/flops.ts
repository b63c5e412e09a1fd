/**
 * FLOps side of the aggregation-memory benchmark (see bench/README.md).
 *
 *   node -r @swc-node/register bench/aggregation-memory/flops.ts --learners N --params P [--out result.f32]
 *
 * Runs the aggregator's fit-upload path (DataPlaneController.upload → TrainingRun.receiveUpload) for N learner
 * updates of a P-parameter model: each update arrives as encoded FLT1 bytes, is written in 64 KiB chunks into one
 * reused buffer of the fold kernel's memory (readInto, as the socket delivers it), decoded there (zero copy),
 * checked and folded by the FL engine (AggregationEngine, FedAvg), then dropped. At the end the round's result
 * is the new global model, encoded once, as the aggregator does to serve it. Prints one JSON line on stdout.
 * The model layout, the pseudo-random values and the sample counts are defined identically in flower.py,
 * so the two results can be compared.
 */
import 'reflect-metadata'; // @flops/contracts (through the aggregator's domain) declares decorated classes
import { writeSync, openSync, closeSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { validateStrategy } from '@flops/contracts';
import { AggregationEngine, readInto } from '@flops/fl-engine';
import { NamedTensor, TensorSpec, decodeTensors, elementCount, encodeTensors, tensorLayoutOf } from '@flops/tensor-codec';

// ---- shared definitions (mirrored exactly in flower.py) -------------------------------------------------------

/**
 * A small CNN: two 5x5 conv layers (3→32→64 channels), a hidden dense layer of H units and a 10-class head.
 * H is the smallest width ≥ 256 for which the flattened input size K makes the total exactly P parameters.
 */
export function modelLayout(params: number): TensorSpec[] {
  const convs: TensorSpec[] = [
    { name: 'conv1.weight', shape: [32, 3, 5, 5] },
    { name: 'conv1.bias', shape: [32] },
    { name: 'conv2.weight', shape: [64, 32, 5, 5] },
    { name: 'conv2.bias', shape: [64] },
  ];
  const fixed = convs.reduce((n, t) => n + elementCount(t.shape), 0) + 10; // + fc2.bias
  for (let h = 256; h <= 4096; h++) {
    const rest = params - fixed - h /* fc1.bias */ - 10 * h; /* fc2.weight */
    if (rest > 0 && rest % h === 0) {
      return [
        ...convs,
        { name: 'fc1.weight', shape: [h, rest / h] },
        { name: 'fc1.bias', shape: [h] },
        { name: 'fc2.weight', shape: [10, h] },
        { name: 'fc2.bias', shape: [10] },
      ];
    }
  }
  throw new Error(`no small-CNN layout has exactly ${params} parameters; try a nearby value`);
}

/** Learner k's sample count (its FedAvg weight). */
export function numSamples(k: number): number {
  return 100 + ((k * 7919) % 900);
}

/**
 * Learner k's value for the model's i-th parameter (layout order): the lowbias32 hash of (i + k·0x9E3779B9) mod 2³²,
 * mapped to a multiple of 2⁻²³ in [-1, 1), which float32 represents exactly.
 */
export function fillUpdate(k: number, out: Float32Array): void {
  const seed = Math.imul(k, 0x9e3779b9);
  for (let i = 0; i < out.length; i++) {
    let x = (i + seed) >>> 0;
    x ^= x >>> 16;
    x = Math.imul(x, 0x7feb352d);
    x ^= x >>> 15;
    x = Math.imul(x, 0x846ca68b);
    x ^= x >>> 16;
    out[i] = (x >>> 8) / 8388608 - 1;
  }
}

// ---- the benchmark ------------------------------------------------------------------------------------------

function args(): { learners: number; params: number; out?: string } {
  const argv = process.argv.slice(2);
  const get = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const learners = Number(get('--learners'));
  const params = Number(get('--params') ?? 2_500_000);
  if (!Number.isSafeInteger(learners) || learners < 1 || !Number.isSafeInteger(params) || params < 1) {
    throw new Error('usage: flops.ts --learners N [--params P] [--out result.f32]');
  }
  return { learners, params, out: get('--out') };
}

function rssKiB(): number {
  return Math.round(process.memoryUsage().rss / 1024);
}

async function main(): Promise<void> {
  const { learners, params, out } = args();
  const layout = tensorLayoutOf(modelLayout(params));

  // The learner's side, reused for every learner: in a real deployment this lives in the learner's process.
  const scratch = new Float32Array(params);
  scratch.fill(0);
  const learnerTensors: NamedTensor[] = [];
  let offset = 0;
  for (const { name, shape } of layout) {
    const count = elementCount(shape);
    learnerTensors.push({ name, shape: [...shape], values: scratch.subarray(offset, offset + count) });
    offset += count;
  }

  // The aggregator's state for the round: the engine's float64 running sum (written when the round opens, so its
  // pages are resident), the global model, and one upload buffer in the kernel's memory, reused for every upload.
  const engine = new AggregationEngine({ layout, strategy: validateStrategy('fedavg', {}, { minLearnersPerRound: 1, learners }).value!, learners });
  const global = new Float32Array(params);
  const round = engine.beginRound(1, global);
  const upload = engine.kernel.buffer(encodeTensors(learnerTensors, { numSamples: 1, metrics: {} }).length + 64 * 1024);
  upload.bytes().fill(0);
  const baselineRssKiB = rssKiB();
  const baselineMaxRssKiB = process.resourceUsage().maxRSS;

  let aggregateMs = 0;
  let generateMs = 0;
  for (let k = 1; k <= learners; k++) {
    // A learner trains and uploads: its update reaches the data plane as one FLT1 body.
    let t = performance.now();
    fillUpdate(k, scratch);
    let bytes: Buffer | undefined = encodeTensors(learnerTensors, { numSamples: numSamples(k), metrics: {} });
    generateMs += performance.now() - t;

    // The data plane and TrainingRun.receiveUpload, fit branch: read into the kernel buffer, decode there, check
    // and fold (EngineRound.offer), drop.
    t = performance.now();
    const body = bytes;
    const view = await readInto(upload, (async function* () {
      for (let at = 0; at < body.length; at += 65536) yield body.subarray(at, Math.min(body.length, at + 65536));
    })());
    const { tensors, meta } = decodeTensors(view);
    round.offer({ learnerId: `learner-${k}`, numSamples: meta.numSamples as number, tensors });
    bytes = undefined; // the only reference: the upload is garbage from here on
    aggregateMs += performance.now() - t;
  }
  // End of the round: the new global model, encoded once to be served (TrainingRun.fitRound does the same;
  // Flower's aggregate_fit likewise serializes its result with ndarrays_to_parameters).
  const t = performance.now();
  const result = round.finish().tensors;
  const model = encodeTensors(result, { projectId: 'bench', round: 1 });
  aggregateMs += performance.now() - t;
  const peakRssKiB = process.resourceUsage().maxRSS; // read before anything below allocates
  const wallMs = performance.now(); // since the process started, like flower.py's

  // Checksums over the float32 result, in layout order (the same definition as flower.py).
  let checksum = 0;
  let positional = 0;
  let i = 0;
  for (const { values } of result) {
    for (let j = 0; j < values.length; j++, i++) {
      checksum += values[j];
      positional += values[j] * ((i % 1009) + 1);
    }
  }
  if (out) {
    const fd = openSync(out, 'w');
    for (const { values } of result) writeSync(fd, new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
    closeSync(fd);
  }

  process.stdout.write(
    JSON.stringify({
      impl: 'flops',
      path: 'readInto a kernel buffer + decodeTensors + AggregationEngine FedAvg offer (one update at a time)',
      learners,
      params,
      tensors: layout.length,
      modelBytes: model.length,
      totalWeight: Array.from({ length: learners }, (_, k) => numSamples(k + 1)).reduce((a, b) => a + b, 0),
      baselineRssKiB,
      baselineMaxRssKiB,
      peakRssKiB,
      aggregationRssKiB: peakRssKiB - baselineRssKiB,
      aggregateMs: Math.round(aggregateMs * 10) / 10,
      generateMs: Math.round(generateMs * 10) / 10,
      wallMs: Math.round(wallMs * 10) / 10,
      checksum,
      positionalChecksum: positional,
      node: process.version,
    }) + '\n',
  );
}

// Run when started as a script; aggregation-throughput imports the shared definitions above.
if (require.main === module) void main();
