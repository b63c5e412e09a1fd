import { Logger } from '@nestjs/common';
import { LearnerTask, ModelManager } from '@flops/contracts';
import { NamedTensor, decodeTensors, encodeTensors } from '@flops/tensor-codec';
import { DataPlaneClient, StaleTaskError, UpdateRefusedError } from './data-plane.client';
import { LearnerPorts, TaskRunner } from './task-runner';

const LEARNER = 'learner-0';
const WEIGHTS: NamedTensor[] = [{ name: 'dense/kernel', shape: [2], values: Float32Array.from([1, 2]) }];
const MODEL = encodeTensors(WEIGHTS, { round: 0 });

let nextTask = 0;
function aTask(kind: LearnerTask['kind'], round = 1): LearnerTask {
  const taskId = `task-${++nextTask}`;
  return {
    taskId,
    kind,
    round,
    learnerIds: [LEARNER],
    // as the aggregator names them: a fit starts from the previous round's model, evaluate takes this round's
    ...(kind === 'fit' ? { modelUrl: `http://aggregator/v1/models/r${round - 1}` } : {}),
    ...(kind === 'evaluate' ? { modelUrl: `http://aggregator/v1/models/r${round}` } : {}),
    ...(kind === 'fit' || kind === 'init' ? { uploadUrl: `http://aggregator/v1/tasks/${taskId}/uploads` } : {}),
  };
}

/** Resolves after `ms`; the test's clock. */
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, what: string): Promise<void> {
  for (const started = Date.now(); !condition(); await sleep(5)) {
    if (Date.now() - started > 3_000) throw new Error(`timed out waiting for ${what}`);
  }
}

/** A learner with a scriptable model manager and data plane, recording what it reports, in order. */
function aLearner(idleTimeoutMs = 60_000) {
  const events: string[] = [];
  const uploads: Buffer[] = [];
  const evaluations: { taskId: string; numSamples: number; metrics: Record<string, number> }[] = [];
  const failures: { taskId: string | undefined; reason: string }[] = [];
  const manager = {
    getWeights: jest.fn(async () => WEIGHTS),
    setWeights: jest.fn(async () => undefined),
    fit: jest.fn(async (): Promise<{ numSamples: number; metrics: Record<string, number> }> => ({ numSamples: 10, metrics: { loss: 1 } })),
    evaluate: jest.fn(async (): Promise<{ numSamples: number; loss: number; accuracy: number } & Record<string, number>> => ({
      numSamples: 5,
      loss: 0.5,
      accuracy: 0.8,
    })),
  } satisfies ModelManager;
  const dataPlane = {
    download: jest.fn(async (_url: string): Promise<Buffer> => MODEL),
    upload: jest.fn(async (_url: string, body: Buffer): Promise<void> => void uploads.push(body)),
    downloadOwn: jest.fn(async (_url: string): Promise<Buffer> => encodeTensors([{ name: 'dense/kernel', shape: [2], values: Float32Array.from([0.5, -0.5]) }])),
  };
  const ports: LearnerPorts = {
    join: async () => undefined,
    evaluated: async (taskId, _round, numSamples, metrics) => {
      events.push(`evaluated ${taskId}`);
      evaluations.push({ taskId, numSamples, metrics });
    },
    failed: async (taskId, reason) => {
      events.push(`failed ${taskId ?? '-'}`);
      failures.push({ taskId, reason });
    },
    finished: (reason) => void events.push(`finished: ${reason}`),
  };
  const runner = new TaskRunner(LEARNER, manager, dataPlane as unknown as DataPlaneClient, ports, { joinRetryMs: 60_000, idleTimeoutMs });
  runners.push(runner);
  return { runner, manager, dataPlane, events, uploads, evaluations, failures };
}

const runners: TaskRunner[] = [];
afterEach(() => runners.splice(0).forEach((r) => r.close()));
beforeAll(() => Logger.overrideLogger(false));

describe('TaskRunner: idle timeout', () => {
  it('does not leave while a task runs longer than the timeout, and counts idle time from its end', async () => {
    const learner = aLearner(100);
    let duringFit: string[] = [];
    let fitEnded = 0;
    learner.manager.fit.mockImplementation(async () => {
      await sleep(300);
      duringFit = [...learner.events];
      fitEnded = Date.now();
      return { numSamples: 10, metrics: { loss: 1 } };
    });

    learner.runner.task(aTask('fit'));
    await until(() => learner.events.length === 2, 'the idle exit');

    expect(duringFit).toEqual([]); // still here after 300 ms of fit with a 100 ms timeout
    expect(learner.uploads).toHaveLength(1);
    expect(Date.now() - fitEnded).toBeGreaterThanOrEqual(90);
    expect(learner.events).toEqual(['failed -', 'finished: no word from the aggregator for 0.1 s']);
  });

  it('reports that it leaves before leaving, so the aggregator does not wait for it', async () => {
    const learner = aLearner(50);

    learner.runner.aggregatorReady();
    await until(() => learner.events.length === 2, 'the idle exit');

    expect(learner.failures).toEqual([{ taskId: undefined, reason: 'no word from the aggregator for 0.05 s' }]);
    expect(learner.events).toEqual(['failed -', 'finished: no word from the aggregator for 0.05 s']);
  });

  it('leaves when told to stop, and does not time out afterwards', async () => {
    const learner = aLearner(50);

    learner.runner.task(aTask('stop', 0));
    await sleep(150);

    expect(learner.events).toEqual(['finished: the aggregator ended training']);
  });
});

