/**
 * A project recorded in the real MLflow of tools/infra.sh, read back with MLflow's own Python
 * client: experiment, run, params, tags, metrics by step (global and per learner), the model
 * artifact and its registered version. The first attempt meets an MLflow that is down: training
 * is not disturbed, the debt is kept in the outbox and paid on the retry.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from 'mongoose';
import { MODEL_ARTIFACT_TYPE } from '@flops/contracts';
import { ProjectState } from '@flops/lifecycle';
import { ProjectRecord, ProjectStore, TrackingStore, connectDatabase } from '@flops/models';
import { RegistryClient, pushArtifact } from '@flops/oci-registry';
import { TENSORS_MEDIA_TYPE, encodeTensors } from '@flops/tensor-codec';
import { freePort, infraEnv } from '@flops/testing';
import { MlflowTracker } from './mlflow.tracker';
import { ProjectTracking, registeredModelName } from './project-tracking';

jest.setTimeout(600_000);

const ROOT = resolve(__dirname, '../../../..');
const MLFLOW_URL = process.env.FLOPS_MLFLOW_URL;
const RUN = randomBytes(4).toString('hex');

/** The venv tools/infra.sh runs MLflow from (same requirements, so the same cached venv). */
function mlflowPython(): string {
  return execFileSync('bash', [join(ROOT, 'tools/python-venv.sh'), join(ROOT, 'tools/mlflow/requirements.txt')], { encoding: 'utf8' }).trim();
}

async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

