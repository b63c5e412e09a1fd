'use strict';
// FLOps ML repo entry point (contract flops/v1) for the "digits-mlp" example.
//
// A small dense classifier for the UCI 8x8 handwritten digits, trained with the
// runtime's tfjs instance (ctx.tf). This module deliberately never requires
// '@tensorflow/tfjs': the learner runtime owns tfjs so that weights produced
// here and the tensors the runtime exchanges live in one tfjs instance.

const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');

/**
 * Contract types (flops/v1), as JSDoc so editors can check this plain-JS file.
 * @typedef {Record<string, number | string | boolean>} Hyperparameters
 * @typedef {{ name: string, shape: number[], values: Float32Array }} NamedTensor
 * @typedef {{
 *   tf: typeof import('@tensorflow/tfjs'),
 *   partition: { index: number, count: number },
 *   dataTags?: string[],
 *   hyperparameters?: Hyperparameters,
 *   seed: number,
 *   log?: (msg: string) => void,
 * }} ModelManagerContext
 */

const DATA_FILE = path.join(__dirname, 'data', 'digits.csv.gz');
const NUM_FEATURES = 64;
const NUM_CLASSES = 10;
const PIXEL_MAX = 16;
const EXPECTED_SAMPLES = 1797;
const TRAIN_FRACTION = 0.8;
// Fixed on purpose (not ctx.seed): every learner must derive the same
// train/test split, otherwise shards would overlap and federated evaluation
// would not equal accuracy on one common test set.
const SPLIT_SEED = 0x5eed;

const DEFAULT_HYPERPARAMETERS = Object.freeze({ epochs: 2, batchSize: 32, learningRate: 0.01 });

// Explicit layer names are what makes weight names stable across processes;
// tfjs auto-names (dense_Dense3, ...) depend on how many layers a process made.
/** @type {ReadonlyArray<{ name: string, units: number, activation: 'relu' | 'softmax' }>} */
const LAYERS = Object.freeze([
  { name: 'hidden', units: 32, activation: 'relu' },
  { name: 'output', units: NUM_CLASSES, activation: 'softmax' },
]);

/** Small seeded PRNG (mulberry32): deterministic in every JS engine, unlike Math.random. */
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Combines integers into one 32-bit seed (order-sensitive, overflow-safe). */
function mixSeeds(...parts) {
  let h = 0x811c9dc5;
  for (const part of parts) h = Math.imul(h ^ (part >>> 0), 0x01000193) ^ (h >>> 15);
  return h >>> 0;
}

/** Fisher-Yates permutation of 0..n-1 driven by `seed`. */
function permutation(n, seed) {
  const rand = mulberry32(seed);
  const out = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

let cachedDataset = null;

/**
 * Reads the bundled dataset once per process: { pixels: Float32Array (n*64, raw 0..16), labels: Int32Array }.
 * Synchronous and local on purpose: the contract forbids network access.
 */
function loadDigits() {
  if (cachedDataset) return cachedDataset;
  const text = zlib.gunzipSync(fs.readFileSync(DATA_FILE)).toString('utf8');
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  if (lines.length > 0 && /[a-z]/i.test(lines[0])) lines.shift(); // header
  const n = lines.length;
  const pixels = new Float32Array(n * NUM_FEATURES);
  const labels = new Int32Array(n);
  lines.forEach((line, row) => {
    const cells = line.split(',').map(Number);
    if (cells.length !== NUM_FEATURES + 1 || cells.some((v) => !Number.isInteger(v))) {
      throw new Error(`${DATA_FILE}: row ${row + 1} must hold ${NUM_FEATURES + 1} integers`);
    }
    const label = cells[NUM_FEATURES];
    if (label < 0 || label >= NUM_CLASSES) throw new Error(`${DATA_FILE}: row ${row + 1} has label ${label}`);
    for (let j = 0; j < NUM_FEATURES; j++) pixels[row * NUM_FEATURES + j] = cells[j];
    labels[row] = label;
  });
  if (n !== EXPECTED_SAMPLES) throw new Error(`${DATA_FILE}: expected ${EXPECTED_SAMPLES} samples, found ${n}`);
  cachedDataset = { pixels, labels, numSamples: n };
  return cachedDataset;
}

/** Contiguous, near-equal shard `index` of `count` over an array (sizes differ by at most one). */
function shard(items, index, count) {
  const start = Math.floor((index * items.length) / count);
  const end = Math.floor(((index + 1) * items.length) / count);
  return items.slice(start, end);
}

function validatePartition(partition, testSize) {
  const { index, count } = partition || {};
  if (!Number.isInteger(count) || count < 1) {
    throw new Error(`partition.count must be a positive integer, got ${count}`);
  }
  if (!Number.isInteger(index) || index < 0 || index >= count) {
    throw new Error(`partition.index must be an integer in [0, ${count - 1}], got ${index}`);
  }
  if (count > testSize) {
    throw new Error(`partition.count ${count} exceeds the ${testSize} test samples; some shards would be empty`);
  }
}

/**
 * Dataset row ids of one learner's train and test shards (IID: a fixed shuffle,
 * an 80/20 split, then the index-th contiguous shard of each side).
 */
function partitionIndices(partition) {
  const { numSamples } = loadDigits();
  const order = permutation(numSamples, SPLIT_SEED);
  const trainSize = Math.floor(numSamples * TRAIN_FRACTION);
  const train = order.slice(0, trainSize);
  const test = order.slice(trainSize);
  validatePartition(partition, test.length);
  return {
    train: shard(train, partition.index, partition.count),
    test: shard(test, partition.index, partition.count),
  };
}

/** Numeric hyperparameter from number or numeric string (FLOps may pass either). */
function numberParam(hp, key, { integer }) {
  const raw = hp[key];
  const value = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    const shown = typeof raw === 'string' ? JSON.stringify(raw) : String(raw);
    throw new Error(`hyperparameter ${key} must be a positive ${integer ? 'integer' : 'number'}, got ${shown}`);
  }
  return value;
}

