// Unit tests for the bundled digits-tfjs example repo (FLOps ML repo contract flops/v1).
import * as fs from 'node:fs';
import * as path from 'node:path';

type Tf = typeof import('@tensorflow/tfjs');

// The contract types, restated here because the repo under test is plain JS.
interface NamedTensor {
  name: string;
  shape: number[];
  values: Float32Array;
}
interface ModelManager {
  getWeights(): Promise<NamedTensor[]>;
  setWeights(tensors: NamedTensor[]): Promise<void>;
  fit(args: { round: number; hyperparameters?: Record<string, number | string | boolean> }): Promise<{
    numSamples: number;
    metrics: { loss: number; accuracy: number };
  }>;
  evaluate(): Promise<{ numSamples: number; loss: number; accuracy: number }>;
  dispose?(): void;
}
interface ModelManagerModule {
  createModelManager(ctx: {
    tf: Tf;
    partition: { index: number; count: number };
    dataTags: string[];
    hyperparameters: Record<string, number | string | boolean>;
    seed: number;
    log: (msg: string) => void;
  }): Promise<ModelManager>;
  partitionIndices(partition: { index: number; count: number }): { train: number[]; test: number[] };
  DEFAULT_HYPERPARAMETERS: { epochs: number; batchSize: number; learningRate: number };
}

const tf: Tf = require('@tensorflow/tfjs');
const repo: ModelManagerModule = require('./model_manager');
const { runCentralised } = require('./centralised') as {
  runCentralised(opts: { tf: Tf }): Promise<{ accuracy: number; loss: number; numSamples: number }>;
};
const { simulateFedAvg } = require('./simulate-fedavg') as {
  simulateFedAvg(opts: { tf: Tf; learners: number; rounds: number }): Promise<Array<{ round: number; accuracy: number }>>;
};

// tfjs' pure-JS backend runs several times slower inside Jest's VM sandbox than
// in plain Node (and CI machines are shared), so training tests get headroom.
const TRAINING_TIMEOUT_MS = 120_000;

const TOTAL = 1797;
const TRAIN = 1437; // floor(0.8 * 1797)
const TEST = TOTAL - TRAIN;

const managers: ModelManager[] = [];
async function create(partition = { index: 0, count: 1 }, seed = 7, hyperparameters = {}): Promise<ModelManager> {
  const m = await repo.createModelManager({ tf, partition, dataTags: [], hyperparameters, seed, log: () => {} });
  managers.push(m);
  return m;
}

beforeAll(async () => {
  // Silences the "install tfjs-node" banner and turns on tfjs' per-kernel leak checks.
  tf.env().set('IS_TEST', true);
  await tf.ready();
});

afterEach(() => {
  managers.splice(0).forEach((m) => m.dispose?.());
});

describe('repo layout', () => {
  it('declares the flops/v1 contract and an existing CommonJS entry that does not load its own tfjs', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(__dirname, 'flops.json'), 'utf8'));
    expect(manifest).toEqual({ contract: 'flops/v1', name: 'digits-mlp', runtime: 'tfjs-4', entry: 'model_manager.js' });
    const source = fs.readFileSync(path.join(__dirname, manifest.entry), 'utf8');
    expect(source).not.toMatch(/require\(\s*['"]@tensorflow\//);
    expect(typeof repo.createModelManager).toBe('function');
  });
});

describe('partitioning', () => {
  it.each([1, 2, 3, 7])('%i partitions are disjoint, near-equal and cover the train and test splits', (count) => {
    const shards = Array.from({ length: count }, (_, index) => repo.partitionIndices({ index, count }));
    const train = shards.flatMap((s) => s.train);
    const test = shards.flatMap((s) => s.test);
    expect(new Set(train).size).toBe(TRAIN);
    expect(train).toHaveLength(TRAIN);
    expect(new Set(test).size).toBe(TEST);
    expect(test).toHaveLength(TEST);
    expect(new Set([...train, ...test]).size).toBe(TOTAL);
    expect([...train, ...test].every((id) => Number.isInteger(id) && id >= 0 && id < TOTAL)).toBe(true);
    for (const side of ['train', 'test'] as const) {
      const sizes = shards.map((s) => s[side].length);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    }
  });

  it('is the same split in every call (independent of the learner seed)', () => {
    expect(repo.partitionIndices({ index: 1, count: 3 })).toEqual(repo.partitionIndices({ index: 1, count: 3 }));
  });

  it('rejects invalid partitions', async () => {
    await expect(create({ index: 3, count: 3 })).rejects.toThrow(/partition\.index/);
    await expect(create({ index: 0, count: 0 })).rejects.toThrow(/partition\.count/);
    await expect(create({ index: 0, count: TEST + 1 })).rejects.toThrow(/empty/);
  });
});

