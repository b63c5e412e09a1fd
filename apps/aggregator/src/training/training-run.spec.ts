import { Logger } from '@nestjs/common';
import { LearnerTask, RoundCompleted, StoredModel, TrainingCompleted, TrainingConfig } from '@flops/contracts';
import { NamedTensor, TensorLayout, decodeTensors, encodeTensors } from '@flops/tensor-codec';
import { UpdateRejectedError } from './training-errors';
import { StoredModelInfo, TrainingPorts, TrainingRun, TrainingRunSettings } from './training-run';

const PROJECT_ID = 'p-train';
const DATA_URL = 'http://127.0.0.1:4567';

// ---- the model and what simulated learners do with it -----------------------------------------

const LAYOUT: TensorLayout = [
  { name: 'dense/kernel', shape: [2, 3] },
  { name: 'dense/bias', shape: [3] },
];

function tensors(kernel: number[], bias: number[]): NamedTensor[] {
  return [
    { name: 'dense/kernel', shape: [2, 3], values: Float32Array.from(kernel) },
    { name: 'dense/bias', shape: [3], values: Float32Array.from(bias) },
  ];
}

/** All values of a model, flattened in layout order. */
function flat(model: readonly NamedTensor[]): number[] {
  return model.flatMap((t) => Array.from(t.values));
}

function fromFlat(values: readonly number[]): NamedTensor[] {
  return tensors(values.slice(0, 6), values.slice(6, 9));
}

const INITIAL = [0.1, -0.2, 0.3, -0.4, 0.5, -0.6, 0, 0.25, -0.25];

/** What learner `i` adds to the global model in round `r` (distinct per learner, round and element). */
function delta(i: number, r: number, j: number): number {
  return (i + 1) * 0.1 * r + (j - 4) * 0.01 * (i + 1) - 0.05 * i;
}

function fitMetrics(i: number, r: number): Record<string, number> {
  return { loss: 1 / (r + i + 1), accuracy: 0.2 * (i + 1) + 0.05 * r };
}

function evalMetrics(i: number, r: number): Record<string, number> {
  return { loss: 2 / (r + 2 * i + 1), accuracy: 0.15 * (i + 1) + 0.04 * r };
}

interface SimLearner {
  index: number;
  id: string;
  fitSamples: number;
  evalSamples: number;
}

function aFleet(count: number): SimLearner[] {
  const fit = [100, 300, 600];
  const evaluate = [50, 10, 40];
  return Array.from({ length: count }, (_, index) => ({
    index,
    id: `learner-${index}`,
    fitSamples: fit[index],
    evalSamples: evaluate[index],
  }));
}

function aConfig(overrides: Partial<TrainingConfig> = {}): TrainingConfig {
  return {
    rounds: 3,
    learners: 3,
    minLearnersPerRound: 2,
    strategy: 'fedavg',
    strategyParams: {},
    fractionFit: 1,
    fractionEvaluate: 1,
    hyperparameters: { epochs: 2, learningRate: 0.01 },
    dataTags: [],
    roundTimeoutSeconds: 30,
    seed: 1,
    ...overrides,
  };
}

function aSettings(config: Partial<TrainingConfig> = {}, joinTimeoutMs = 2_000): TrainingRunSettings {
  return { projectId: PROJECT_ID, config: aConfig(config), joinTimeoutMs };
}

// ---- independent expectations ------------------------------------------------------------------

function weighted(entries: { weight: number; value: number }[]): number {
  const total = entries.reduce((n, e) => n + e.weight, 0);
  return entries.reduce((sum, e) => sum + e.weight * e.value, 0) / total;
}

/** FedAvg by hand: each round the global model becomes Σ nᵢ·(global + δᵢ) / Σ nᵢ over the learners that answered. */
function expectedModel(rounds: { round: number; learners: SimLearner[] }[]): number[] {
  let model = [...INITIAL];
  for (const { round, learners } of rounds) {
    model = model.map((value, j) => weighted(learners.map((l) => ({ weight: l.fitSamples, value: value + delta(l.index, round, j) }))));
  }
  return model;
}

function expectedMetrics(learners: SimLearner[], metricsOf: (i: number) => Record<string, number>, weightOf: (l: SimLearner) => number) {
  const keys = Object.keys(metricsOf(0));
  return Object.fromEntries(
    keys.map((key) => [key, weighted(learners.map((l) => ({ weight: weightOf(l), value: metricsOf(l.index)[key] })))]),
  );
}

function expectCloseTo(actual: Record<string, number>, expected: Record<string, number>): void {
  expect(Object.keys(actual).sort()).toEqual(Object.keys(expected).sort());
  for (const key of Object.keys(expected)) expect(actual[key]).toBeCloseTo(expected[key], 10);
}

function expectModelCloseTo(actual: readonly NamedTensor[], expected: readonly number[]): void {
  expect(actual.map(({ name, shape }) => ({ name, shape }))).toEqual(LAYOUT);
  const values = flat(actual);
  expect(values).toHaveLength(expected.length);
  values.forEach((v, j) => expect(v).toBeCloseTo(expected[j], 5)); // float32 on the wire
}

// ---- the simulated world -------------------------------------------------------------------------

type Action = 'answer' | 'silent' | 'fail';

/**
 * TrainingPorts that record what the run reports and play the learners: every published task is
 * answered (on the next turn of the event loop) by the learners it names, as `script` says.
 */
