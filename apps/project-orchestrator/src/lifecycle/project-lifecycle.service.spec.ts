import { Logger } from '@nestjs/common';
import { ProjectState, StateDeadlines } from '@flops/lifecycle';
import { HistoryEntry, ProjectRecord, ProjectStore } from '@flops/models';
import { ProjectEvent } from './project-events';
import { ProjectLifecycleService } from './project-lifecycle.service';
import { StateChangePublisher } from './state-change.publisher';
import { StateEffects } from './state-effects';
import { InMemoryProjectStore, tick } from './testing/fakes';
import { T0, TestClock, aModel, aProject, aRound, aTrainingConfig, anImage, roundCompleted } from './testing/fixtures';

const S = ProjectState;

/** Deadlines distinct per state, so a test can tell which one was used. */
const DEADLINES: StateDeadlines = {
  [S.SUBMITTED]: 1_000,
  [S.IMAGE_CHECK]: 2_000,
  [S.BUILDING]: 3_000,
  [S.DEPLOYING]: 400_000, // above 10 s + 120 s, so the test project's round timeout does not raise it
  [S.TRAINING]: 500_000, // above 4 × 10 s + 60 s
  [S.FINALIZING]: 6_000,
};

// ---- fakes ---------------------------------------------------------------------------------------

type Effect = (project: ProjectRecord) => ProjectEvent | null | Promise<ProjectEvent | null>;

/** Records every onEnter; by default answers like the real StateEffects (start, finalized, or a throw). */
class RecordingEffects implements Pick<StateEffects, 'onEnter'> {
  readonly entered: { id: string; state: ProjectState; version: number }[] = [];
  readonly overrides: Partial<Record<ProjectState, Effect>> = {};

  async onEnter(project: ProjectRecord): Promise<ProjectEvent | null> {
    this.entered.push({ id: project._id, state: project.state, version: project.version });
    await tick();
    const override = this.overrides[project.state];
    if (override) return override(project);
    switch (project.state) {
      case S.SUBMITTED:
        return { kind: 'start' };
      case S.FINALIZING:
        if (!project.model) throw new Error('training ended without a stored model');
        return { kind: 'finalized' };
      default:
        return null;
    }
  }

  statesEntered(): ProjectState[] {
    return this.entered.map((e) => e.state);
  }
}

class RecordingPublisher implements Pick<StateChangePublisher, 'stateChanged'> {
  readonly calls: { id: string; from: ProjectState; to: ProjectState; version: number; reason?: string }[] = [];
  /** When set, every announcement fails with it (a broker that does not answer). */
  failWith?: Error;
  /** Shared with a test's effects to see what ran first. */
  order?: string[];

  async stateChanged(project: ProjectRecord, from: ProjectState, reason?: string): Promise<void> {
    this.order?.push(`announce ${project.state}`);
    if (this.failWith) throw this.failWith;
    this.calls.push({ id: project._id, from, to: project.state, version: project.version, ...(reason ? { reason } : {}) });
  }
}

function setup(...projects: ProjectRecord[]) {
  const clock = new TestClock();
  // reads and writes take a turn of the event loop, like database round trips: other handlers run in between
  const store = new InMemoryProjectStore(clock, { roundTrips: true });
  const effects = new RecordingEffects();
  const publisher = new RecordingPublisher();
  for (const project of projects) store.put(project);
  /** Each call is one orchestrator process; they share the store (and, for counting, the fakes). */
  const newService = () =>
    new ProjectLifecycleService(
      store as unknown as ProjectStore,
      effects as unknown as StateEffects,
      publisher as unknown as StateChangePublisher,
      DEADLINES,
      clock.now,
    );
  return { clock, store, effects, publisher, service: newService(), newService };
}

function lastHistory(record: ProjectRecord): HistoryEntry {
  return record.history[record.history.length - 1];
}

beforeAll(() => Logger.overrideLogger(false));

// ---- tests ---------------------------------------------------------------------------------------

