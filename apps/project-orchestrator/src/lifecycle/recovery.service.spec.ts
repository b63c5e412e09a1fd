import { Logger } from '@nestjs/common';
import { ROUND_HISTORY_MEDIA_TYPE, encodeRoundHistory, modelAnnotations } from '@flops/contracts';
import { DEFAULT_DEADLINES, ProjectState } from '@flops/lifecycle';
import { MqttBus } from '@flops/messaging';
import { ProjectRecord, ProjectStore } from '@flops/models';
import { ProjectLifecycleService } from './project-lifecycle.service';
import { RecoveryService } from './recovery.service';
import { StateChangePublisher } from './state-change.publisher';
import { InMemoryProjectStore, stateEffectsWithFakes, tick } from './testing/fakes';
import { MODEL_DIGEST, REGISTRY_HOST, TestClock, aModelManifest, aRound, projectFactory, roundCompleted } from './testing/fixtures';

/**
 * The grace after an aggregator ended with an unknown status is a `sleep` from node:timers/promises
 * (which Jest's fake timers do not reach): each wait is recorded here and ends when a test releases it.
 */
const mockGraceWaits: { ms: number; release: () => void }[] = [];
jest.mock('node:timers/promises', () => ({
  ...jest.requireActual('node:timers/promises'),
  setTimeout: (ms: number) => new Promise<void>((resolve) => mockGraceWaits.push({ ms, release: () => resolve() })),
}));

const S = ProjectState;
/** The bootstrap's sweep reads the wall clock, so the test clock starts at the real now (a whole second). */
const T0 = Math.floor(Date.now() / 1000) * 1000;
const SWEEP_INTERVAL_MS = 60_000;

/** A project created a minute before T0 whose deadline is far away (no sweep touches it unless told). */
const aProject = projectFactory({ t0: T0, matchState: true });

/** Lets every pending promise chain (exit handlers run detached from the driver's listener) finish. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await tick();
}

const started: RecoveryService[] = [];

/** The real lifecycle and effects over in-memory fakes of everything they talk to. */
function setup(...projects: ProjectRecord[]) {
  const clock = new TestClock(T0);
  const store = new InMemoryProjectStore(clock);
  for (const project of projects) store.put(project);
  const { bus, driver, registry, planner, effects, storeFinalModel: storeModelManifest } = stateEffectsWithFakes(store);
  const lifecycle = new ProjectLifecycleService(
    store as unknown as ProjectStore,
    effects,
    new StateChangePublisher(bus as unknown as MqttBus),
    DEFAULT_DEADLINES,
    clock.now,
  );
  const recovery = new RecoveryService(store as unknown as ProjectStore, lifecycle, effects, driver, SWEEP_INTERVAL_MS);
  const resume = jest.spyOn(lifecycle, 'resume');
  const handle = jest.spyOn(lifecycle, 'handle');
  const learnerLost = jest.spyOn(effects, 'learnerLost');
  /** Stores the final model of `project` as its aggregator would: one 4096-byte blob, annotated with these metrics. */
  const storeFinalModel = (project: ProjectRecord, finalMetrics: Record<string, number>): void =>
    storeModelManifest(project, aModelManifest(modelAnnotations({ projectId: project._id, rounds: 3, finalMetrics }), [4096]));
  /** The same, with the round-history blob the aggregator stores beside the model (rounds 1..n). */
  const storeFinalModelWithHistory = (project: ProjectRecord, rounds: number): void => {
    const history = encodeRoundHistory(Array.from({ length: rounds }, (_, i) => ({ ...aRound(i + 1), at: new Date(T0 + i).toISOString() })));
    const manifest = aModelManifest(modelAnnotations({ projectId: project._id, rounds, finalMetrics: { accuracy: 0.9 } }), [4096]);
    const historyDigest = `sha256:${'e'.repeat(64)}`;
    manifest.layers.push({ mediaType: ROUND_HISTORY_MEDIA_TYPE, digest: historyDigest, size: history.length });
    storeModelManifest(project, manifest);
    registry.putBlob(planner.modelRepository(project), historyDigest, history);
  };
  const bootstrap = async (): Promise<void> => {
    started.push(recovery);
    await recovery.onApplicationBootstrap();
  };
  /** Bootstraps, then forgets what the bootstrap did, so a test sees only what follows. */
  const bootstrapQuietly = async (): Promise<void> => {
    await bootstrap();
    bus.published.length = 0;
    driver.deployed.length = 0;
    resume.mockClear();
    handle.mockClear();
    learnerLost.mockClear();
  };
  return { clock, store, bus, driver, registry, effects, lifecycle, recovery, resume, handle, learnerLost, storeFinalModel, storeFinalModelWithHistory, bootstrap, bootstrapQuietly };
}

