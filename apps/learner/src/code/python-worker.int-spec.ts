import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WORKSPACE_ROOT } from '@flops/testing';
import { PythonModelManager, PythonWorker, PythonWorkerError } from './python-worker';
import { PYTHON_RUNTIME_DIR } from './user-code';

// The first run creates flops_utils' venv (numpy, datasets, scikit-learn): minutes on a loaded machine.
jest.setTimeout(1_200_000);

const RUNTIME = join(WORKSPACE_ROOT, PYTHON_RUNTIME_DIR);

/** A repo in the original FLOps layout with a numpy-only model; `fit` is replaced per test. */
function repo(fit = 'return len(self.x)', extra = '', init = 'np.arange(6, dtype=np.float64).reshape(2, 3)'): string {
  const dir = mkdtempSync(join(tmpdir(), 'flops-pyrepo-'));
  writeFileSync(
    join(dir, 'data_manager.py'),
    [
      'from flops_utils.ml_repo_building_blocks import load_dataset',
      'from flops_utils.ml_repo_templates import DataManagerTemplate',
      'class DataManager(DataManagerTemplate):',
      '    def _prepare_data(self):',
      '        d = load_dataset()',
      '        d.set_format("numpy")',
      '        return d["image"].reshape(len(d), -1), d["label"]',
      '    def get_data(self):',
      '        return self._prepare_data()',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'model_manager.py'),
    [
      'import os, sys, time',
      'import numpy as np',
      'from data_manager import DataManager',
      'from flops_utils.ml_repo_templates import ModelManagerTemplate',
      extra,
      'class ModelManager(ModelManagerTemplate):',
      '    def __init__(self):',
      `        self.w = ${init}`,
      '        self.steps = np.array([7], dtype=np.int64)',
      '    def set_model_data(self):',
      '        self.x, self.y = DataManager().get_data()',
      '    def get_model(self):',
      '        return self.w',
      '    def get_model_parameters(self):',
      '        return [self.w, self.steps]',
      '    def set_model_parameters(self, parameters):',
      '        assert parameters[0].dtype == self.w.dtype and parameters[1].dtype == np.int64, [p.dtype for p in parameters]',
      '        self.w, self.steps = parameters',
      '    def fit_model(self):',
      '        print("training on stdout must not corrupt the channel")',
      '        self.w = self.w + 1',
      `        ${fit}`,
      '    def evaluate_model(self):',
      '        return 0.25, 0.75, int(len(self.y))',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'requirements.txt'), 'numpy\n');
  return dir;
}