describe('ProjectLifecycleService: transitions', () => {
  it('writes the new state, a history entry, the deadline of the new state and a new version', async () => {
    const project = aProject({ state: S.SUBMITTED, version: 3 });
    const { service, store, clock, publisher, effects } = setup(project);

    const result = await service.handle(project._id, { kind: 'start' });

    const stored = store.current(project._id);
    expect(result).toEqual(stored);
    expect(stored.state).toBe(S.IMAGE_CHECK);
    expect(stored.version).toBe(4);
    expect(stored.deadlineAt).toEqual(clock.plus(DEADLINES[S.IMAGE_CHECK]));
    expect(stored.failure).toBeUndefined();
    expect(stored.history).toHaveLength(2);
    expect(lastHistory(stored)).toEqual({ from: S.SUBMITTED, to: S.IMAGE_CHECK, at: clock.now(), event: 'start' });
    expect(publisher.calls).toEqual([{ id: project._id, from: S.SUBMITTED, to: S.IMAGE_CHECK, version: 4 }]);
    expect(effects.entered).toEqual([{ id: project._id, state: S.IMAGE_CHECK, version: 4 }]);
  });

  it('stores the data an event brings (the image of build.succeeded)', async () => {
    const project = aProject({ state: S.BUILDING });
    const { service, store, clock } = setup(project);

    await service.handle(project._id, { kind: 'build.succeeded', image: anImage() });

    const stored = store.current(project._id);
    expect(stored.state).toBe(S.DEPLOYING);
    expect(stored.image).toEqual(anImage());
    expect(stored.deadlineAt).toEqual(clock.plus(DEADLINES[S.DEPLOYING]));
  });

  it.each([
    [S.IMAGE_CHECK, { kind: 'build.failed', reason: 'no flops.json' }, 'build', 'no flops.json'],
    [S.BUILDING, { kind: 'build.failed', reason: 'npm ci failed' }, 'build', 'npm ci failed'],
    [S.DEPLOYING, { kind: 'deployment.failed', reason: 'port in use' }, 'deployment', 'port in use'],
    [S.TRAINING, { kind: 'training.failed', reason: 'round 2: 1 update(s) arrived' }, 'training', 'round 2: 1 update(s) arrived'],
    [S.TRAINING, { kind: 'component.failed', component: 'learner-1', reason: 'exit 137' }, 'training', 'learner-1 failed: exit 137'],
    [S.FINALIZING, { kind: 'finalization.failed', reason: 'registry down' }, 'finalization', 'registry down'],
  ] as [ProjectState, ProjectEvent, string, string][])('%s + %j → FAILED at stage %s', async (state, event, stage, reason) => {
    const project = aProject({ state });
    const { service, store, clock, publisher, effects } = setup(project);

    await service.handle(project._id, event);

    const stored = store.current(project._id);
    expect(stored.state).toBe(S.FAILED);
    expect(stored.failure).toEqual({ stage, reason, at: clock.now() });
    expect(stored.deadlineAt).toBeNull();
    expect(lastHistory(stored)).toEqual({ from: state, to: S.FAILED, at: clock.now(), event: event.kind, reason });
    expect(publisher.calls).toEqual([expect.objectContaining({ from: state, to: S.FAILED, reason })]);
    expect(effects.statesEntered()).toEqual([S.FAILED]); // the clean-up effect
  });

  it('a current deadline fails the project with the stage; a stale one changes nothing', async () => {
    const stale = aProject({ state: S.TRAINING });
    const current = aProject({ state: S.DEPLOYING });
    const { service, store, publisher, effects } = setup(stale, current);

    const unchanged = await service.handle(stale._id, { kind: 'deadline.passed', state: S.DEPLOYING });
    await service.handle(current._id, { kind: 'deadline.passed', state: S.DEPLOYING });

    expect(unchanged).toEqual(store.current(stale._id));
    expect(store.current(stale._id)).toMatchObject({ state: S.TRAINING, version: stale.version });
    expect(store.current(current._id)).toMatchObject({
      state: S.FAILED,
      failure: { stage: 'deployment', reason: expect.stringContaining('deadline passed') },
    });
    expect(store.applies.map((a) => a.id)).toEqual([current._id]);
    expect(publisher.calls.map((c) => c.id)).toEqual([current._id]);
    expect(effects.entered.map((e) => e.id)).toEqual([current._id]);
  });

  it.each([S.SUBMITTED, S.IMAGE_CHECK, S.BUILDING, S.DEPLOYING, S.TRAINING, S.FINALIZING])(
    'cancel from %s → CANCELLED without a failure record',
    async (state) => {
      const project = aProject({ state });
      const { service, store, clock, effects } = setup(project);

      await service.handle(project._id, { kind: 'cancel', reason: 'wrong data' });

      const stored = store.current(project._id);
      expect(stored.state).toBe(S.CANCELLED);
      expect(stored.failure).toBeUndefined();
      expect(stored.deadlineAt).toBeNull();
      expect(lastHistory(stored)).toEqual({ from: state, to: S.CANCELLED, at: clock.now(), event: 'cancel', reason: 'wrong data' });
      expect(effects.statesEntered()).toEqual([S.CANCELLED]);
    },
  );

  it('an ignored event writes nothing, publishes nothing, runs no effect and returns the project as it is', async () => {
    const project = aProject({ state: S.TRAINING });
    const { service, store, publisher, effects } = setup(project);

    const result = await service.handle(project._id, { kind: 'build.started' });

    expect(result).toEqual(store.current(project._id));
    expect(result?.version).toBe(project.version);
    expect(store.applies).toHaveLength(0);
    expect(publisher.calls).toHaveLength(0);
    expect(effects.entered).toHaveLength(0);
  });

  it.each([S.COMPLETED, S.FAILED, S.CANCELLED])('a %s project ignores cancel, failures and progress, but records a late round', async (state) => {
    const project = aProject({ state, deadlineAt: null });
    const { service, store, effects } = setup(project);

    for (const event of [
      { kind: 'cancel' },
      { kind: 'training.failed', reason: 'late' },
      { kind: 'training.completed' },
      { kind: 'deadline.passed', state },
    ] as ProjectEvent[]) {
      await service.handle(project._id, event);
    }

    expect(store.current(project._id)).toEqual(project);
    expect(store.applies).toHaveLength(0);

    // A round that waited at the broker while the project ended is history, not progress (issue 5, case 2).
    await service.handle(project._id, roundCompleted(9));
    const stored = store.current(project._id);
    expect(stored.state).toBe(state);
    expect(stored.deadlineAt).toBeNull();
    expect(stored.history).toEqual(project.history);
    expect(stored.rounds.map((r) => r.round)).toEqual([9]);
    expect(effects.entered).toHaveLength(0);
  });

  it('an unknown project gives null and touches nothing', async () => {
    const { service, store, effects, publisher } = setup(aProject());

    await expect(service.handle('p-missing', { kind: 'start' })).resolves.toBeNull();

    expect(store.applies).toHaveLength(0);
    expect(effects.entered).toHaveLength(0);
    expect(publisher.calls).toHaveLength(0);
  });
});