beforeAll(() => Logger.overrideLogger(false));

afterEach(() => {
  for (const recovery of started.splice(0)) recovery.onApplicationShutdown();
  mockGraceWaits.length = 0;
  jest.useRealTimers();
  jest.restoreAllMocks();
});

// ---- tests ---------------------------------------------------------------------------------------

describe('RecoveryService: bootstrap', () => {
  it('resumes every unfinished project, and none that ended', async () => {
    const checking = aProject({ state: S.IMAGE_CHECK });
    const building = aProject({ state: S.BUILDING });
    const deploying = aProject({ state: S.DEPLOYING });
    const training = aProject({ state: S.TRAINING });
    const done = aProject({ state: S.COMPLETED, cleanedUpAt: new Date(T0 - 30_000) });
    const { bootstrap, resume, bus, driver, store } = setup(checking, building, deploying, training, done);

    await bootstrap();

    expect(driver.resumed).toBe(1);
    expect(resume.mock.calls.map(([id]) => id).sort()).toEqual([checking._id, building._id, deploying._id, training._id].sort());
    // what the resumed effects did: build requests asked again, components deployed again
    expect(bus.of('buildRequested').length).toBe(2);
    expect(bus.of('buildRequested', checking._id)).toHaveLength(1);
    expect(bus.of('buildRequested', building._id)).toHaveLength(1);
    expect(driver.deployed.map((s) => `${s.projectId}/${s.component}`)).toEqual([
      `${deploying._id}/aggregator`,
      `${deploying._id}/learner-0`,
      `${deploying._id}/learner-1`,
    ]);
    expect(store.current(training._id).state).toBe(S.TRAINING); // no model stored yet: still training
    expect(driver.undeployed).toEqual([]); // the ended project was cleaned up already
  });

  it('a project whose resume throws neither stops the others nor rejects the bootstrap', async () => {
    const broken = aProject({ state: S.BUILDING });
    const others = [aProject({ state: S.IMAGE_CHECK }), aProject({ state: S.BUILDING })];
    const stalled = aProject({ state: S.FAILED, updatedAt: new Date(T0 - 60_000) }); // never cleaned up
    const { bootstrap, store, resume, bus, driver } = setup(broken, ...others, stalled);
    store.unreadable.add(broken._id);

    await expect(bootstrap()).resolves.toBeUndefined();

    expect(resume.mock.calls.map(([id]) => id).sort()).toEqual([broken._id, ...others.map((p) => p._id)].sort());
    await expect(resume.mock.results[resume.mock.calls.findIndex(([id]) => id === broken._id)].value).rejects.toThrow(`cannot read ${broken._id}`);
    for (const other of others) expect(bus.of('buildRequested', other._id)).toHaveLength(1);
    // and the first sweep ran after the resumes
    expect(driver.undeployed).toEqual([stalled._id]);
    expect(store.current(stalled._id).cleanedUpAt).toBeDefined();
  });

  it('listens for exits before adopting components, so one found dead during adoption is reported', async () => {
    const project = aProject({ state: S.TRAINING });
    const { bootstrap, driver, bus } = setup(project);
    driver.onResume = () => driver.exit({ projectId: project._id, component: 'learner-1', kind: 'learner', exitCode: 137, signal: null });

    await bootstrap();
    await settle();

    expect(bus.of('learnerFailed', project._id)).toEqual([{ learnerId: 'learner-1', reason: 'exited with code 137' }]);
  });

  it('sweeps once at boot, then every interval until shutdown', async () => {
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
    const { bootstrap, recovery } = setup();
    const sweep = jest.spyOn(recovery, 'sweep');

    await bootstrap();
    expect(sweep).toHaveBeenCalledTimes(1);

    jest.advanceTimersByTime(SWEEP_INTERVAL_MS);
    expect(sweep).toHaveBeenCalledTimes(2);
    jest.advanceTimersByTime(SWEEP_INTERVAL_MS);
    expect(sweep).toHaveBeenCalledTimes(3);

    recovery.onApplicationShutdown();
    jest.advanceTimersByTime(10 * SWEEP_INTERVAL_MS);
    expect(sweep).toHaveBeenCalledTimes(3);
  });
});