class SimulatedWorld implements TrainingPorts {
  readonly tasks: LearnerTask[] = [];
  readonly started: string[][] = [];
  readonly rounds: RoundCompleted[] = [];
  readonly completed: TrainingCompleted[] = [];
  readonly failures: string[] = [];
  readonly stored: { model: Buffer; info: StoredModelInfo }[] = [];
  readonly downloads: { learnerId: string; version: string; values: number[] }[] = [];
  /** Rejections a learner got: a well-behaved learner never gets one. */
  readonly rejections: unknown[] = [];
  readonly storedModel: StoredModel = { reference: `registry/flops/models/${PROJECT_ID}@sha256:${'c'.repeat(64)}`, digest: `sha256:${'c'.repeat(64)}`, sizeBytes: 0 };
  script: (task: LearnerTask, learner: SimLearner) => Action = () => 'answer';
  /** Extra things a test does when a task appears (after the learners reacted). */
  onTask?: (task: LearnerTask) => void;
  private readonly waiters: { match: (t: LearnerTask) => boolean; resolve: (t: LearnerTask) => void }[] = [];
  run!: TrainingRun;

  constructor(readonly learners: SimLearner[]) {}

  joinAll(): void {
    for (const learner of this.learners) this.run.learnerJoined(learner.id);
  }

  /** Resolves with the first task (already published or future) that matches. */
  task(kind: LearnerTask['kind'], round?: number): Promise<LearnerTask> {
    const match = (t: LearnerTask) => t.kind === kind && (round === undefined || t.round === round);
    const found = this.tasks.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }

  kinds(): string[] {
    return this.tasks.map((t) => (t.kind === 'init' || t.kind === 'stop' ? t.kind : `${t.kind}${t.round}`));
  }

  async publishTask(task: LearnerTask): Promise<void> {
    this.tasks.push(task);
    setImmediate(() => {
      for (const learnerId of task.learnerIds) {
        const learner = this.learners.find((l) => l.id === learnerId);
        if (learner) this.play(task, learner);
      }
      this.onTask?.(task);
      for (const waiter of this.waiters.filter((w) => w.match(task))) waiter.resolve(task);
    });
  }

  private play(task: LearnerTask, learner: SimLearner): void {
    if (task.kind === 'stop') return;
    const action = this.script(task, learner);
    if (action === 'silent') return;
    if (action === 'fail') return this.run.learnerFailed(learner.id, task.taskId, `user code threw in ${task.kind}`);
    try {
      switch (task.kind) {
        case 'init':
          this.run.receiveUpload(task.taskId, learner.id, encodeTensors(fromFlat(INITIAL)));
          break;
        case 'fit': {
          const global = this.download(task, learner);
          const update = global.map((v, j) => v + delta(learner.index, task.round, j));
          const meta = { numSamples: learner.fitSamples, metrics: fitMetrics(learner.index, task.round) };
          this.run.receiveUpload(task.taskId, learner.id, encodeTensors(fromFlat(update), meta));
          break;
        }
        case 'evaluate':
          this.download(task, learner);
          this.run.learnerEvaluated(task.taskId, learner.id, learner.evalSamples, evalMetrics(learner.index, task.round));
          break;
      }
    } catch (error) {
      this.rejections.push(error);
    }
  }

  private download(task: LearnerTask, learner: SimLearner): number[] {
    const version = task.modelUrl!.split('/').pop()!;
    const values = flat(decodeTensors(this.run.modelBytes(version)).tensors);
    this.downloads.push({ learnerId: learner.id, version, values });
    return values;
  }

  async trainingStarted(learners: string[]): Promise<void> {
    this.started.push(learners);
  }

  async roundCompleted(round: RoundCompleted): Promise<void> {
    this.rounds.push(round);
  }

  async trainingCompleted(result: TrainingCompleted): Promise<void> {
    this.completed.push(result);
  }

  async trainingFailed(reason: string): Promise<void> {
    this.failures.push(reason);
  }

  async storeModel(model: Buffer, info: StoredModelInfo): Promise<StoredModel> {
    this.stored.push({ model, info });
    return { ...this.storedModel, sizeBytes: model.length };
  }
}

function setup(learners: SimLearner[], settings: TrainingRunSettings) {
  const world = new SimulatedWorld(learners);
  const run = new TrainingRun(settings, world);
  world.run = run;
  return { world, run };
}

/** The UpdateRejectedError `fn` throws (fails the test if it throws nothing or something else). */
function rejection(fn: () => unknown): UpdateRejectedError {
  try {
    fn();
  } catch (error) {
    if (error instanceof UpdateRejectedError) return error;
    throw error;
  }
  throw new Error('expected an UpdateRejectedError, nothing was thrown');
}

function anUpdate(values: number[] = INITIAL, meta: Record<string, unknown> = { numSamples: 10, metrics: { loss: 1 } }): Buffer {
  return encodeTensors(fromFlat(values), meta);
}

// Generous: other test runs share this 2-core machine (the first engine also compiles its WebAssembly kernel).
jest.setTimeout(60_000);

beforeAll(() => Logger.overrideLogger(false));

// ---- tests ---------------------------------------------------------------------------------------