describe('ProjectLifecycleService: duplicates and concurrency', () => {
  it('the same event handled twice concurrently runs the effect once', async () => {
    const project = aProject({ state: S.BUILDING });
    const { service, store, effects, publisher } = setup(project);
    const event: ProjectEvent = { kind: 'build.succeeded', image: anImage() };

    const [a, b] = await Promise.all([service.handle(project._id, event), service.handle(project._id, event)]);

    expect(effects.statesEntered()).toEqual([S.DEPLOYING]);
    expect(publisher.calls).toHaveLength(1);
    const stored = store.current(project._id);
    expect(stored.version).toBe(project.version + 1);
    expect(stored.history.map((h) => h.to)).toEqual([S.BUILDING, S.DEPLOYING]);
    expect(a?.state).toBe(S.DEPLOYING);
    expect(b?.state).toBe(S.DEPLOYING);
  });

  it('two orchestrator processes handling the same event: the version guard lets only one win', async () => {
    const project = aProject({ state: S.BUILDING });
    const { newService, store, effects, publisher } = setup(project);
    const [first, second] = [newService(), newService()];
    const event: ProjectEvent = { kind: 'build.succeeded', image: anImage() };

    await Promise.all([first.handle(project._id, event), second.handle(project._id, event)]);

    // Both read the same version; one write lost, and its retry saw DEPLOYING and ignored the event.
    expect(store.conflicts).toBe(1);
    expect(store.applies.filter((a) => a.won)).toHaveLength(1);
    expect(effects.statesEntered()).toEqual([S.DEPLOYING]);
    expect(publisher.calls).toHaveLength(1);
    expect(store.current(project._id)).toMatchObject({ state: S.DEPLOYING, version: project.version + 1 });
  });

  it('a conflicting write makes it retry and decide again on the fresh state', async () => {
    const project = aProject({ state: S.IMAGE_CHECK });
    const { service, store, clock, effects, publisher } = setup(project);
    store.beforeApply = (id) => {
      store.beforeApply = undefined; // only the first write is overtaken
      store.writeBehindTheBack(id, {
        set: { state: S.BUILDING },
        appendHistory: { from: S.IMAGE_CHECK, to: S.BUILDING, at: clock.now(), event: 'build.started' },
      });
    };

    await service.handle(project._id, { kind: 'build.succeeded' });

    const stored = store.current(project._id);
    expect(store.conflicts).toBe(1);
    expect(stored.state).toBe(S.DEPLOYING);
    expect(stored.version).toBe(project.version + 2);
    // decided again from BUILDING, not from the stale IMAGE_CHECK
    expect(lastHistory(stored)).toMatchObject({ from: S.BUILDING, to: S.DEPLOYING });
    expect(publisher.calls).toEqual([expect.objectContaining({ from: S.BUILDING, to: S.DEPLOYING })]);
    expect(effects.statesEntered()).toEqual([S.DEPLOYING]);
  });

  it('after a conflict, the fresh state may make the event moot: no transition, no effect', async () => {
    const project = aProject({ state: S.BUILDING });
    const { service, store, clock, effects, publisher } = setup(project);
    store.beforeApply = (id) => {
      store.beforeApply = undefined;
      store.writeBehindTheBack(id, {
        set: { state: S.CANCELLED, deadlineAt: null },
        appendHistory: { from: S.BUILDING, to: S.CANCELLED, at: clock.now(), event: 'cancel' },
      });
    };

    const result = await service.handle(project._id, { kind: 'build.succeeded', image: anImage() });

    expect(result?.state).toBe(S.CANCELLED);
    expect(store.current(project._id).image).toBeUndefined();
    expect(effects.entered).toHaveLength(0);
    expect(publisher.calls).toHaveLength(0);
  });

  it('keeps what the concurrent writer stored when its own retry wins', async () => {
    const project = aProject({ state: S.TRAINING });
    const { service, store, clock } = setup(project);
    store.beforeApply = (id) => {
      store.beforeApply = undefined;
      store.writeBehindTheBack(id, { appendRound: { ...aRound(1), at: clock.now() } });
    };

    await service.handle(project._id, { kind: 'training.completed', model: aModel(), finalMetrics: { accuracy: 0.9 } });

    const stored = store.current(project._id);
    expect(stored.rounds.map((r) => r.round)).toEqual([1]);
    expect(stored.model).toEqual(aModel());
    expect(stored.finalMetrics).toEqual({ accuracy: 0.9 });
    expect(stored.state).toBe(S.COMPLETED); // FINALIZING's effect follows up with `finalized`
  });

  it('gives up after 10 conflicting writes, and the project queue keeps working afterwards', async () => {
    const project = aProject({ state: S.SUBMITTED });
    const { service, store, effects } = setup(project);
    let overtaken = 0;
    store.beforeApply = (id) => {
      if (++overtaken <= 10) store.writeBehindTheBack(id, {}); // exactly the first event's ten attempts
    };

    const first = service.handle(project._id, { kind: 'start' });
    const queuedBehind = service.handle(project._id, { kind: 'start' });

    await expect(first).rejects.toThrow(/gave up after 10/);
    expect(effects.entered).toHaveLength(0);
    await expect(queuedBehind).resolves.toMatchObject({ state: S.IMAGE_CHECK });
    expect(store.applies.map((a) => a.won)).toEqual([...Array(10).fill(false), true]);
  });

  it('applies the events of one project one at a time, in arrival order', async () => {
    const project = aProject({ state: S.IMAGE_CHECK });
    const { service, store, publisher } = setup(project);

    const started = service.handle(project._id, { kind: 'build.started' });
    const succeeded = service.handle(project._id, { kind: 'build.succeeded', image: anImage() });
    await Promise.all([started, succeeded]);

    expect(store.conflicts).toBe(0);
    expect(store.current(project._id).history.map((h) => h.to)).toEqual([S.IMAGE_CHECK, S.BUILDING, S.DEPLOYING]);
    expect(publisher.calls.map((c) => c.to)).toEqual([S.BUILDING, S.DEPLOYING]);
  });

  it('a slow effect of one project does not hold up another project', async () => {
    const slow = aProject({ state: S.BUILDING });
    const other = aProject({ state: S.SUBMITTED });
    const { service, store, effects } = setup(slow, other);
    let release!: () => void;
    const gate = new Promise<null>((resolve) => (release = () => resolve(null)));
    effects.overrides[S.DEPLOYING] = () => gate;
    let slowFinished = false;

    const slowDone = service.handle(slow._id, { kind: 'build.succeeded', image: anImage() }).then(() => (slowFinished = true));
    await service.handle(other._id, { kind: 'start' });

    expect(store.current(other._id).state).toBe(S.IMAGE_CHECK);
    expect(slowFinished).toBe(false);
    release();
    await slowDone;
    expect(store.current(slow._id).state).toBe(S.DEPLOYING);
  });
});