describe('weights', () => {
  it('exposes stable, explicitly named tensors', async () => {
    tf.layers.dense({ units: 1 }); // bumps tfjs' auto-name counters; must not matter
    const weights = await (await create()).getWeights();
    expect(weights.map((w) => [w.name, w.shape])).toEqual([
      ['hidden/0', [64, 32]],
      ['hidden/1', [32]],
      ['output/0', [32, 10]],
      ['output/1', [10]],
    ]);
    for (const w of weights) {
      expect(w.values).toBeInstanceOf(Float32Array);
      expect(w.values.length).toBe(w.shape.reduce((a, b) => a * b, 1));
    }
  });

  it('round-trips through setWeights/getWeights and copies in both directions', async () => {
    const source = await (await create(undefined, 1)).getWeights();
    const target = await create(undefined, 2);
    expect(await target.getWeights()).not.toEqual(source);

    await target.setWeights(source);
    expect(await target.getWeights()).toEqual(source);

    const snapshot = source.map((w) => ({ ...w, values: Float32Array.from(w.values) }));
    source[0].values.fill(123); // caller's buffers must not alias the model
    const back = await target.getWeights();
    expect(back).toEqual(snapshot);
    back[0].values.fill(-5); // nor may returned buffers
    expect(await target.getWeights()).toEqual(snapshot);
  });

  it('rejects mismatched payloads with a clear error and leaves the model unchanged', async () => {
    const m = await create();
    const original = await m.getWeights();
    const withShape = original.map((w) =>
      w.name === 'output/0' ? { ...w, shape: [10, 32], values: new Float32Array(320) } : w,
    );
    await expect(m.setWeights(withShape)).rejects.toThrow(/output\/0 has shape \[10,32\], expected \[32,10\]/);
    await expect(m.setWeights(original.slice(1))).rejects.toThrow(/missing tensor hidden\/0/);
    await expect(m.setWeights([...original, { name: 'extra/0', shape: [1], values: new Float32Array(1) }])).rejects.toThrow(
      /unknown tensors extra\/0/,
    );
    const short = original.map((w) => (w.name === 'hidden/1' ? { ...w, values: new Float32Array(3) } : w));
    await expect(m.setWeights(short)).rejects.toThrow(/hidden\/1 has 3 values, expected 32/);
    expect(await m.getWeights()).toEqual(original);
  });

  it('initialises identically for the same seed and differently for another', async () => {
    const a = await (await create({ index: 0, count: 3 }, 11)).getWeights();
    const b = await (await create({ index: 2, count: 3 }, 11)).getWeights();
    const c = await (await create({ index: 0, count: 3 }, 12)).getWeights();
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
  });
});

describe('training', () => {
  it('fits on its train shard, reports finite metrics and improves held-out accuracy', async () => {
    const m = await create({ index: 0, count: 3 });
    const before = await m.evaluate();
    expect(before.numSamples).toBe(repo.partitionIndices({ index: 0, count: 3 }).test.length);

    const result = await m.fit({ round: 1, hyperparameters: { epochs: 3 } });
    expect(result.numSamples).toBe(repo.partitionIndices({ index: 0, count: 3 }).train.length);
    expect(Number.isFinite(result.metrics.loss)).toBe(true);
    expect(result.metrics.accuracy).toBeGreaterThanOrEqual(0);
    expect(result.metrics.accuracy).toBeLessThanOrEqual(1);

    const after = await m.evaluate();
    expect(Number.isFinite(after.loss)).toBe(true);
    expect(after.loss).toBeLessThan(before.loss);
    expect(after.accuracy).toBeGreaterThan(before.accuracy + 0.3);
  }, TRAINING_TIMEOUT_MS);

  it('is reproducible for the same seed and round', async () => {
    const a = await create({ index: 1, count: 2 }, 5);
    const b = await create({ index: 1, count: 2 }, 5);
    expect(await a.fit({ round: 2 })).toEqual(await b.fit({ round: 2 }));
    expect(await a.getWeights()).toEqual(await b.getWeights());
  }, TRAINING_TIMEOUT_MS);

  it('accepts numeric strings and rejects invalid hyperparameters', async () => {
    const m = await create({ index: 0, count: 4 });
    await expect(m.fit({ round: 0, hyperparameters: { epochs: '1', batchSize: '64', learningRate: '0.01' } })).resolves.toMatchObject({
      numSamples: repo.partitionIndices({ index: 0, count: 4 }).train.length,
    });
    await expect(m.fit({ round: 0, hyperparameters: { epochs: 0 } })).rejects.toThrow(/epochs must be a positive integer/);
    await expect(m.fit({ round: 0, hyperparameters: { learningRate: true } })).rejects.toThrow(/learningRate/);
  }, TRAINING_TIMEOUT_MS);

  it('does not leak tensors', async () => {
    const baseline = tf.memory().numTensors;
    const m = await create({ index: 0, count: 2 });
    await m.fit({ round: 0, hyperparameters: { epochs: 1 } });
    await m.setWeights(await m.getWeights());
    await m.evaluate();
    m.dispose?.();
    expect(tf.memory().numTensors).toBe(baseline);
  }, TRAINING_TIMEOUT_MS);
});

describe('end to end', () => {
  it('centralised training reaches >= 0.9 test accuracy', async () => {
    const result = await runCentralised({ tf });
    expect(result.numSamples).toBe(TEST);
    expect(result.accuracy).toBeGreaterThanOrEqual(0.9);
  }, TRAINING_TIMEOUT_MS);

  it('FedAvg over 3 learners x 5 rounds reaches >= 0.9 test accuracy', async () => {
    const history = await simulateFedAvg({ tf, learners: 3, rounds: 5 });
    expect(history).toHaveLength(6);
    expect(history[5].accuracy).toBeGreaterThanOrEqual(0.9);
  }, TRAINING_TIMEOUT_MS);
});