describe('TrainingRun: a whole run', () => {
  const fleet = aFleet(3);

  it('trains three learners for three rounds: FedAvg model, weighted metrics, stored and reported', async () => {
    const { world, run } = setup(fleet, aSettings({ rounds: 3 }));
    world.joinAll();

    await expect(run.run(DATA_URL)).resolves.toBe(true);

    expect(world.rejections).toEqual([]);
    expect(world.failures).toEqual([]);
    expect(world.kinds()).toEqual(['init', 'fit1', 'evaluate1', 'fit2', 'evaluate2', 'fit3', 'evaluate3', 'stop']);
    expect(world.started).toEqual([['learner-0', 'learner-1', 'learner-2']]);

    // the stored final model is FedAvg of every round, computed independently
    const all = [1, 2, 3].map((round) => ({ round, learners: fleet }));
    expect(world.stored).toHaveLength(1);
    const final = decodeTensors(world.stored[0].model);
    expectModelCloseTo(final.tensors, expectedModel(all));
    expect(final.meta).toEqual({ projectId: PROJECT_ID, round: 3 });
    expect(world.stored[0].model.equals(run.modelBytes('r3'))).toBe(true);

    // each round: sample-weighted train metrics (by fit samples) and eval metrics (by eval samples)
    expect(world.rounds.map((r) => [r.round, r.learners, r.samples])).toEqual([
      [1, 3, 1000],
      [2, 3, 1000],
      [3, 3, 1000],
    ]);
    world.rounds.forEach((r) => {
      expectCloseTo(r.trainMetrics, expectedMetrics(fleet, (i) => fitMetrics(i, r.round), (l) => l.fitSamples));
      expectCloseTo(r.evalMetrics, expectedMetrics(fleet, (i) => evalMetrics(i, r.round), (l) => l.evalSamples));
      expect(Number.isInteger(r.durationMs) && r.durationMs >= 0).toBe(true);
      // and each learner's own evaluation of the new model, by learner id
      expect(r.learnerMetrics).toEqual(Object.fromEntries(fleet.map((l) => [l.id, evalMetrics(l.index, r.round)])));
    });

    // completion reports the stored model and the last round's evaluation
    const finalMetrics = world.rounds[2].evalMetrics;
    const { history, ...info } = world.stored[0].info;
    expect(info).toEqual({ rounds: 3, finalMetrics });
    // the stored model carries every round as reported, so no lost message can lose a round
    expect(history.map(({ at: _at, ...round }) => round)).toEqual(world.rounds);
    expect(history.every((r) => !Number.isNaN(Date.parse(r.at)))).toBe(true);
    expect(world.completed).toEqual([{ rounds: 3, finalMetrics, model: { ...world.storedModel, sizeBytes: world.stored[0].model.length } }]);

    // and the learners are told to stop
    const stop = world.tasks[world.tasks.length - 1];
    expect(stop.kind).toBe('stop');
    expect([...stop.learnerIds].sort()).toEqual(['learner-0', 'learner-1', 'learner-2']);
  });

  it('sends tasks with the right learners, URLs and hyperparameters', async () => {
    const { world, run } = setup(fleet, aSettings({ rounds: 2 }));
    world.joinAll();

    await run.run(DATA_URL);

    const [init, fit1, eval1, fit2, eval2] = world.tasks;
    expect(new Set(world.tasks.map((t) => t.taskId)).size).toBe(world.tasks.length);
    // one learner provides the initial weights, so that everyone starts from the same model
    expect(init).toEqual({
      taskId: init.taskId,
      kind: 'init',
      round: 0,
      learnerIds: ['learner-0'],
      uploadUrl: `${DATA_URL}/v1/tasks/${init.taskId}/uploads`,
      hyperparameters: { epochs: 2, learningRate: 0.01 },
    });
    for (const [task, round] of [
      [fit1, 1],
      [fit2, 2],
    ] as const) {
      expect(task).toMatchObject({ kind: 'fit', round, modelUrl: `${DATA_URL}/v1/models/r${round - 1}`, uploadUrl: `${DATA_URL}/v1/tasks/${task.taskId}/uploads` });
      expect([...task.learnerIds].sort()).toEqual(['learner-0', 'learner-1', 'learner-2']);
    }
    for (const [task, round] of [
      [eval1, 1],
      [eval2, 2],
    ] as const) {
      expect(task).toMatchObject({ kind: 'evaluate', round, modelUrl: `${DATA_URL}/v1/models/r${round}` });
      expect(task.uploadUrl).toBeUndefined();
    }
    // every learner trained round 1 from exactly the initial weights
    const round1 = world.downloads.filter((d) => d.version === 'r0');
    expect(round1.map((d) => d.learnerId).sort()).toEqual(['learner-0', 'learner-1', 'learner-2']);
    for (const d of round1) d.values.forEach((v, j) => expect(v).toBeCloseTo(INITIAL[j], 6));
  });

  it('goes on with the learners that joined when enough but not all joined in time', async () => {
    const { world, run } = setup(fleet, aSettings({ rounds: 2, learners: 3, minLearnersPerRound: 2 }, 100));
    run.learnerJoined('learner-2');
    run.learnerJoined('learner-0');

    await expect(run.run(DATA_URL)).resolves.toBe(true);

    expect(world.started).toEqual([['learner-0', 'learner-2']]);
    const joined = [fleet[0], fleet[2]];
    expectModelCloseTo(decodeTensors(world.stored[0].model).tensors, expectedModel([1, 2].map((round) => ({ round, learners: joined }))));
    expect(world.rounds.map((r) => r.samples)).toEqual([700, 700]);
  });

  it('ignores stale, duplicate and unsolicited evaluations', async () => {
    const { world, run } = setup(fleet, aSettings({ rounds: 1 }));
    let oldFit = '';
    world.onTask = (task) => {
      if (task.kind === 'fit') oldFit = task.taskId;
      if (task.kind !== 'evaluate') return;
      run.learnerEvaluated(task.taskId, 'learner-0', 1_000_000, { loss: 999, accuracy: 0 }); // duplicate: learner-0 already answered
      run.learnerEvaluated(oldFit, 'learner-1', 1_000_000, { loss: 999, accuracy: 0 }); // a task that takes no evaluation
      run.learnerEvaluated('no-such-task', 'learner-2', 1_000_000, { loss: 999, accuracy: 0 });
      run.learnerEvaluated(task.taskId, 'stranger', 1_000_000, { loss: 999, accuracy: 0 });
    };
    world.joinAll();

    await run.run(DATA_URL);

    expectCloseTo(world.rounds[0].evalMetrics, expectedMetrics(fleet, (i) => evalMetrics(i, 1), (l) => l.evalSamples));
  });

  it('keeps only finite numeric train metrics with valid names, each weighted over the learners that reported it', async () => {
    const { world, run } = setup(aFleet(2), aSettings({ rounds: 1, learners: 2 }));
    world.script = (task, learner) => {
      if (task.kind !== 'fit' || learner.index !== 0) return 'answer';
      // a dotted name would make round/completed invalid on the wire and fail the whole training
      const meta = { numSamples: 100, metrics: { loss: 0.5, accuracy: null, note: 'text', 'val.acc': 0.9, '': 1 } };
      run.receiveUpload(task.taskId, learner.id, encodeTensors(fromFlat(INITIAL), meta));
      return 'silent';
    };
    world.joinAll();

    await expect(run.run(DATA_URL)).resolves.toBe(true);

    expect(world.failures).toEqual([]);
    expect(world.rounds[0].trainMetrics).toEqual({
      loss: (100 * 0.5 + 300 * fitMetrics(1, 1).loss) / 400,
      accuracy: fitMetrics(1, 1).accuracy, // only learner-1 reported a number
    });
  });
});