describe('RecoveryService: sweep', () => {
  it('starts SUBMITTED projects older than the submission grace, and leaves younger ones to their message', async () => {
    const old = aProject({ state: S.SUBMITTED, createdAt: new Date(T0 - 4_000) });
    const young = aProject({ state: S.SUBMITTED, createdAt: new Date(T0 - 2_000) });
    const { recovery, store, handle, bus } = setup(old, young);

    await recovery.sweep(new Date(T0));

    expect(handle.mock.calls).toEqual([[old._id, { kind: 'start' }]]);
    expect(store.current(old._id).state).toBe(S.IMAGE_CHECK);
    expect(bus.of('buildRequested', old._id)).toHaveLength(1);
    expect(store.current(young._id).state).toBe(S.SUBMITTED);
  });

  it('fails overdue projects with deadline.passed carrying the state they are overdue in', async () => {
    const building = aProject({ state: S.BUILDING, deadlineAt: new Date(T0 - 1) });
    const training = aProject({ state: S.TRAINING, deadlineAt: new Date(T0 - 60_000) });
    const inTime = aProject({ state: S.DEPLOYING, deadlineAt: new Date(T0 + 1_000) });
    const { recovery, store, lifecycle, driver } = setup(building, training, inTime);
    const deadlinePassed = jest.spyOn(lifecycle, 'deadlinePassed');

    await recovery.sweep(new Date(T0));

    expect(deadlinePassed.mock.calls).toEqual(
      expect.arrayContaining([
        [building._id, S.BUILDING],
        [training._id, S.TRAINING],
      ]),
    );
    expect(deadlinePassed).toHaveBeenCalledTimes(2);
    expect(store.current(building._id)).toMatchObject({
      state: S.FAILED,
      failure: { stage: 'build', reason: 'deadline passed: the project stayed in BUILDING longer than allowed' },
    });
    expect(store.current(training._id)).toMatchObject({ state: S.FAILED, failure: { stage: 'training' } });
    expect(store.current(inTime._id).state).toBe(S.DEPLOYING);
    // failing them cleaned them up at once
    expect(driver.undeployed.sort()).toEqual([building._id, training._id].sort());
  });

  it('finishes the clean-up of projects that ended more than the clean-up grace ago and were never cleaned up', async () => {
    const stalled = aProject({ state: S.FAILED, updatedAt: new Date(T0 - 20_000) });
    const justEnded = aProject({ state: S.CANCELLED, updatedAt: new Date(T0 - 5_000) });
    const cleaned = aProject({ state: S.COMPLETED, updatedAt: new Date(T0 - 60_000), cleanedUpAt: new Date(T0 - 59_000) });
    const { recovery, store, driver, bus } = setup(stalled, justEnded, cleaned);

    await recovery.sweep(new Date(T0));

    expect(driver.undeployed).toEqual([stalled._id]);
    expect(bus.cleared).toEqual([stalled._id]);
    expect(store.current(stalled._id).cleanedUpAt).toEqual(new Date(T0));
    expect(store.current(justEnded._id).cleanedUpAt).toBeUndefined();
    expect(store.current(stalled._id).state).toBe(S.FAILED); // clean-up changes nothing else
  });

  it('one failing project does not hold up the others', async () => {
    const unreadable = aProject({ state: S.BUILDING, deadlineAt: new Date(T0 - 1) });
    const unstoppable = aProject({ state: S.FAILED, updatedAt: new Date(T0 - 20_000) });
    const overdue = aProject({ state: S.IMAGE_CHECK, deadlineAt: new Date(T0 - 1) });
    const uncleaned = aProject({ state: S.CANCELLED, updatedAt: new Date(T0 - 20_000) });
    const waiting = aProject({ state: S.SUBMITTED, createdAt: new Date(T0 - 10_000) });
    const { recovery, store, driver } = setup(unreadable, unstoppable, overdue, uncleaned, waiting);
    store.unreadable.add(unreadable._id);
    driver.undeployFailures.set(unstoppable._id, new Error(`cannot stop ${unstoppable._id}`));
    // the healthy ones take longer than the failing ones: the pass must still wait for them
    driver.slowToStop.add(overdue._id);
    driver.slowToStop.add(uncleaned._id);

    await expect(recovery.sweep(new Date(T0))).resolves.toBeUndefined();

    expect(store.current(overdue._id)).toMatchObject({ state: S.FAILED, failure: { stage: 'build' } });
    expect(store.current(uncleaned._id).cleanedUpAt).toBeDefined();
    expect(store.current(waiting._id).state).toBe(S.IMAGE_CHECK);
    expect(store.current(unreadable._id).state).toBe(S.BUILDING);
    expect(store.current(unstoppable._id).cleanedUpAt).toBeUndefined(); // left for the next sweep
  });

  it('a store failure ends the pass quietly, and the next pass runs', async () => {
    const waiting = aProject({ state: S.SUBMITTED, createdAt: new Date(T0 - 10_000) });
    const { recovery, store } = setup(waiting);
    store.queryFailure = new Error('database unreachable');

    await expect(recovery.sweep(new Date(T0))).resolves.toBeUndefined();
    expect(store.current(waiting._id).state).toBe(S.SUBMITTED);

    store.queryFailure = undefined;
    await recovery.sweep(new Date(T0));
    expect(store.current(waiting._id).state).toBe(S.IMAGE_CHECK);
  });

  it('never runs two sweeps at once: a sweep while one is under way does nothing', async () => {
    const waiting = aProject({ state: S.SUBMITTED, createdAt: new Date(T0 - 10_000) });
    const { recovery, store, handle } = setup(waiting);
    let release!: () => void;
    store.queryGate = new Promise<void>((resolve) => (release = resolve));

    const first = recovery.sweep(new Date(T0));
    await settle();
    await recovery.sweep(new Date(T0)); // returns at once

    expect(store.queries).toEqual(['waitingSince', 'overdue', 'endedNotCleanedUp']);
    expect(handle).not.toHaveBeenCalled();

    release();
    await first;
    expect(handle).toHaveBeenCalledTimes(1);
    expect(store.current(waiting._id).state).toBe(S.IMAGE_CHECK);

    await recovery.sweep(new Date(T0)); // the first one is over: the next may run
    expect(store.queries).toHaveLength(6);
  });
});