(MLFLOW_URL ? describe : describe.skip)('ProjectTracking against the real MLflow', () => {
  let db: Connection;
  let projects: ProjectStore;
  let outbox: TrackingStore;
  let registry: RegistryClient;
  const id = `p${randomBytes(8).toString('hex')}`;
  const name = `tracking-${RUN}`;
  const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 12, 0, s));

  beforeAll(async () => {
    db = await connectDatabase(infraEnv().MONGO_URL, `flops_int_tracking_${RUN}`);
    projects = new ProjectStore(db);
    outbox = new TrackingStore(db);
    registry = new RegistryClient({ url: infraEnv().FLOPS_REGISTRY_URL });
  });

  afterAll(async () => {
    await db?.dropDatabase();
    await db?.close();
  });

  async function change(set: Partial<ProjectRecord>, round?: ProjectRecord['rounds'][number]): Promise<ProjectRecord> {
    const current = (await projects.get(id))!;
    const updated = await projects.apply(id, current.version, {
      set,
      ...(round ? { appendRound: round } : {}),
      ...(set.state ? { appendHistory: { from: current.state, to: set.state, at: at(10 + current.history.length), event: 'test' } } : {}),
    });
    return updated!;
  }

  it('records a whole project, surviving an outage, and MLflow’s own client reads all of it back', async () => {
    await projects.create({
      _id: id,
      name,
      state: ProjectState.SUBMITTED,
      repo: { url: 'https://git.example/org/digits.git', ref: 'main' },
      training: {
        rounds: 2,
        learners: 2,
        minLearnersPerRound: 2,
        strategy: 'fedavg',
        strategyParams: {},
        fractionFit: 1,
        fractionEvaluate: 1,
        privacy: { centralDp: { clipping: 'fixed', clipNorm: 1, noiseMultiplier: 1, targetUnclippedQuantile: 0.5, clipLearningRate: 0.2, delta: 1e-5 } },
        hyperparameters: { epochs: 2, learningRate: 0.01 },
        dataTags: ['digits'],
        roundTimeoutSeconds: 60,
        seed: 7,
      },
      resources: {},
      deadlineAt: null,
    });

    // 1. MLflow is down (nothing listens there): the change is kept, nothing throws, a retry is scheduled.
    const down = new ProjectTracking(new MlflowTracker(`http://127.0.0.1:${await freePort()}`, 2_000), outbox, projects, registry, {
      retryMs: 100,
      maxRetryMs: 200,
    });
    const submitted = await change({ state: ProjectState.IMAGE_CHECK });
    expect(() => down.changed(submitted)).not.toThrow();
    const owed = await until('the failed attempt to be recorded', async () => {
      const r = await outbox.get(id);
      return r && r.attempts >= 1 ? r : null;
    });
    expect(owed).toMatchObject({ pending: true, roundsLogged: 0 });
    expect(owed.lastError).toContain('unreachable');
    expect(owed.runId).toBeUndefined();

    // 2. MLflow is back: the retry pass catches up; then the project goes on and each change is delivered.
    const tracking = new ProjectTracking(new MlflowTracker(MLFLOW_URL!), outbox, projects, registry, { retryMs: 100, maxRetryMs: 200 });
    await until('the outbox to be due', async () => (await outbox.due(new Date())).some((r) => r._id === id));
    await tracking.retryDue();
    const started = (await outbox.get(id))!;
    expect(started).toMatchObject({ pending: false, paramsLogged: true });
    expect(started.runUrl).toBe(`${MLFLOW_URL}/#/experiments/${started.experimentId}/runs/${started.runId}`);

    const image = { reference: '127.0.0.1:5000/flops/learners/digits:abc', digest: `sha256:${'a'.repeat(64)}`, sourceRevision: 'c0ffee1', cacheHit: false, durations: { fetchMs: 1, checkMs: 2, buildMs: 3, pushMs: 4 } };
    await change({ state: ProjectState.DEPLOYING, image });
    await change({ state: ProjectState.TRAINING });
    const round = (n: number, acc: number) => ({
      round: n,
      learners: 2,
      samples: 100,
      trainMetrics: { loss: 1 / n },
      evalMetrics: { accuracy: acc, loss: 0.5 / n },
      learnerMetrics: { 'learner-0': { accuracy: acc - 0.01 }, 'learner-1': { accuracy: acc + 0.01 } },
      durationMs: 1500 * n,
      evaluators: 2,
      refused: n - 1,
      refusals: n > 1 ? [{ learnerId: 'learner-1', total: 1, byReason: { 'non-finite': 1 }, lastReason: 'non-finite' as const, lastRound: 2, lastMessage: 'NaN at w[0]' }] : [],
      privacy: { epsilon: 0.5 * n, epsilonRound: 0.5, delta: 1e-5, clipNorm: 1, noiseStddev: 1 },
      at: at(20 + n),
    });
    await tracking.sync((await change({}, round(1, 0.8)))._id);
    await change({}, round(2, 0.9));

    const modelBytes = encodeTensors([{ name: 'w', shape: [2, 2], values: new Float32Array([1, 2, 3, 4]) }], {});
    const pushed = await pushArtifact(registry, `flops/models/${id}`, 'final', {
      artifactType: MODEL_ARTIFACT_TYPE,
      blobs: [{ data: modelBytes, mediaType: TENSORS_MEDIA_TYPE, annotations: { 'org.opencontainers.image.title': 'model.flt' } }],
    });
    await change({ state: ProjectState.FINALIZING, model: { reference: pushed.reference, digest: pushed.digest, sizeBytes: modelBytes.length }, finalMetrics: { accuracy: 0.9, loss: 0.25 } });
    const completed = await change({ state: ProjectState.COMPLETED });
    tracking.changed(completed);
    const done = await until('the completed project to be delivered', async () => {
      const r = await outbox.get(id);
      return r && !r.pending && r.endedStatus ? r : null;
    });
    expect(done).toMatchObject({ roundsLogged: 2, imageLogged: true, modelVersion: '1', endedStatus: 'FINISHED' });

    // Delivering again repeats nothing (no second run, no doubled metric, no second version).
    await outbox.markPending(id);
    await tracking.sync(id);

    // 3. What MLflow holds, as its own Python client sees it.
    const dir = mkdtempSync(join(tmpdir(), 'flops-mlflow-'));
    let read: any;
    try {
      read = JSON.parse(
        execFileSync(mlflowPython(), [join(__dirname, 'mlflow-readback.py'), MLFLOW_URL!, name, registeredModelName({ name }), dir], {
          encoding: 'utf8',
          timeout: 300_000,
        }),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(read.experiment).toEqual({ id: done.experimentId, name });
    expect(read.runs).toHaveLength(1);
    const [run] = read.runs;
    expect(run).toMatchObject({ id: done.runId, name: id, status: 'FINISHED', startTime: expect.any(Number) });
    expect(run.params).toEqual({
      'training.rounds': '2',
      'training.learners': '2',
      'training.minLearnersPerRound': '2',
      'training.strategy': 'fedavg',
      'training.fractionFit': '1',
      'training.fractionEvaluate': '1',
      'training.privacy.centralDp.clipping': 'fixed',
      'training.privacy.centralDp.clipNorm': '1',
      'training.privacy.centralDp.noiseMultiplier': '1',
      'training.privacy.centralDp.targetUnclippedQuantile': '0.5',
      'training.privacy.centralDp.clipLearningRate': '0.2',
      'training.privacy.centralDp.delta': '0.00001',
      'training.hyperparameters.epochs': '2',
      'training.hyperparameters.learningRate': '0.01',
      'training.dataTags': '["digits"]',
      'training.roundTimeoutSeconds': '60',
      'training.seed': '7',
      'image.digest': image.digest,
      'image.reference': image.reference,
    });
    expect(run.tags).toEqual({
      'flops.project_id': id,
      'flops.repo': 'https://git.example/org/digits.git',
      'flops.ref': 'main',
      'flops.strategy': 'fedavg',
      'flops.revision': 'c0ffee1',
      'flops.image_cache_hit': 'false',
    });
    expect(run.metrics['eval/accuracy']).toEqual([
      [1, 0.8],
      [2, 0.9],
    ]);
    expect(run.metrics['train/loss']).toEqual([
      [1, 1],
      [2, 0.5],
    ]);
    expect(run.metrics['round/duration_seconds']).toEqual([
      [1, 1.5],
      [2, 3],
    ]);
    expect(run.metrics['round/refused']).toEqual([
      [1, 0],
      [2, 1],
    ]);
    expect(run.metrics['privacy/epsilon']).toEqual([
      [1, 0.5],
      [2, 1],
    ]);
    expect(run.metrics['learner/learner-0/eval/accuracy']).toEqual([
      [1, 0.79],
      [2, 0.89],
    ]);
    expect(run.metrics['learner/learner-1/eval/accuracy'].map(([step]: number[]) => step)).toEqual([1, 2]);
    expect(run.metrics['final/accuracy']).toEqual([[2, 0.9]]);
    expect(run.artifacts).toEqual(['model/model.flt']);
    expect(run.downloaded).toEqual({ 'model.flt': `sha256:${createHash('sha256').update(modelBytes).digest('hex')}` });
    expect(read.modelVersions).toEqual([
      { name: `flops-${name}`, version: '1', runId: done.runId, source: expect.stringMatching(/\/model$/), status: 'READY' },
    ]);
  });
});