describe('TaskRunner: metrics', () => {
  it('sends only evaluation metrics the wire takes, instead of failing the task', async () => {
    const learner = aLearner();
    learner.manager.evaluate.mockResolvedValueOnce({ numSamples: 5, loss: 0.5, accuracy: Number.NaN, 'val.acc': 0.9, top_5: 0.99 });
    const evaluate = aTask('evaluate');

    learner.runner.task(evaluate);
    await until(() => learner.events.length === 1, 'the evaluation');

    expect(learner.evaluations).toEqual([{ taskId: evaluate.taskId, numSamples: 5, metrics: { loss: 0.5, top_5: 0.99 } }]);
    expect(learner.failures).toEqual([]);
  });

  it('sends only fit metrics the wire takes with the update', async () => {
    const learner = aLearner();
    learner.manager.fit.mockResolvedValueOnce({ numSamples: 10, metrics: { loss: 0.25, 'val.acc': 0.9, acc: Number.POSITIVE_INFINITY } });

    learner.runner.task(aTask('fit', 3));
    await until(() => learner.uploads.length === 1, 'the fit update');

    expect(decodeTensors(learner.uploads[0]).meta).toEqual({ learnerId: LEARNER, round: 3, numSamples: 10, metrics: { loss: 0.25 } });
  });
});

describe('TaskRunner: failures', () => {
  it('reports a task that failed and goes on with the next one', async () => {
    const learner = aLearner();
    learner.manager.fit.mockRejectedValueOnce(new Error('out of memory'));
    const fit = aTask('fit');
    const evaluate = aTask('evaluate');

    learner.runner.task(fit);
    learner.runner.task(evaluate);
    await until(() => learner.events.length === 2, 'both tasks');

    expect(learner.events).toEqual([`failed ${fit.taskId}`, `evaluated ${evaluate.taskId}`]);
    expect(learner.failures[0].reason).toBe('out of memory');
  });

  it('only logs a task the aggregator has moved past (upload 410/409 answered, model gone)', async () => {
    const learner = aLearner();
    const fit = aTask('fit', 1);
    const init = aTask('init', 0);
    const supersededEvaluate = aTask('evaluate', 1);
    const evaluate = aTask('evaluate', 2);
    learner.dataPlane.upload.mockImplementation(async (url: string) => {
      if (url === fit.uploadUrl) throw new StaleTaskError(`upload to ${url} refused with 410: task is not open`);
      throw new StaleTaskError(`upload to ${url} refused with 409: learner-0 already answered`);
    });
    learner.dataPlane.download.mockImplementation(async (url: string) => {
      if (url === supersededEvaluate.modelUrl) throw new StaleTaskError(`model download ${url} answered 410`);
      return MODEL;
    });

    for (const task of [fit, init, supersededEvaluate, evaluate]) learner.runner.task(task);
    await until(() => learner.events.length === 1, 'the last evaluation');
    await sleep(20);

    expect(learner.dataPlane.upload).toHaveBeenCalledTimes(2);
    expect(learner.events).toEqual([`evaluated ${evaluate.taskId}`]);
    expect(learner.failures).toEqual([]);
  });
});

describe('TaskRunner: the strategy’s learner side', () => {
  it('FedProx: fit gets mu and the global model it started from', async () => {
    const learner = aLearner();
    learner.runner.task({ ...aTask('fit'), strategy: { proximalMu: 0.3 } });
    await until(() => learner.uploads.length === 1, 'the update');
    const [args] = learner.manager.fit.mock.calls[0] as unknown as [{ strategy: { proximalMu: number; globalWeights: NamedTensor[] } }];
    expect(args.strategy.proximalMu).toBe(0.3);
    expect(args.strategy.globalWeights.map((t) => Array.from(t.values))).toEqual([[1, 2]]);
  });

  it('SCAFFOLD: fit gets its correction, and the update carries the step-size sum; without one the task fails', async () => {
    const learner = aLearner();
    learner.manager.fit.mockResolvedValueOnce({ numSamples: 10, metrics: {}, scaffoldStepSizeSum: 0.4 } as never);
    const correctionUrl = 'http://aggregator/v1/tasks/t/correction';
    learner.runner.task({ ...aTask('fit'), strategy: { scaffoldCorrectionUrl: correctionUrl } });
    await until(() => learner.uploads.length === 1, 'the update');
    expect(learner.dataPlane.downloadOwn).toHaveBeenCalledWith(correctionUrl);
    const [args] = learner.manager.fit.mock.calls[0] as unknown as [{ strategy: { scaffoldCorrection: NamedTensor[] } }];
    expect(Array.from(args.strategy.scaffoldCorrection[0].values)).toEqual([0.5, -0.5]);
    expect(decodeTensors(learner.uploads[0]).meta).toMatchObject({ scaffoldStepSizeSum: 0.4 });

    learner.runner.task({ ...aTask('fit', 2), strategy: { scaffoldCorrectionUrl: correctionUrl } });
    await until(() => learner.failures.length === 1, 'the failure');
    expect(learner.failures[0].reason).toMatch(/scaffoldStepSizeSum/);
  });

  it('an update the aggregator refused is not a failure of the learner', async () => {
    const learner = aLearner();
    learner.dataPlane.upload.mockRejectedValueOnce(new UpdateRefusedError('update refused (non-finite)'));
    learner.runner.task(aTask('fit'));
    learner.runner.task(aTask('evaluate'));
    await until(() => learner.evaluations.length === 1, 'the evaluation');
    expect(learner.failures).toEqual([]);
  });
});