describe('ProjectLifecycleService: rounds', () => {
  it('the first round.completed while DEPLOYING moves to TRAINING and records the round', async () => {
    const project = aProject({ state: S.DEPLOYING });
    const { service, store, clock, effects } = setup(project);

    await service.handle(project._id, roundCompleted(1));

    const stored = store.current(project._id);
    expect(stored.state).toBe(S.TRAINING);
    expect(stored.rounds).toEqual([{ ...aRound(1), at: clock.now() }]);
    expect(stored.deadlineAt).toEqual(clock.plus(DEADLINES[S.TRAINING]));
    expect(effects.statesEntered()).toEqual([S.TRAINING]);
  });

  it('a duplicate round.completed for the same round is appended once', async () => {
    const project = aProject({ state: S.TRAINING });
    const { service, store, effects, publisher } = setup(project);

    await service.handle(project._id, roundCompleted(1));
    const afterFirst = store.current(project._id);
    const second = await service.handle(project._id, roundCompleted(1));

    expect(second).toEqual(afterFirst);
    expect(store.current(project._id).rounds.map((r) => r.round)).toEqual([1]);
    expect(store.applies).toHaveLength(1);
    // staying in TRAINING is no state change: nothing published, no effect
    expect(publisher.calls).toHaveLength(0);
    expect(effects.entered).toHaveLength(0);
  });

  it('concurrent duplicates of a round, even from two processes, are appended once', async () => {
    const project = aProject({ state: S.TRAINING });
    const { service, newService, store } = setup(project);
    const other = newService();

    await Promise.all([
      service.handle(project._id, roundCompleted(2)),
      service.handle(project._id, roundCompleted(2)),
      other.handle(project._id, roundCompleted(2)),
    ]);

    expect(store.current(project._id).rounds.map((r) => r.round)).toEqual([2]);
    expect(store.current(project._id).version).toBe(project.version + 1);
  });

  it('keeps distinct rounds in arrival order', async () => {
    const project = aProject({ state: S.TRAINING });
    const { service, store } = setup(project);

    await Promise.all([1, 2, 3].map((round) => service.handle(project._id, roundCompleted(round))));

    expect(store.current(project._id).rounds.map((r) => r.round)).toEqual([1, 2, 3]);
  });

  it('round.completed in TRAINING pushes the deadline forward from the time of the round', async () => {
    const project = aProject({ state: S.TRAINING, deadlineAt: new Date(T0 + 1_000) });
    const { service, store, clock } = setup(project);

    clock.advance(40_000);
    await service.handle(project._id, roundCompleted(1));
    expect(store.current(project._id).deadlineAt).toEqual(clock.plus(DEADLINES[S.TRAINING]));

    clock.advance(40_000);
    await service.handle(project._id, roundCompleted(2));
    expect(store.current(project._id).deadlineAt).toEqual(clock.plus(DEADLINES[S.TRAINING]));
    expect(store.current(project._id).rounds.map((r) => r.at)).toEqual([new Date(T0 + 40_000), new Date(T0 + 80_000)]);
  });

  it('deadlines grow with a long round timeout: joining gets one plus start-up, a round four plus a minute', async () => {
    const project = aProject({ state: S.BUILDING, training: aTrainingConfig({ roundTimeoutSeconds: 600 }) });
    const { service, store, clock } = setup(project);

    await service.handle(project._id, { kind: 'build.succeeded', image: anImage() });
    expect(store.current(project._id).deadlineAt).toEqual(clock.plus(600_000 + 120_000));

    await service.handle(project._id, { kind: 'training.started' });
    expect(store.current(project._id).deadlineAt).toEqual(clock.plus(4 * 600_000 + 60_000));

    clock.advance(5_000);
    await service.handle(project._id, roundCompleted(1));
    expect(store.current(project._id).deadlineAt).toEqual(clock.plus(4 * 600_000 + 60_000));
  });

  it('a duplicate round does not push the deadline', async () => {
    const project = aProject({ state: S.TRAINING });
    const { service, store, clock } = setup(project);

    await service.handle(project._id, roundCompleted(1));
    const deadline = store.current(project._id).deadlineAt;
    clock.advance(30_000);
    await service.handle(project._id, roundCompleted(1));

    expect(store.current(project._id).deadlineAt).toEqual(deadline);
  });

  it('a round overtaken by training.completed is still recorded in FINALIZING, without touching the deadline', async () => {
    const deadlineAt = new Date(T0 + 6_000);
    const project = aProject({ state: S.FINALIZING, deadlineAt, rounds: [{ ...aRound(1), at: new Date(T0 - 1) }] });
    const { service, store } = setup(project);

    await service.handle(project._id, roundCompleted(2));

    const stored = store.current(project._id);
    expect(stored.state).toBe(S.FINALIZING);
    expect(stored.rounds.map((r) => r.round)).toEqual([1, 2]);
    expect(stored.deadlineAt).toEqual(deadlineAt);
  });

  it('a round.completed without round data in TRAINING writes nothing', async () => {
    const project = aProject({ state: S.TRAINING });
    const { service, store } = setup(project);

    await service.handle(project._id, { kind: 'round.completed', round: 4 });

    expect(store.applies).toHaveLength(0);
  });
});