describe('TrainingRun: learners that do not show up or drop out', () => {
  it('fails clearly when fewer than minLearnersPerRound joined in time', async () => {
    const { world, run } = setup(aFleet(3), aSettings({ learners: 3, minLearnersPerRound: 2 }, 50));
    run.learnerJoined('learner-1');
    run.learnerJoined('learner-1'); // joining twice counts once

    await expect(run.run(DATA_URL)).resolves.toBe(true);

    expect(world.failures).toEqual(['only 1 of 2 required learners joined']);
    expect(world.started).toEqual([]);
    expect(world.kinds()).toEqual(['stop']);
    expect(world.tasks[0].learnerIds).toEqual(['learner-1']);
  });

  it('drops a learner that never answers a fit task after the round timeout and goes on without it', async () => {
    const fleet = aFleet(3);
    const { world, run } = setup(fleet, aSettings({ rounds: 2, roundTimeoutSeconds: 1 }));
    let silentTask = '';
    world.script = (task, learner) => {
      if (task.kind === 'fit' && learner.id === 'learner-2') {
        silentTask = task.taskId;
        return 'silent';
      }
      return 'answer';
    };
    world.onTask = (task) => {
      if (task.kind === 'evaluate') run.learnerJoined('learner-2'); // re-joining does not bring a dropped learner back
    };
    world.joinAll();
    const began = Date.now();

    await expect(run.run(DATA_URL)).resolves.toBe(true);

    expect(Date.now() - began).toBeGreaterThanOrEqual(950);
    expect(world.kinds()).toEqual(['init', 'fit1', 'evaluate1', 'fit2', 'evaluate2', 'stop']);
    const [, fit1, eval1, fit2, eval2, stop] = world.tasks;
    expect([...fit1.learnerIds].sort()).toEqual(['learner-0', 'learner-1', 'learner-2']);
    for (const task of [eval1, fit2, eval2]) expect([...task.learnerIds].sort()).toEqual(['learner-0', 'learner-1']);
    expect([...stop.learnerIds].sort()).toEqual(['learner-0', 'learner-1', 'learner-2']);

    const answered = [fleet[0], fleet[1]];
    expect(world.rounds.map((r) => [r.round, r.learners, r.samples])).toEqual([
      [1, 2, 400],
      [2, 2, 400],
    ]);
    expectModelCloseTo(decodeTensors(world.stored[0].model).tensors, expectedModel([1, 2].map((round) => ({ round, learners: answered }))));
    // its late answer to the closed task is refused
    expect(rejection(() => run.receiveUpload(silentTask, 'learner-2', anUpdate())).status).toBe(410);
  });

  it('fails the round when too few updates arrived before the timeout', async () => {
    const { world, run } = setup(aFleet(2), aSettings({ learners: 2, minLearnersPerRound: 2, roundTimeoutSeconds: 1 }));
    world.script = (task, learner) => (task.kind === 'fit' && learner.id === 'learner-1' ? 'silent' : 'answer');
    world.joinAll();

    await expect(run.run(DATA_URL)).resolves.toBe(true);

    expect(world.failures).toEqual(['round 1: 1 update(s) accepted (0 refused), 2 required']);
    expect(world.stored).toEqual([]);
    expect(world.completed).toEqual([]);
    expect(world.kinds()).toEqual(['init', 'fit1', 'stop']);
  });

  it('stops waiting for a learner that reports failure during a fit round', async () => {
    const fleet = aFleet(3);
    const { world, run } = setup(fleet, aSettings({ rounds: 2, roundTimeoutSeconds: 30 }));
    world.script = (task, learner) => (task.kind === 'fit' && task.round === 1 && learner.id === 'learner-1' ? 'fail' : 'answer');
    world.joinAll();
    const began = Date.now();

    await expect(run.run(DATA_URL)).resolves.toBe(true);

    expect(Date.now() - began).toBeLessThan(3_000); // did not sit out the 30 s round timeout
    expect(world.rounds.map((r) => r.learners)).toEqual([2, 2]);
    expect(world.kinds()).toEqual(['init', 'fit1', 'evaluate1', 'fit2', 'evaluate2', 'stop']);
    const afterFailure = world.tasks.slice(2, -1); // evaluate1 … evaluate2
    for (const task of afterFailure) expect([...task.learnerIds].sort()).toEqual(['learner-0', 'learner-2']);
    const rest = [fleet[0], fleet[2]];
    expectModelCloseTo(decodeTensors(world.stored[0].model).tensors, expectedModel([1, 2].map((round) => ({ round, learners: rest }))));
  });

  it('stops waiting for a learner that reports failure during evaluation; metrics come from the others', async () => {
    const fleet = aFleet(3);
    const { world, run } = setup(fleet, aSettings({ rounds: 1, roundTimeoutSeconds: 30 }));
    world.script = (task, learner) => (task.kind === 'evaluate' && learner.id === 'learner-0' ? 'fail' : 'answer');
    world.joinAll();

    await expect(run.run(DATA_URL)).resolves.toBe(true);

    expectCloseTo(world.rounds[0].evalMetrics, expectedMetrics([fleet[1], fleet[2]], (i) => evalMetrics(i, 1), (l) => l.evalSamples));
    expectCloseTo(world.rounds[0].trainMetrics, expectedMetrics(fleet, (i) => fitMetrics(i, 1), (l) => l.fitSamples));
    // the failed evaluator has no evaluation of its own
    expect(Object.keys(world.rounds[0].learnerMetrics ?? {}).sort()).toEqual(['learner-1', 'learner-2']);
  });

  it('fails when no learner evaluated the model', async () => {
    const { world, run } = setup(aFleet(2), aSettings({ learners: 2, minLearnersPerRound: 1, roundTimeoutSeconds: 30 }));
    world.script = (task) => (task.kind === 'evaluate' ? 'fail' : 'answer');
    world.joinAll();

    await expect(run.run(DATA_URL)).resolves.toBe(true);

    expect(world.failures).toEqual(['round 1: no learner evaluated the model; learner-0: user code threw in evaluate; learner-1: user code threw in evaluate']);
  });

  it('asks the next learner for initial weights when the first sends none in time', async () => {
    const { world, run } = setup(aFleet(2), aSettings({ rounds: 1, learners: 2, roundTimeoutSeconds: 1 }));
    world.script = (task, learner) => (task.kind === 'init' && learner.id === 'learner-0' ? 'silent' : 'answer');
    world.joinAll();

    await expect(run.run(DATA_URL)).resolves.toBe(true);

    const inits = world.tasks.filter((t) => t.kind === 'init');
    expect(inits.map((t) => t.learnerIds)).toEqual([['learner-0'], ['learner-1']]);
    expect(world.completed).toHaveLength(1);
  });

  it('fails when no learner sends initial weights', async () => {
    const { world, run } = setup(aFleet(1), aSettings({ learners: 1, minLearnersPerRound: 1, roundTimeoutSeconds: 1 }));
    world.script = () => 'silent';
    world.joinAll();

    await expect(run.run(DATA_URL)).resolves.toBe(true);

    expect(world.failures).toEqual(['no learner sent initial weights']);
  });

  it('ignores a failure of a task that is no longer open: a stale report does not drop a healthy learner', async () => {
    const fleet = aFleet(3);
    const { world, run } = setup(fleet, aSettings({ rounds: 2 }));
    world.onTask = (task) => {
      const init = world.tasks[0];
      if (task.kind === 'fit' && task.round === 1) run.learnerFailed('learner-0', init.taskId, 'upload of the initial weights timed out');
      if (task.kind === 'evaluate' && task.round === 1) run.learnerFailed('learner-1', world.tasks[1].taskId, 'late failure of fit 1');
    };
    world.joinAll();

    await expect(run.run(DATA_URL)).resolves.toBe(true);

    expect(world.rounds.map((r) => r.learners)).toEqual([3, 3]);
    for (const task of world.tasks.slice(1, -1)) expect([...task.learnerIds].sort()).toEqual(['learner-0', 'learner-1', 'learner-2']);
    expectModelCloseTo(decodeTensors(world.stored[0].model).tensors, expectedModel([1, 2].map((round) => ({ round, learners: fleet }))));
  });

  it('drops a learner whose failure names no task (last will, idle exit) without waiting for the round timeout', async () => {
    const fleet = aFleet(3);
    const { world, run } = setup(fleet, aSettings({ rounds: 2, roundTimeoutSeconds: 30 }));
    world.script = (task, learner) => (task.kind === 'fit' && learner.id === 'learner-2' ? 'silent' : 'answer');
    world.onTask = (task) => {
      if (task.kind === 'fit' && task.round === 1) run.learnerFailed('learner-2', undefined, 'lost the connection to the broker');
    };
    world.joinAll();
    const began = Date.now();

    await expect(run.run(DATA_URL)).resolves.toBe(true);

    expect(Date.now() - began).toBeLessThan(3_000);
    expect(world.rounds.map((r) => r.learners)).toEqual([2, 2]);
    for (const task of world.tasks.slice(2, -1)) expect([...task.learnerIds].sort()).toEqual(['learner-0', 'learner-1']);
  });

  it('resolves false when a failure could not be reported, so the process exits non-zero', async () => {
    const { world, run } = setup(aFleet(3), aSettings({ learners: 3, minLearnersPerRound: 2 }, 50));
    world.trainingFailed = () => Promise.reject(new Error('publish to flops/v1/p-train/training/failed timed out'));

    await expect(run.run(DATA_URL)).resolves.toBe(false);

    expect(world.kinds()).toEqual(['stop']);
  });
});