describe('RecoveryService: component exits', () => {
  it.each<[string, number | null, string | null, string]>([
    ['a non-zero code', 1, null, 'exited with code 1'],
    ['a signal', null, 'SIGKILL', 'exited with SIGKILL'],
  ])('a learner ending with %s is reported to the aggregator as failed', async (_how, exitCode, signal, reason) => {
    const project = aProject({ state: S.TRAINING });
    const { bootstrapQuietly, driver, bus, learnerLost, handle, store } = setup(project);
    await bootstrapQuietly();

    driver.exit({ projectId: project._id, component: 'learner-1', kind: 'learner', exitCode, signal });
    await settle();

    expect(learnerLost).toHaveBeenCalledWith(project._id, 'learner-1', reason);
    expect(bus.published).toEqual([{ topic: 'learnerFailed', projectId: project._id, payload: { learnerId: 'learner-1', reason } }]);
    // the aggregator decides whether training can go on; the project is not failed here
    expect(handle).not.toHaveBeenCalled();
    expect(store.current(project._id).state).toBe(S.TRAINING);
  });

  it('a learner ending with code 0 is not reported', async () => {
    const project = aProject({ state: S.TRAINING });
    const { bootstrapQuietly, driver, bus, learnerLost, handle } = setup(project);
    await bootstrapQuietly();

    driver.exit({ projectId: project._id, component: 'learner-0', kind: 'learner', exitCode: 0, signal: null });
    await settle();

    expect(learnerLost).not.toHaveBeenCalled();
    expect(bus.published).toEqual([]);
    expect(handle).not.toHaveBeenCalled();
  });

  it.each<[ProjectState, number | null, string | null, string, string]>([
    [S.TRAINING, 3, null, 'exited with code 3 (see its log)', 'training'],
    [S.TRAINING, null, 'SIGSEGV', 'exited with SIGSEGV (see its log)', 'training'],
    [S.DEPLOYING, 1, null, 'exited with code 1 (see its log)', 'deployment'],
  ])('an aggregator of a %s project ending with code %p / signal %p fails the project', async (state, exitCode, signal, reason, stage) => {
    const project = aProject({ state });
    const { bootstrapQuietly, driver, handle, store } = setup(project);
    await bootstrapQuietly();

    driver.exit({ projectId: project._id, component: 'aggregator', kind: 'aggregator', exitCode, signal });
    await settle();

    expect(handle).toHaveBeenCalledWith(project._id, { kind: 'component.failed', component: 'aggregator', reason });
    expect(store.current(project._id)).toMatchObject({ state: S.FAILED, failure: { stage, reason: `aggregator failed: ${reason}` } });
    expect(driver.undeployed).toEqual([project._id]);
    expect(mockGraceWaits).toHaveLength(0); // a known failure needs no grace
  });

  it('an aggregator ending with code 0 after its completion was handled changes nothing', async () => {
    const project = aProject({ state: S.COMPLETED, deadlineAt: null, cleanedUpAt: new Date(T0 - 30_000) });
    const { bootstrapQuietly, driver, handle, resume, store } = setup(project);
    await bootstrapQuietly();

    driver.exit({ projectId: project._id, component: 'aggregator', kind: 'aggregator', exitCode: 0, signal: null });
    await settle();
    mockGraceWaits[0].release();
    await settle();

    expect(handle).not.toHaveBeenCalled();
    expect(resume).not.toHaveBeenCalled();
    expect(store.current(project._id)).toEqual(project);
  });

  it('an aggregator ending with code 0 whose completion message was lost completes the project from the stored model (issue 5, case 4)', async () => {
    const project = aProject({ state: S.TRAINING });
    const { bootstrapQuietly, driver, store, storeFinalModel } = setup(project);
    await bootstrapQuietly();
    storeFinalModel(project, { accuracy: 0.93 }); // stored and reported, but the report's handling failed

    driver.exit({ projectId: project._id, component: 'aggregator', kind: 'aggregator', exitCode: 0, signal: null });
    await settle();
    expect(store.current(project._id).state).toBe(S.TRAINING); // the grace lets a late completion message win
    mockGraceWaits[0].release();
    await settle();

    expect(store.current(project._id)).toMatchObject({ state: S.COMPLETED, finalMetrics: { accuracy: 0.93 } });
  });

  it('an aggregator ending with code 0 that stored no model fails a TRAINING project, saying so', async () => {
    const project = aProject({ state: S.TRAINING });
    const { bootstrapQuietly, driver, store } = setup(project);
    await bootstrapQuietly();

    driver.exit({ projectId: project._id, component: 'aggregator', kind: 'aggregator', exitCode: 0, signal: null });
    await settle();
    mockGraceWaits[0].release();
    await settle();

    expect(store.current(project._id)).toMatchObject({
      state: S.FAILED,
      failure: { stage: 'training', reason: 'aggregator failed: exited with code 0 but stored no model' },
    });
  });

  it('an aggregator ending with an unknown status and no stored model fails the project, after the grace', async () => {
    const project = aProject({ state: S.TRAINING });
    const { bootstrapQuietly, driver, handle, resume, store } = setup(project);
    await bootstrapQuietly();

    driver.exit({ projectId: project._id, component: 'aggregator', kind: 'aggregator', exitCode: null, signal: null });
    await settle();

    // waiting: the completion message may still be on its way
    expect(mockGraceWaits.map((w) => w.ms)).toEqual([5_000]);
    expect(resume).not.toHaveBeenCalled();
    expect(handle).not.toHaveBeenCalled();
    expect(store.current(project._id).state).toBe(S.TRAINING);

    mockGraceWaits[0].release();
    await settle();

    expect(store.current(project._id)).toMatchObject({
      state: S.FAILED,
      failure: { stage: 'training', reason: 'aggregator failed: ended without reporting an outcome' },
    });
    expect(driver.undeployed).toEqual([project._id]);
  });

  it('an aggregator ending with an unknown status while DEPLOYING fails the project at stage deployment', async () => {
    const project = aProject({ state: S.DEPLOYING });
    const { bootstrapQuietly, driver, store } = setup(project);
    await bootstrapQuietly();

    const deployedBefore = driver.deployed.length;
    driver.exit({ projectId: project._id, component: 'aggregator', kind: 'aggregator', exitCode: null, signal: null });
    await settle();
    mockGraceWaits[0].release();
    await settle();

    expect(store.current(project._id)).toMatchObject({
      state: S.FAILED,
      failure: { stage: 'deployment', reason: 'aggregator failed: ended without reporting an outcome' },
    });
    expect(driver.deployed).toHaveLength(deployedBefore); // nothing was started again to find out
  });

  it('an aggregator ending with an unknown status after storing the final model completes the project from it', async () => {
    const project = aProject({ state: S.TRAINING });
    const { bootstrapQuietly, driver, handle, store, storeFinalModel } = setup(project);
    await bootstrapQuietly(); // nothing stored yet at boot: the project stayed in TRAINING
    storeFinalModel(project, { accuracy: 0.92 });

    driver.exit({ projectId: project._id, component: 'aggregator', kind: 'aggregator', exitCode: null, signal: null });
    await settle();
    mockGraceWaits[0].release();
    await settle();

    expect(handle).not.toHaveBeenCalledWith(project._id, expect.objectContaining({ kind: 'component.failed' }));
    const stored = store.current(project._id);
    expect(stored.state).toBe(S.COMPLETED);
    expect(stored.failure).toBeUndefined();
    expect(stored.finalMetrics).toEqual({ accuracy: 0.92 });
    expect(stored.model).toEqual({
      reference: `${REGISTRY_HOST}/flops/models/${project._id}@${MODEL_DIGEST}`,
      digest: MODEL_DIGEST,
      sizeBytes: 4096,
    });
    expect(stored.history.slice(-2).map((h) => [h.from, h.to, h.event])).toEqual([
      [S.TRAINING, S.FINALIZING, 'training.completed'],
      [S.FINALIZING, S.COMPLETED, 'finalized'],
    ]);
  });

  it('an aggregator ending with an unknown status whose completion message arrives during the grace: no failure', async () => {
    const project = aProject({ state: S.TRAINING });
    const { bootstrapQuietly, driver, lifecycle, handle, store } = setup(project);
    await bootstrapQuietly();

    driver.exit({ projectId: project._id, component: 'aggregator', kind: 'aggregator', exitCode: null, signal: null });
    await settle();
    await lifecycle.handle(project._id, {
      kind: 'training.completed',
      model: { reference: `${REGISTRY_HOST}/flops/models/${project._id}@${MODEL_DIGEST}`, digest: MODEL_DIGEST, sizeBytes: 10 },
      finalMetrics: { accuracy: 0.8 },
    });
    handle.mockClear();
    mockGraceWaits[0].release();
    await settle();

    expect(handle).not.toHaveBeenCalled();
    expect(store.current(project._id)).toMatchObject({ state: S.COMPLETED, finalMetrics: { accuracy: 0.8 } });
    expect(store.current(project._id).failure).toBeUndefined();
  });

  it('an aggregator ending with an unknown status of a project that cannot be read is logged, not thrown', async () => {
    const project = aProject({ state: S.TRAINING });
    const { bootstrapQuietly, driver, handle, store } = setup(project);
    await bootstrapQuietly();
    store.unreadable.add(project._id);

    driver.exit({ projectId: project._id, component: 'aggregator', kind: 'aggregator', exitCode: null, signal: null });
    await settle();
    mockGraceWaits[0].release();
    await settle();

    expect(handle).not.toHaveBeenCalled();
    expect(store.current(project._id).state).toBe(S.TRAINING);
  });

  it('a learner ending with an unknown status (adopted, then gone) is not reported: it may have ended normally', async () => {
    const project = aProject({ state: S.TRAINING });
    const { bootstrapQuietly, driver, bus } = setup(project);
    await bootstrapQuietly();

    driver.exit({ projectId: project._id, component: 'learner-0', kind: 'learner', exitCode: null, signal: null });
    await settle();

    expect(bus.of('learnerFailed', project._id)).toEqual([]);
    expect(mockGraceWaits).toHaveLength(0);
  });
});