describe('ProjectLifecycleService: effects', () => {
  it('an effect throwing in DEPLOYING fails the project at stage deployment with the error message', async () => {
    const project = aProject({ state: S.BUILDING });
    const { service, store, clock, effects, publisher } = setup(project);
    effects.overrides[S.DEPLOYING] = () => {
      throw new Error('cannot start learner-0: image not found');
    };

    await service.handle(project._id, { kind: 'build.succeeded', image: anImage() });

    const stored = store.current(project._id);
    expect(stored.state).toBe(S.FAILED);
    expect(stored.failure).toEqual({ stage: 'deployment', reason: 'cannot start learner-0: image not found', at: clock.now() });
    expect(stored.history.slice(-2).map((h) => [h.from, h.to, h.event])).toEqual([
      [S.BUILDING, S.DEPLOYING, 'build.succeeded'],
      [S.DEPLOYING, S.FAILED, 'deployment.failed'],
    ]);
    expect(effects.statesEntered()).toEqual([S.DEPLOYING, S.FAILED]);
    expect(publisher.calls.map((c) => c.to)).toEqual([S.DEPLOYING, S.FAILED]);
  });

  it('a non-Error thrown by an effect becomes the reason as a string', async () => {
    const project = aProject({ state: S.SUBMITTED });
    const { service, store, effects } = setup(project);
    effects.overrides[S.IMAGE_CHECK] = () => {
      throw 'broker unreachable';  
    };

    await service.handle(project._id, { kind: 'start' });

    expect(store.current(project._id).failure).toMatchObject({ stage: 'build', reason: 'broker unreachable' });
  });

  it('an effect failure in a state without a failure event leaves the project where it is', async () => {
    const project = aProject({ state: S.DEPLOYING });
    const { service, store, effects } = setup(project);
    effects.overrides[S.TRAINING] = () => {
      throw new Error('nothing to do in TRAINING anyway');
    };

    await expect(service.handle(project._id, { kind: 'training.started' })).resolves.toMatchObject({ state: S.TRAINING });

    expect(store.current(project._id).state).toBe(S.TRAINING);
    expect(store.current(project._id).failure).toBeUndefined();
  });

  it('a clean-up failure after the project ended does not throw or change the end state', async () => {
    const project = aProject({ state: S.TRAINING });
    const { service, store, effects } = setup(project);
    effects.overrides[S.CANCELLED] = () => {
      throw new Error('driver gone');
    };

    await service.handle(project._id, { kind: 'cancel' });

    expect(store.current(project._id).state).toBe(S.CANCELLED);
  });

  it('FINALIZING follows up with finalized → COMPLETED, keeping model and metrics', async () => {
    const project = aProject({ state: S.TRAINING });
    const { service, store, clock, effects, publisher } = setup(project);

    await service.handle(project._id, { kind: 'training.completed', model: aModel(), finalMetrics: { accuracy: 0.93 } });

    const stored = store.current(project._id);
    expect(stored.state).toBe(S.COMPLETED);
    expect(stored.model).toEqual(aModel());
    expect(stored.finalMetrics).toEqual({ accuracy: 0.93 });
    expect(stored.deadlineAt).toBeNull();
    expect(stored.history.slice(-2)).toEqual([
      { from: S.TRAINING, to: S.FINALIZING, at: clock.now(), event: 'training.completed' },
      { from: S.FINALIZING, to: S.COMPLETED, at: clock.now(), event: 'finalized' },
    ]);
    expect(effects.statesEntered()).toEqual([S.FINALIZING, S.COMPLETED]);
    expect(publisher.calls.map((c) => [c.from, c.to])).toEqual([
      [S.TRAINING, S.FINALIZING],
      [S.FINALIZING, S.COMPLETED],
    ]);
  });

  it('FINALIZING without a stored model fails at stage finalization', async () => {
    const project = aProject({ state: S.TRAINING });
    const { service, store } = setup(project);

    await service.handle(project._id, { kind: 'training.completed' });

    expect(store.current(project._id)).toMatchObject({
      state: S.FAILED,
      failure: { stage: 'finalization', reason: 'training ended without a stored model' },
    });
  });

  it('resume runs the effect of the current state again, with its follow-up', async () => {
    const project = aProject({ state: S.SUBMITTED });
    const { service, store, effects, publisher } = setup(project);

    await service.resume(project._id);

    expect(effects.statesEntered()).toEqual([S.SUBMITTED, S.IMAGE_CHECK]);
    expect(store.current(project._id).state).toBe(S.IMAGE_CHECK);
    expect(publisher.calls.map((c) => c.to)).toEqual([S.IMAGE_CHECK]);
  });

  it('resume of DEPLOYING whose effect throws fails the project', async () => {
    const project = aProject({ state: S.DEPLOYING });
    const { service, store, effects } = setup(project);
    effects.overrides[S.DEPLOYING] = () => Promise.reject(new Error('spawn ENOENT'));

    await service.resume(project._id);

    expect(store.current(project._id).failure).toMatchObject({ stage: 'deployment', reason: 'spawn ENOENT' });
  });

  it('resume re-reads the project and never runs the effect of a state it has left', async () => {
    const project = aProject({ state: S.DEPLOYING });
    const { service, store, effects } = setup(project);
    // Events handled before the resume ran (e.g. queued at the broker while we were down) ended it.
    await service.handle(project._id, { kind: 'cancel' });
    effects.entered.length = 0;

    await service.resume(project._id);

    expect(effects.entered).toHaveLength(0); // nothing deployed again for a CANCELLED project
    expect(store.current(project._id).state).toBe(S.CANCELLED);
  });

  it('the whole path from SUBMITTED to COMPLETED, with a cache hit', async () => {
    const project = aProject({ state: S.SUBMITTED });
    const { service, store } = setup(project);
    const id = project._id;

    await service.resume(id);
    await service.handle(id, { kind: 'build.succeeded', image: { ...anImage(), cacheHit: true } });
    await service.handle(id, { kind: 'training.started' });
    for (const round of [1, 2, 3]) await service.handle(id, roundCompleted(round));
    await service.handle(id, { kind: 'training.completed', model: aModel(), finalMetrics: { accuracy: 0.9 } });

    const stored = store.current(id);
    expect(stored.history.map((h) => h.to)).toEqual([S.SUBMITTED, S.IMAGE_CHECK, S.DEPLOYING, S.TRAINING, S.FINALIZING, S.COMPLETED]);
    expect(stored.rounds.map((r) => r.round)).toEqual([1, 2, 3]);
    expect(stored.image?.cacheHit).toBe(true);
  });
});