describe('TrainingRun: uploads and downloads', () => {
  /** A run of three learners with round 1's fit task open and nobody answering it yet. */
  async function atOpenFit() {
    const fleet = aFleet(3);
    const { world, run } = setup(fleet, aSettings({ rounds: 1, roundTimeoutSeconds: 30 }));
    world.script = (task) => (task.kind === 'fit' ? 'silent' : 'answer');
    world.joinAll();
    const done = run.run(DATA_URL);
    const fit = await world.task('fit', 1);
    return { world, run, fleet, fit, done };
  }

  it('refuses uploads with the status the data plane needs', async () => {
    const { run, fit, done, world } = await atOpenFit();
    const id = fit.taskId;
    const valid = anUpdate();

    expect(rejection(() => run.receiveUpload('some-other-task', 'learner-0', valid))).toMatchObject({ status: 410 });
    expect(rejection(() => run.receiveUpload(id, 'stranger', valid))).toMatchObject({ status: 409, message: expect.stringContaining('not selected') });
    expect(rejection(() => run.receiveUpload(id, 'learner-0', Buffer.from('definitely not FLT1')))).toMatchObject({ status: 400 });
    expect(rejection(() => run.receiveUpload(id, 'learner-0', Buffer.alloc(0)))).toMatchObject({ status: 400 });

    const renamed = encodeTensors(
      [
        { name: 'dense/weights', shape: [2, 3], values: new Float32Array(6) },
        { name: 'dense/bias', shape: [3], values: new Float32Array(3) },
      ],
      { numSamples: 10 },
    );
    // Each failed check is a counted refusal (422) and the learner's answer for the round: one case per learner here,
    // the checks themselves are the engine's (libs/fl-engine update-guard tests).
    expect(rejection(() => run.receiveUpload(id, 'learner-0', anUpdate(INITIAL, { learnerId: 'learner-1', numSamples: 10 })))).toMatchObject({
      status: 400,
      message: expect.stringContaining('from learner-1'),
    });
    expect(rejection(() => run.receiveUpload(id, 'learner-0', renamed))).toMatchObject({ status: 422, code: 'update-refused', message: expect.stringContaining('layout') });
    expect(rejection(() => run.receiveUpload(id, 'learner-0', valid))).toMatchObject({ status: 409, message: expect.stringContaining('already answered') });
    const withNaN = [...INITIAL];
    withNaN[4] = Number.NaN;
    expect(rejection(() => run.receiveUpload(id, 'learner-1', anUpdate(withNaN)))).toMatchObject({ status: 422, message: expect.stringContaining('non-finite') });
    expect(rejection(() => run.receiveUpload(id, 'learner-2', anUpdate(INITIAL, { numSamples: 2 ** 40 })))).toMatchObject({
      status: 422,
      message: expect.stringContaining('numSamples'),
    });
    // the same refusals before the body is read
    expect(rejection(() => run.checkUpload('some-other-task', 'learner-0'))).toMatchObject({ status: 410 });
    expect(rejection(() => run.checkUpload(id, 'stranger'))).toMatchObject({ status: 409, message: expect.stringContaining('not selected') });
    expect(rejection(() => run.checkUpload(id, 'learner-0'))).toMatchObject({ status: 409, message: expect.stringContaining('already answered') });

    // every learner answered, none usefully: the round cannot aggregate
    await expect(done).resolves.toBe(true);
    expect(world.failures).toEqual(['round 1: 0 update(s) accepted (3 refused), 2 required']);
  });

  it.each([
    ['wrong shapes', () => encodeTensors([{ name: 'dense/kernel', shape: [3, 2], values: new Float32Array(6) }, { name: 'dense/bias', shape: [3], values: new Float32Array(3) }], { numSamples: 10 }), 'layout'],
    ['a missing tensor', () => encodeTensors([{ name: 'dense/kernel', shape: [2, 3], values: new Float32Array(6) }], { numSamples: 10 }), 'layout'],
    ['Infinity', () => anUpdate(INITIAL.map((v, j) => (j === 7 ? Number.POSITIVE_INFINITY : v))), 'non-finite'],
    ['no numSamples', () => anUpdate(INITIAL, {}), 'num-samples'],
    ['numSamples 0', () => anUpdate(INITIAL, { numSamples: 0 }), 'num-samples'],
    ['numSamples 2.5', () => anUpdate(INITIAL, { numSamples: 2.5 }), 'num-samples'],
    ['numSamples as text', () => anUpdate(INITIAL, { numSamples: '100' }), 'num-samples'],
  ])('refuses an update with %s, counts it, and goes on without it', async (_, bytes, reason) => {
    const fleet = aFleet(3);
    const { world, run } = setup(fleet, aSettings({ rounds: 2, roundTimeoutSeconds: 30 }));
    world.script = (task, learner) => (task.kind === 'fit' && task.round === 1 && learner.index === 0 ? 'silent' : 'answer');
    world.onTask = (task) => {
      if (task.kind === 'fit' && task.round === 1) {
        world.rejections.push(rejection(() => run.receiveUpload(task.taskId, 'learner-0', bytes())));
      }
    };
    world.joinAll();
    await expect(run.run(DATA_URL)).resolves.toBe(true);

    expect(world.rejections).toEqual([expect.objectContaining({ status: 422, code: 'update-refused' })]);
    // round 1 is FedAvg of the two others; learner-0 stays in and is aggregated in round 2
    expectModelCloseTo(fromFlat(world.downloads.find((d) => d.version === 'r1')!.values), expectedModel([{ round: 1, learners: fleet.slice(1) }]));
    expect(world.rounds.map((r) => ({ learners: r.learners, refused: r.refused }))).toEqual([
      { learners: 2, refused: 1 },
      { learners: 3, refused: 0 },
    ]);
    const counted = { learnerId: 'learner-0', total: 1, byReason: { [reason]: 1 }, lastReason: reason, lastRound: 1, lastMessage: expect.any(String) };
    expect(world.rounds[0].refusals).toEqual([counted]);
    expect(world.rounds[1].refusals).toEqual([counted]); // refusals are counted over the whole training
    expect(world.completed).toHaveLength(1);
  });

  it('knows before reading an upload how large it can be: a fit update is the model plus a margin, initial weights unknown', async () => {
    const { run, fit, done } = await atOpenFit();
    const limit = run.checkUpload(fit.taskId, 'learner-1');
    expect(limit).toBe(run.modelBytes('r0').length + 64 * 1024);
    const metrics = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`metric_${i}_${'x'.repeat(50)}`, i / 7]));
    expect(anUpdate(INITIAL, { learnerId: 'learner-1', round: 1, numSamples: 300, metrics }).length).toBeLessThanOrEqual(limit!);
    run.stop();
    await done;

    const { world, run: atInit } = setup(aFleet(1), aSettings({ learners: 1, minLearnersPerRound: 1 }));
    world.script = () => 'silent';
    world.joinAll();
    const running = atInit.run(DATA_URL);
    const init = await world.task('init');
    expect(atInit.checkUpload(init.taskId, 'learner-0')).toBeUndefined();
    atInit.stop();
    await running;
  });

  it('an evaluate task takes no uploads (409)', async () => {
    const fleet = aFleet(2);
    const { world, run } = setup(fleet, aSettings({ rounds: 1, learners: 2, roundTimeoutSeconds: 30 }));
    world.script = (task) => (task.kind === 'evaluate' ? 'silent' : 'answer');
    world.joinAll();
    const done = run.run(DATA_URL);

    const evaluate = await world.task('evaluate', 1);
    expect(rejection(() => run.receiveUpload(evaluate.taskId, 'learner-0', anUpdate()))).toMatchObject({ status: 409 });
    expect(rejection(() => run.checkUpload(evaluate.taskId, 'learner-0'))).toMatchObject({ status: 409, message: expect.stringContaining('no uploads') });

    run.stop();
    await expect(done).resolves.toBe(true);
  });

  it('serves only the current model version; others are gone (410)', async () => {
    const { run: fresh } = setup(aFleet(1), aSettings());
    expect(rejection(() => fresh.modelBytes('r0'))).toMatchObject({ status: 410, message: expect.stringContaining('none yet') });

    const { world, run, fleet, fit, done } = await atOpenFit();
    const r0 = decodeTensors(run.modelBytes('r0'));
    r0.tensors.forEach((t, i) => expect(Array.from(t.values)).toEqual(Array.from(fromFlat(INITIAL)[i].values)));
    expect(r0.meta).toEqual({ projectId: PROJECT_ID, round: 0 });
    expect(rejection(() => run.modelBytes('r1')).status).toBe(410);

    for (const l of fleet) run.receiveUpload(fit.taskId, l.id, anUpdate(INITIAL, { numSamples: l.fitSamples }));
    await world.task('evaluate', 1);

    expect(rejection(() => run.modelBytes('r0')).status).toBe(410);
    expect(rejection(() => run.modelBytes('../r1')).status).toBe(410);
    expect(decodeTensors(run.modelBytes('r1')).meta).toEqual({ projectId: PROJECT_ID, round: 1 });
    await done;
  });
});