describe('RecoveryService: round records are never lost (issue 5, case 2)', () => {
  const withRounds = (n: number) => Array.from({ length: n }, (_, i) => ({ ...aRound(i + 1), at: new Date(T0 - 1000) }));

  it('a project whose training ended while the orchestrator was down completes with every round of the stored history', async () => {
    const project = aProject({ state: S.TRAINING, training: { ...aProject().training, rounds: 8 }, rounds: withRounds(2) });
    const { bootstrap, store, storeFinalModelWithHistory } = setup(project);
    storeFinalModelWithHistory(project, 8);

    await bootstrap(); // resume finds the model before any queued round message is taken in

    const stored = store.current(project._id);
    expect(stored.state).toBe(S.COMPLETED);
    expect(stored.rounds.map((r) => r.round)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(stored.rounds[0].at).toEqual(new Date(T0 - 1000)); // rounds already recorded are kept as they were
    expect(stored.model?.sizeBytes).toBe(4096); // the history blob is not part of the model's size
  });

  it('round messages that arrive after the project completed are still recorded, once each and in order', async () => {
    const project = aProject({ state: S.TRAINING, training: { ...aProject().training, rounds: 4 }, rounds: withRounds(1) });
    const { bootstrap, lifecycle, store, storeFinalModel } = setup(project);
    storeFinalModel(project, { accuracy: 0.9 }); // an artifact without a round history (an older aggregator)
    await bootstrap();
    expect(store.current(project._id).state).toBe(S.COMPLETED);

    for (const round of [3, 2, 4, 2]) await lifecycle.handle(project._id, roundCompleted(round));

    const stored = store.current(project._id);
    expect(stored.state).toBe(S.COMPLETED);
    expect(stored.rounds.map((r) => r.round)).toEqual([1, 2, 3, 4]);
  });

  it('FINALIZING fills the rounds whose messages were lost from the stored history before completing', async () => {
    const project = aProject({ state: S.TRAINING, training: { ...aProject().training, rounds: 5 }, rounds: withRounds(3) });
    const { bootstrapQuietly, lifecycle, store, storeFinalModelWithHistory } = setup(project);
    await bootstrapQuietly(); // nothing stored yet: still training
    storeFinalModelWithHistory(project, 5);

    await lifecycle.handle(project._id, {
      kind: 'training.completed',
      finalMetrics: { accuracy: 0.9 },
      model: { reference: `${REGISTRY_HOST}/flops/models/${project._id}@${MODEL_DIGEST}`, digest: MODEL_DIGEST, sizeBytes: 4096 },
    });

    const stored = store.current(project._id);
    expect(stored.state).toBe(S.COMPLETED);
    expect(stored.rounds.map((r) => r.round)).toEqual([1, 2, 3, 4, 5]);
  });
});

describe('RecoveryService: a deadline never fails a project whose model is stored (issue 5, case 4)', () => {
  it('a TRAINING project past its deadline completes from the stored model instead of failing', async () => {
    const project = aProject({ state: S.TRAINING, deadlineAt: new Date(T0 - 1) });
    const { recovery, store, storeFinalModel } = setup(project);
    storeFinalModel(project, { accuracy: 0.91 });

    await recovery.sweep(new Date(T0));

    expect(store.current(project._id)).toMatchObject({ state: S.COMPLETED, finalMetrics: { accuracy: 0.91 } });
    expect(store.current(project._id).failure).toBeUndefined();
  });

  it('a FINALIZING project past its deadline with its model stored finalizes again instead of failing', async () => {
    const project = aProject({
      state: S.FINALIZING,
      deadlineAt: new Date(T0 - 1),
      model: { reference: `${REGISTRY_HOST}/flops/models/x@${MODEL_DIGEST}`, digest: MODEL_DIGEST, sizeBytes: 4096 },
    });
    const { recovery, store, storeFinalModel } = setup(project);
    storeFinalModel(project, { accuracy: 0.91 });

    await recovery.sweep(new Date(T0));

    expect(store.current(project._id).state).toBe(S.COMPLETED);
  });

  it('a TRAINING project past its deadline without a stored model fails as before', async () => {
    const project = aProject({ state: S.TRAINING, deadlineAt: new Date(T0 - 1) });
    const { recovery, store } = setup(project);

    await recovery.sweep(new Date(T0));

    expect(store.current(project._id)).toMatchObject({ state: S.FAILED, failure: { stage: 'training' } });
  });
});