describe('ProjectLifecycleService: announcing a state change (issue 5, case 5)', () => {
  it('runs the effect of a state before announcing it, and the follow-up after both', async () => {
    const project = aProject({ state: S.SUBMITTED });
    const { service, effects, publisher } = setup(project);
    const order: string[] = [];
    publisher.order = order;
    effects.overrides[S.IMAGE_CHECK] = (p) => {
      order.push(`effect ${p.state}`);
      return { kind: 'build.started' };
    };
    effects.overrides[S.BUILDING] = (p) => {
      order.push(`effect ${p.state}`);
      return null;
    };

    await service.handle(project._id, { kind: 'start' });

    expect(order).toEqual(['effect IMAGE_CHECK', 'announce IMAGE_CHECK', 'effect BUILDING', 'announce BUILDING']);
  });

  it('an announcement that fails keeps neither the effect nor the follow-up from running', async () => {
    const project = aProject({ state: S.FINALIZING, model: aModel() });
    const { service, store, effects, publisher } = setup(aProject({ state: S.SUBMITTED }), project);
    publisher.failWith = new Error('publish got no acknowledgement from the broker');
    const deploying = aProject({ state: S.BUILDING });
    store.put(deploying);

    await service.handle(deploying._id, { kind: 'build.succeeded', image: anImage() });
    await service.handle(project._id, { kind: 'finalized' });

    expect(effects.entered.filter((e) => e.id === deploying._id).map((e) => e.state)).toEqual([S.DEPLOYING]);
    expect(store.current(deploying._id).state).toBe(S.DEPLOYING);
    expect(store.current(project._id).state).toBe(S.COMPLETED);
    expect(effects.entered.filter((e) => e.id === project._id).map((e) => e.state)).toEqual([S.COMPLETED]);
  });
});