describe('TrainingRun: stop', () => {
  it('aborts a run waiting for learners: resolves true (the stopper knows) without reporting a failure', async () => {
    const { world, run } = setup(aFleet(3), aSettings({}, 60_000));
    run.learnerJoined('learner-0');
    const began = Date.now();

    const done = run.run(DATA_URL);
    setTimeout(() => run.stop(), 20);

    await expect(done).resolves.toBe(true);
    expect(Date.now() - began).toBeLessThan(2_000);
    expect(world.failures).toEqual([]);
    expect(world.started).toEqual([]);
    expect(world.kinds()).toEqual(['stop']);
  });

  it('aborts a run in the middle of a round: nothing stored, nothing reported', async () => {
    const { world, run } = setup(aFleet(2), aSettings({ learners: 2, roundTimeoutSeconds: 30 }));
    world.script = (task) => (task.kind === 'fit' ? 'silent' : 'answer');
    world.joinAll();
    const done = run.run(DATA_URL);
    await world.task('fit', 1);

    run.stop();

    await expect(done).resolves.toBe(true);
    expect(world.failures).toEqual([]);
    expect(world.stored).toEqual([]);
    expect(world.completed).toEqual([]);
    expect(world.kinds()).toEqual(['init', 'fit1', 'stop']);
  });
});