function resolveHyperparameters(...sources) {
  const hp = Object.assign({}, DEFAULT_HYPERPARAMETERS, ...sources.filter(Boolean));
  return {
    epochs: numberParam(hp, 'epochs', { integer: true }),
    batchSize: numberParam(hp, 'batchSize', { integer: true }),
    learningRate: numberParam(hp, 'learningRate', { integer: false }),
  };
}

const sameShape = (a, b) => a.length === b.length && a.every((d, i) => d === b[i]);

/**
 * FLOps entry point. See README.md ("The flops/v1 contract") for the shape of ctx
 * and of the returned model manager.
 * @param {ModelManagerContext} ctx
 */
async function createModelManager(ctx) {
  const { tf } = ctx || {};
  if (!tf || typeof tf.sequential !== 'function') throw new Error('ctx.tf must be the runtime @tensorflow/tfjs module');
  const seed = ctx.seed === undefined ? 0 : ctx.seed;
  if (!Number.isInteger(seed)) throw new Error(`ctx.seed must be an integer, got ${ctx.seed}`);
  const log = typeof ctx.log === 'function' ? ctx.log : () => {};
  const baseHyperparameters = ctx.hyperparameters || {};
  resolveHyperparameters(baseHyperparameters); // fail fast on bad values from the job
  const partition = { index: ctx.partition?.index, count: ctx.partition?.count };

  const ids = partitionIndices(partition);
  const data = loadDigits();
  // Shape the shard's tensors once; fit/evaluate only gather from them.
  const toTensors = (rows) => {
    const x = new Float32Array(rows.length * NUM_FEATURES);
    rows.forEach((row, i) => {
      for (let j = 0; j < NUM_FEATURES; j++) x[i * NUM_FEATURES + j] = data.pixels[row * NUM_FEATURES + j] / PIXEL_MAX;
    });
    const labels = Int32Array.from(rows, (row) => data.labels[row]);
    const y = tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), NUM_CLASSES).toFloat());
    return { x: tf.tensor2d(x, [rows.length, NUM_FEATURES]), y, size: rows.length };
  };
  const train = toTensors(ids.train);
  const test = toTensors(ids.test);

  const model = tf.sequential({ name: 'digits_mlp' });
  LAYERS.forEach((spec, i) => {
    model.add(
      tf.layers.dense({
        name: spec.name,
        units: spec.units,
        activation: spec.activation,
        ...(i === 0 ? { inputShape: [NUM_FEATURES] } : {}),
        // One seed per layer, so the layers don't start from correlated draws.
        kernelInitializer: tf.initializers.glorotUniform({ seed: seed + i }),
        biasInitializer: 'zeros',
      }),
    );
  });

  // model.evaluate needs a compiled model; fit() swaps in a fresh optimizer.
  let optimizer = null;
  const compileWith = (learningRate) => {
    if (optimizer) optimizer.dispose();
    optimizer = tf.train.adam(learningRate);
    model.compile({ optimizer, loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  };
  compileWith(DEFAULT_HYPERPARAMETERS.learningRate);

  // Stable names: "<layer name>/<weight index>", e.g. hidden/0 (kernel), hidden/1 (bias).
  const weightSlots = () =>
    model.layers.flatMap((layer) => layer.weights.map((w, i) => ({ layer, name: `${layer.name}/${i}`, shape: w.shape })));

  /** The tensors of a strategy input (globalWeights, scaffoldCorrection) in trainable-weight order. */
  const slotTensors = (named, what) => {
    const byName = new Map(named.map((t) => [t.name, t]));
    return weightSlots().map((slot) => {
      const t = byName.get(slot.name);
      if (!t || !sameShape(t.shape, slot.shape)) throw new Error(`strategy.${what}: no tensor ${slot.name} of shape [${slot.shape}]`);
      return tf.tensor(Float32Array.from(t.values), slot.shape, 'float32');
    });
  };

  /**
   * The learner side of FedProx and SCAFFOLD (docs/ml-repo-contract.md): a training loop of our own, since
   * model.fit cannot change the loss or the gradients. FedProx adds (mu/2)·||w - w_global||² to the loss
   * (with Adam, as plain fit); SCAFFOLD adds c - c_i to every gradient and takes plain SGD steps, whose
   * learning rates it sums (the paper's local update).
   */
  const fitWithStrategy = async (round, hp, strategy) => {
    const mu = strategy.proximalMu > 0 ? strategy.proximalMu : 0;
    const scaffold = Boolean(strategy.scaffoldCorrection);
    const variables = model.trainableWeights.map((w) => w.read());
    const global = mu ? slotTensors(strategy.globalWeights || [], 'globalWeights') : [];
    const correction = scaffold ? slotTensors(strategy.scaffoldCorrection, 'scaffoldCorrection') : [];
    if (optimizer) optimizer.dispose();
    optimizer = scaffold ? tf.train.sgd(hp.learningRate) : tf.train.adam(hp.learningRate);
    model.compile({ optimizer, loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    let steps = 0;
    const metrics = { loss: NaN, accuracy: NaN };
    try {
      for (let epoch = 0; epoch < hp.epochs; epoch++) {
        const order = permutation(train.size, mixSeeds(seed, round, epoch, partition.index));
        let lossSum = 0;
        let correct = 0;
        for (let start = 0; start < order.length; start += hp.batchSize) {
          const rows = Int32Array.from(order.slice(start, start + hp.batchSize));
          const idx = tf.tensor1d(rows, 'int32');
          const x = tf.gather(train.x, idx);
          const y = tf.gather(train.y, idx);
          let hits = null;
          const { value, grads } = tf.variableGrads(() => {
            const predicted = model.apply(x);
            hits = tf.keep(tf.metrics.categoricalAccuracy(y, predicted).sum());
            let loss = tf.metrics.categoricalCrossentropy(y, predicted).mean();
            if (mu) loss = loss.add(tf.addN(variables.map((v, i) => v.sub(global[i]).square().sum())).mul(mu / 2));
            return loss;
          }, variables);
          const stepGrads = scaffold ? Object.fromEntries(variables.map((v, i) => [v.name, grads[v.name].add(correction[i])])) : grads;
          optimizer.applyGradients(stepGrads);
          steps += 1;
          lossSum += (await value.data())[0] * rows.length;
          correct += (await hits.data())[0];
          tf.dispose([idx, x, y, value, hits, ...Object.values(grads), ...(scaffold ? Object.values(stepGrads) : [])]);
        }
        metrics.loss = lossSum / order.length;
        metrics.accuracy = correct / order.length;
      }
    } finally {
      tf.dispose([...global, ...correction]);
    }
    log(`digits-mlp: round ${round} trained ${hp.epochs} epoch(s) (${mu ? `FedProx mu ${mu}` : 'SCAFFOLD'}): loss ${metrics.loss.toFixed(4)}, accuracy ${metrics.accuracy.toFixed(4)}`);
    return { numSamples: train.size, metrics, ...(scaffold ? { scaffoldStepSizeSum: steps * hp.learningRate } : {}) };
  };

  let disposed = false;
  const assertLive = () => {
    if (disposed) throw new Error('model manager has been disposed');
  };

  log(
    `digits-mlp: partition ${partition.index + 1}/${partition.count}, ` +
      `${train.size} train / ${test.size} test samples, seed ${seed}` +
      (ctx.dataTags && ctx.dataTags.length ? ` (dataTags ${ctx.dataTags.join(',')} ignored: data is bundled)` : ''),
  );

  return {
    /** @returns {Promise<NamedTensor[]>} */
    async getWeights() {
      assertLive();
      const result = [];
      for (const layer of model.layers) {
        // layer.getWeights() returns the live variables: read, copy, never dispose.
        const tensors = layer.getWeights();
        for (let i = 0; i < tensors.length; i++) {
          const values = await tensors[i].data();
          result.push({ name: `${layer.name}/${i}`, shape: tensors[i].shape.slice(), values: new Float32Array(values) });
        }
      }
      return result;
    },

    /** @param {NamedTensor[]} tensors */
    async setWeights(tensors) {
      assertLive();
      if (!Array.isArray(tensors)) throw new Error('setWeights expects an array of { name, shape, values }');
      const byName = new Map();
      for (const t of tensors) {
        if (!t || typeof t.name !== 'string') throw new Error('setWeights: every tensor needs a string name');
        if (byName.has(t.name)) throw new Error(`setWeights: duplicate tensor ${t.name}`);
        byName.set(t.name, t);
      }
      const slots = weightSlots();
      const expected = new Set(slots.map((s) => s.name));
      const unknown = [...byName.keys()].filter((name) => !expected.has(name));
      if (unknown.length) {
        throw new Error(`setWeights: unknown tensors ${unknown.join(', ')}; expected ${[...expected].join(', ')}`);
      }
      // Validate everything before touching the model so a bad payload leaves it unchanged.
      for (const slot of slots) {
        const t = byName.get(slot.name);
        if (!t) throw new Error(`setWeights: missing tensor ${slot.name}`);
        if (!Array.isArray(t.shape) || !sameShape(t.shape, slot.shape)) {
          throw new Error(`setWeights: ${slot.name} has shape [${t.shape}], expected [${slot.shape}]`);
        }
        const size = slot.shape.reduce((a, b) => a * b, 1);
        if (!t.values || t.values.length !== size) {
          throw new Error(`setWeights: ${slot.name} has ${t.values ? t.values.length : 0} values, expected ${size}`);
        }
        for (let i = 0; i < size; i++) {
          if (!Number.isFinite(t.values[i])) throw new Error(`setWeights: ${slot.name} contains a non-finite value`);
        }
      }
      for (const layer of model.layers) {
        const mine = slots.filter((s) => s.layer === layer);
        const values = mine.map((s) => tf.tensor(Float32Array.from(byName.get(s.name).values), s.shape, 'float32'));
        // Copied above because the CPU backend keeps the given array as the tensor's
        // storage; the variables take their own reference, so ours can be disposed.
        layer.setWeights(values);
        values.forEach((v) => v.dispose());
      }
    },

    /** @param {{ round?: number, hyperparameters?: Hyperparameters, strategy?: object }} [args] */
    async fit({ round = 0, hyperparameters, strategy } = {}) {
      assertLive();
      const hp = resolveHyperparameters(baseHyperparameters, hyperparameters);
      if (strategy && (strategy.proximalMu > 0 || strategy.scaffoldCorrection)) return fitWithStrategy(round, hp, strategy);
      // A fresh Adam each round: the incoming global weights are a new starting
      // point, and stale moment estimates from the previous local model would bias it.
      compileWith(hp.learningRate);
      const metrics = { loss: NaN, accuracy: NaN };
      for (let epoch = 0; epoch < hp.epochs; epoch++) {
        // Own seeded shuffle (tfjs' shuffle uses Math.random) keeps runs reproducible.
        const order = permutation(train.size, mixSeeds(seed, round, epoch, partition.index));
        const idx = tf.tensor1d(Int32Array.from(order), 'int32');
        const x = tf.gather(train.x, idx);
        const y = tf.gather(train.y, idx);
        try {
          const history = await model.fit(x, y, { epochs: 1, batchSize: hp.batchSize, shuffle: false, verbose: 0 });
          // Last epoch's running averages over its batches (tfjs names accuracy "acc").
          metrics.loss = Number(history.history.loss[0]);
          metrics.accuracy = Number(history.history.acc[0]);
        } finally {
          tf.dispose([idx, x, y]);
        }
      }
      log(
        `digits-mlp: round ${round} trained ${hp.epochs} epoch(s): ` +
          `loss ${metrics.loss.toFixed(4)}, accuracy ${metrics.accuracy.toFixed(4)}`,
      );
      return { numSamples: train.size, metrics };
    },

    async evaluate() {
      assertLive();
      // One loss + one metric compiled, so evaluate() yields [loss, accuracy].
      const outputs = /** @type {import('@tensorflow/tfjs').Scalar[]} */ (
        model.evaluate(test.x, test.y, { batchSize: 128, verbose: 0 })
      );
      const [loss, accuracy] = await Promise.all(outputs.map((t) => t.data()));
      tf.dispose(outputs);
      return { numSamples: test.size, loss: loss[0], accuracy: accuracy[0] };
    },

    dispose() {
      if (disposed) return;
      disposed = true;
      model.dispose();
      if (optimizer) optimizer.dispose();
      tf.dispose([train.x, train.y, test.x, test.y]);
    },
  };
}

module.exports = { createModelManager, partitionIndices, loadDigits, DEFAULT_HYPERPARAMETERS };