describe('the Python worker (flops_utils.worker) driven over FLT1 frames', () => {
  let python: string;
  let dataDir: string;
  const dirs: string[] = [];
  const workers: PythonWorker[] = [];
  const lines: string[] = [];

  function worker(taskTimeoutMs = 120_000): PythonWorker {
    const w = new PythonWorker({ python, runtimeDir: RUNTIME, taskTimeoutMs, log: (line) => lines.push(line) });
    workers.push(w);
    return w;
  }

  async function load(dir: string, w = worker(), tags = ['digits'], index = 1): Promise<PythonModelManager> {
    dirs.push(dir);
    return PythonModelManager.load(w, { repoDir: dir, dataDir, dataTags: tags, partition: { index, count: 3 }, seed: 1 });
  }

  beforeAll(() => {
    python = execFileSync('bash', [join(WORKSPACE_ROOT, 'tools/python-venv.sh'), join(RUNTIME, 'requirements.txt')], { encoding: 'utf8' }).trim();
    dataDir = mkdtempSync(join(tmpdir(), 'flops-nodedata-'));
    execFileSync(python, ['-m', 'flops_utils.mock_data_provider', '--data-dir', dataDir, '--tag', 'digits', '--partitions', '3', '--seed', '3'], {
      env: { ...process.env, PYTHONPATH: RUNTIME },
    });
  });

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.close()));
    for (const dir of [...dirs, dataDir]) rmSync(dir, { recursive: true, force: true });
  });

  it('loads a repo in the original layout, trains it and moves its parameters as float32 tensors both ways', async () => {
    const manager = await load(repo());
    const weights = await manager.getWeights();
    expect(weights.map((t) => [t.name, t.shape])).toEqual([
      ['param/0', [2, 3]],
      ['param/1', [1]],
    ]);
    expect(Array.from(weights[0].values)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(weights[0].values).toBeInstanceOf(Float32Array);

    // Partition 1 of the IID split of the 1,797 digits: 599 samples.
    expect(await manager.fit({ round: 1, hyperparameters: {} })).toEqual({ numSamples: 599, metrics: {} });
    expect(Array.from((await manager.getWeights())[0].values)).toEqual([1, 2, 3, 4, 5, 6]);

    // The model gets its own dtypes back (float64, int64), with the values sent.
    await manager.setWeights([
      { name: 'param/0', shape: [2, 3], values: Float32Array.from([0.5, -1, 2, 3, 4, 1e6]) },
      { name: 'param/1', shape: [1], values: Float32Array.from([9]) },
    ]);
    const after = await manager.getWeights();
    expect(Array.from(after[0].values)).toEqual([0.5, -1, 2, 3, 4, 1e6]);
    expect(Array.from(after[1].values)).toEqual([9]);
    expect(await manager.evaluate()).toEqual({ loss: 0.25, accuracy: 0.75, numSamples: 599 });
    expect(lines).toContain('training on stdout must not corrupt the channel');
  });

  it('moves a model of millions of parameters through the pipe in many chunks, bit for bit', async () => {
    const manager = await load(repo(undefined, undefined, 'np.random.default_rng(0).standard_normal((1500, 1000)).astype(np.float32)'));
    const [big] = await manager.getWeights();
    expect(big.shape).toEqual([1500, 1000]);
    const sent = Float32Array.from(big.values, (v, i) => v * 2 + i);
    await manager.setWeights([
      { name: 'param/0', shape: [1500, 1000], values: sent },
      { name: 'param/1', shape: [1], values: Float32Array.from([1]) },
    ]);
    const back = (await manager.getWeights())[0].values;
    expect(Buffer.from(back.buffer, back.byteOffset, back.byteLength).equals(Buffer.from(sent.buffer))).toBe(true);
  });

  it('refuses parameters whose shapes differ from the model, naming them, and keeps serving', async () => {
    const manager = await load(repo());
    await expect(manager.setWeights([{ name: 'param/0', shape: [3, 2], values: new Float32Array(6) }])).rejects.toThrow(
      /model has 2 parameter arrays, the update 1/,
    );
    await expect(
      manager.setWeights([
        { name: 'param/0', shape: [3, 2], values: new Float32Array(6) },
        { name: 'param/1', shape: [1], values: new Float32Array(1) },
      ]),
    ).rejects.toThrow(/parameter param\/0 has shape \[3, 2\], the model's param\/0 has \[2, 3\]/);
    expect((await manager.getWeights())[0].shape).toEqual([2, 3]);
  });

  it("turns the user's exception into an error carrying the Python traceback", async () => {
    const manager = await load(repo('raise ValueError("the labels are broken")'));
    const error = await manager.fit({ round: 1, hyperparameters: {} }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PythonWorkerError);
    expect((error as Error).message).toMatch(/^fit: ValueError: the labels are broken\nTraceback \(most recent call last\):/);
    expect((error as Error).message).toMatch(/model_manager\.py", line \d+, in fit_model/);
    // The worker is still there for the next task.
    expect((await manager.evaluate()).numSamples).toBe(599);
  });

  it('stops a worker that hangs longer than the task timeout, and fails later requests too', async () => {
    const w = worker(5000);
    await expect(load(repo(undefined, 'time.sleep(600)'), w)).rejects.toThrow(/did not finish 'load' within 5 s .*and was stopped/);
    await expect(w.request({ op: 'get_weights' })).rejects.toThrow(PythonWorkerError);
  });

  it('reports a worker that dies, with what it last wrote to stderr', async () => {
    const manager = await load(repo('print("native library failed: out of cheese", file=sys.stderr); sys.stderr.flush(); os._exit(3)'));
    const error = (await manager.fit({ round: 1, hyperparameters: {} }).catch((e: unknown) => e)) as Error;
    expect(error.message).toMatch(/the Python worker exited \(code 3\) during 'fit'; its last output:\n[\s\S]*out of cheese/);
  });

  it('fails to load when the node has no data for the tags, saying where it looked', async () => {
    const error = (await load(repo(), worker(), ['mnist', 'cifar']).catch((e: unknown) => e)) as Error;
    expect(error.message).toMatch(/^load: NoDataError: no data for the data tags \['mnist', 'cifar'\] on this node \(learner 1\)/);
  });

  it('fails to load a repo whose import raises, with the traceback', async () => {
    const error = (await load(repo(undefined, 'import no_such_module_for_flops')).catch((e: unknown) => e)) as Error;
    expect(error.message).toMatch(/^load: ModuleNotFoundError: No module named 'no_such_module_for_flops'\nTraceback/);
  });

  describe('the mock data provider', () => {
    const provide = (dir: string, ...args: string[]): { partitions: { samples: number; labels: number[] }[] } => {
      execFileSync(python, ['-m', 'flops_utils.mock_data_provider', '--data-dir', dir, '--tag', 't', ...args], { env: { ...process.env, PYTHONPATH: RUNTIME } });
      return JSON.parse(readFileSync(join(dir, 't', 'split.json'), 'utf8')) as { partitions: { samples: number; labels: number[] }[] };
    };

    it('splits IID into near-equal partitions and Dirichlet non-IID by label, reproducibly from the seed', () => {
      const a = mkdtempSync(join(tmpdir(), 'flops-split-'));
      const b = mkdtempSync(join(tmpdir(), 'flops-split-'));
      dirs.push(a, b);
      const iid = provide(a, '--partitions', '4', '--seed', '5');
      expect(iid.partitions.map((p) => p.samples)).toEqual([450, 449, 449, 449]);

      const skewed = provide(a, '--partitions', '4', '--split', 'dirichlet', '--alpha', '0.1', '--seed', '5');
      expect(skewed.partitions.reduce((n, p) => n + p.samples, 0)).toBe(1797);
      expect(provide(b, '--partitions', '4', '--split', 'dirichlet', '--alpha', '0.1', '--seed', '5')).toEqual(skewed);
      // With alpha 0.1 most of a label sits in one partition; IID spreads every label.
      const share = (split: typeof iid): number =>
        Array.from({ length: 10 }, (_, label) => Math.max(...split.partitions.map((p) => p.labels[label])) / split.partitions.reduce((n, p) => n + p.labels[label], 0)).reduce((x, y) => x + y) / 10;
      expect(share(skewed)).toBeGreaterThan(0.7);
      expect(share(iid)).toBeLessThan(0.4);
      // The earlier IID split's partitions are gone, not mixed in.
      expect(provide(a, '--partitions', '2', '--seed', '5').partitions).toHaveLength(2);
      expect(existsSync(join(a, 't', 'partition-2'))).toBe(false);
    });
  });
});