describe('TrainingRun: FLT1 update metadata (the contract’s UpdateMeta)', () => {
  it('refuses an update that says it is from another learner, for another round, or carries unknown keys', async () => {
    const { world, run } = setup(aFleet(2), aSettings({ rounds: 1, learners: 2, roundTimeoutSeconds: 30 }));
    world.script = (task) => (task.kind === 'fit' ? 'silent' : 'answer');
    world.joinAll();
    const done = run.run(DATA_URL);
    const fit = await world.task('fit', 1);
    const refusals = [
      { numSamples: 10, learnerId: 'learner-1' },
      { numSamples: 10, round: 7 },
      { numSamples: 10, weight: 3 },
      { numSamples: 10, learnerId: 'not an id' },
    ].map((meta) => rejection(() => run.receiveUpload(fit.taskId, 'learner-0', anUpdate(INITIAL, meta))));
    for (const refused of refusals) expect(refused).toMatchObject({ status: 400, code: 'invalid-update' });
    expect(refusals.map((r) => r.message)).toEqual([
      'the update is from learner-1, not learner-0',
      'the update is for round 7, not 1',
      expect.stringContaining('meta.weight'),
      expect.stringContaining('meta.learnerId'),
    ]);
    run.receiveUpload(fit.taskId, 'learner-0', anUpdate(INITIAL, { learnerId: 'learner-0', round: 1, numSamples: 10, metrics: { loss: 1 } }));
    run.stop();
    await expect(done).resolves.toBe(true);
  });
});

describe('TrainingRun: the project’s strategy (the FL engine)', () => {
  it('Krum with a poisoned learner: the poisoned update is not the one chosen', async () => {
    const fleet = [...aFleet(3), { index: 3, id: 'learner-3', fitSamples: 100, evalSamples: 10 }];
    const settings = aSettings({ rounds: 1, learners: 4, minLearnersPerRound: 4, strategy: 'krum', strategyParams: { numMalicious: 1 } });
    const { world, run } = setup(fleet, settings);
    // learner-3 sends a sign-flipped, ×100-scaled change; the honest ones send small ones
    world.script = (task, learner) => (task.kind === 'fit' && learner.index === 3 ? 'silent' : 'answer');
    world.onTask = (task) => {
      if (task.kind !== 'fit') return;
      const poisoned = INITIAL.map((v, j) => v - 100 * delta(0, task.round, j));
      run.receiveUpload(task.taskId, 'learner-3', anUpdate(poisoned, { numSamples: 100 }));
    };
    world.joinAll();
    await expect(run.run(DATA_URL)).resolves.toBe(true);
    const model = flat(decodeTensors(world.stored[0].model).tensors);
    const honest = fleet.slice(0, 3).map((l) => INITIAL.map((v, j) => v + delta(l.index, 1, j)));
    // Krum picks one honest update as is
    expect(honest.some((u) => u.every((v, j) => Math.abs(v - model[j]) < 1e-6))).toBe(true);
  });

  it('FedProx: fit tasks carry mu; SCAFFOLD: a per-learner correction and the step-size sum', async () => {
    const fleet = aFleet(2);
    const prox = setup(fleet, aSettings({ rounds: 1, learners: 2, strategy: 'fedprox', strategyParams: { proximalMu: 0.1 } }));
    prox.world.joinAll();
    await expect(prox.run.run(DATA_URL)).resolves.toBe(true);
    expect((await prox.world.task('fit', 1)).strategy).toEqual({ proximalMu: 0.1 });

    const { world, run } = setup(fleet, aSettings({ rounds: 2, learners: 2, minLearnersPerRound: 1, strategy: 'scaffold' }));
    world.script = (task) => (task.kind === 'fit' ? 'silent' : 'answer');
    const corrections: number[][] = [];
    world.onTask = (task) => {
      if (task.kind !== 'fit') return;
      expect(task.strategy?.scaffoldCorrectionUrl).toBe(`${DATA_URL}/v1/tasks/${task.taskId}/correction`);
      corrections.push(flat(decodeTensors(run.correctionBytes(task.taskId, 'learner-0')).tensors));
      const global = flat(decodeTensors(run.modelBytes(task.modelUrl!.split('/').pop()!)).tensors);
      const update = (l: SimLearner) => anUpdate(global.map((v, j) => v + delta(l.index, task.round, j)), { numSamples: l.fitSamples, scaffoldStepSizeSum: 0.5 });
      expect(rejection(() => run.receiveUpload(task.taskId, 'learner-0', anUpdate(global, { numSamples: 10 })))).toMatchObject({ status: 422, message: expect.stringContaining('scaffoldStepSizeSum') });
      run.receiveUpload(task.taskId, 'learner-1', update(fleet[1]));
    };
    world.joinAll();
    await expect(run.run(DATA_URL)).resolves.toBe(true);
    expect(corrections[0].every((v) => v === 0)).toBe(true); // c = c_i = 0 before any round
    expect(corrections[1].some((v) => v !== 0)).toBe(true); // c moved with learner-1's update
    expect(world.failures).toEqual([]);
    expect(() => run.correctionBytes('no-such-task', 'learner-0')).toThrow(UpdateRejectedError);
  });

  it('central DP: each round reports the privacy spent, growing round by round', async () => {
    const fleet = aFleet(3);
    const { world, run } = setup(
      fleet,
      aSettings({ rounds: 3, learners: 3, minLearnersPerRound: 3, privacy: { centralDp: { noiseMultiplier: 1, clipping: 'fixed', clipNorm: 1, delta: 1e-5 } } as never }),
    );
    world.joinAll();
    await expect(run.run(DATA_URL)).resolves.toBe(true);
    const spent = world.rounds.map((r) => r.privacy!);
    expect(spent.map((p) => p.clipNorm)).toEqual([1, 1, 1]);
    expect(spent.map((p) => p.noiseStddev)).toEqual([1, 1, 1]);
    expect(spent[0].epsilon).toBeGreaterThan(0);
    expect(spent[1].epsilon!).toBeGreaterThan(spent[0].epsilon!);
    expect(spent[2].epsilon!).toBeGreaterThan(spent[1].epsilon!);
  });

  it('asks a fraction of the learners to fit (at least minLearnersPerRound) and to evaluate (at least one)', async () => {
    const fleet = aFleet(3);
    const { world, run } = setup(fleet, aSettings({ rounds: 2, learners: 3, minLearnersPerRound: 2, fractionFit: 0.5, fractionEvaluate: 0.4 }));
    world.joinAll();
    await expect(run.run(DATA_URL)).resolves.toBe(true);
    const fits = world.tasks.filter((t) => t.kind === 'fit');
    const evaluations = world.tasks.filter((t) => t.kind === 'evaluate');
    expect(fits.map((t) => t.learnerIds.length)).toEqual([2, 2]);
    expect(evaluations.map((t) => t.learnerIds.length)).toEqual([1, 1]);
    expect(world.rounds.map((r) => [r.learners, r.evaluators])).toEqual([
      [2, 1],
      [2, 1],
    ]);
  });
});
