/**
 * ProjectStore against the real MongoDB-wire database (FerretDB from tools/infra.sh), in a
 * database of its own that is dropped at the end.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from 'mongoose';
import { ProjectState } from '@flops/lifecycle';
import { infraEnv } from '@flops/testing';
import { connectDatabase } from './connection';
import { projectModel, RoundRecord } from './project.model';
import { NewProject, ProjectStore } from './project.store';

const RUN = randomBytes(5).toString('hex');
const MONGO_URL = infraEnv().MONGO_URL;
const DB_NAME = `flops_int_store_${RUN}`;

let seq = 0;
function newProject(overrides: Partial<NewProject> = {}): NewProject {
  seq++;
  return {
    _id: `p-${RUN}-${String(seq).padStart(3, '0')}`,
    name: `project ${seq}`,
    state: ProjectState.SUBMITTED,
    repo: { url: '/tmp/some/repo', ref: 'main' },
    training: {
      rounds: 3,
      learners: 2,
      minLearnersPerRound: 2,
      strategy: 'fedavg',
      strategyParams: {},
      fractionFit: 1,
      fractionEvaluate: 1,
      hyperparameters: { lr: 0.01, batchSize: 32, shuffle: true, optimizer: 'adam' },
      dataTags: ['digits'],
      roundTimeoutSeconds: 60,
      seed: 42,
    },
    resources: { cpus: 1, memoryMiB: 512 },
    deadlineAt: new Date(Date.now() + 60_000),
    ...overrides,
  };
}

function round(n: number, overrides: Partial<RoundRecord> = {}): RoundRecord {
  return {
    round: n,
    learners: 2,
    samples: 1000 + n,
    trainMetrics: { loss: 0.1 * n, accuracy: 0.9 },
    evalMetrics: { loss: 0.25, accuracy: 0.875, 'top-5': 1 },
    durationMs: 1234,
    at: new Date(),
    ...overrides,
  };
}

// Concurrent-writer trials make many round trips; a loaded shared machine needs more than Jest's 5 s.
jest.setTimeout(60_000);

describe('ProjectStore (real database)', () => {
  let connection: Connection;
  let store: ProjectStore;

  beforeAll(async () => {
    connection = await connectDatabase(MONGO_URL, DB_NAME);
    store = new ProjectStore(connection);
    await projectModel(connection).init(); // indexes exist before the tests race on them
  });

  afterAll(async () => {
    if (connection) {
      await connection.dropDatabase();
      await connection.close();
    }
  });

  /** Each test works on an empty collection, so counts and orders are exact. */
  beforeEach(async () => {
    await projectModel(connection).deleteMany({}).exec();
  });

  describe('create / get', () => {
    it('stores a new project at version 0 with a "submitted" history entry and timestamps', async () => {
      const input = newProject();
      const before = Date.now();
      const created = await store.create(input);
      expect(created).toMatchObject({ _id: input._id, name: input.name, state: ProjectState.SUBMITTED, version: 0, rounds: [] });
      expect(created.history).toHaveLength(1);
      expect(created.history[0]).toMatchObject({ from: null, to: ProjectState.SUBMITTED, event: 'submitted' });
      expect(created.createdAt.getTime()).toBeGreaterThanOrEqual(before - 1000);

      const stored = await store.get(input._id);
      expect(stored).not.toBeNull();
      expect(stored!._id).toBe(input._id);
      expect(stored!.version).toBe(0);
      expect(stored!.repo).toEqual({ url: '/tmp/some/repo', ref: 'main' });
      expect(stored!.training).toEqual(input.training);
      expect(stored!.resources).toEqual({ cpus: 1, memoryMiB: 512 });
      expect(stored!.deadlineAt).toEqual(input.deadlineAt);
      expect(stored!.history).toEqual([{ from: null, to: ProjectState.SUBMITTED, at: created.history[0].at, event: 'submitted' }]);
      expect(stored!.createdAt).toBeInstanceOf(Date);
      expect(stored!.updatedAt).toBeInstanceOf(Date);
      expect(stored!.cleanedUpAt).toBeUndefined();
    });

    it('get of an unknown id is null', async () => {
      expect(await store.get(`nope-${RUN}`)).toBeNull();
    });

    it('refuses a second project with the same id', async () => {
      const input = newProject();
      await store.create(input);
      await expect(store.create({ ...input, name: 'duplicate' })).rejects.toThrow(/duplicate key|E11000/i);
      expect((await store.get(input._id))!.name).toBe(input.name);
    });
  });

  describe('list', () => {
    const ids: string[] = [];

    beforeEach(async () => {
      ids.length = 0;
      const states = [
        ProjectState.SUBMITTED,
        ProjectState.TRAINING,
        ProjectState.COMPLETED,
        ProjectState.TRAINING,
        ProjectState.FAILED,
        ProjectState.TRAINING,
      ];
      for (const state of states) {
        const p = await store.create(newProject({ state }));
        ids.push(p._id);
        await sleep(15); // distinct createdAt
      }
    });

    it('lists everything newest first with the total', async () => {
      const { items, total } = await store.list({ limit: 100, skip: 0 });
      expect(total).toBe(6);
      expect(items.map((p) => p._id)).toEqual([...ids].reverse());
      for (let i = 1; i < items.length; i++) {
        expect(items[i - 1].createdAt.getTime()).toBeGreaterThanOrEqual(items[i].createdAt.getTime());
      }
    });

    it('pages with limit and skip; total counts every match, not the page', async () => {
      const newestFirst = [...ids].reverse();
      const page1 = await store.list({ limit: 2, skip: 0 });
      const page2 = await store.list({ limit: 2, skip: 2 });
      const page4 = await store.list({ limit: 2, skip: 6 });
      expect(page1.items.map((p) => p._id)).toEqual(newestFirst.slice(0, 2));
      expect(page2.items.map((p) => p._id)).toEqual(newestFirst.slice(2, 4));
      expect(page1.total).toBe(6);
      expect(page2.total).toBe(6);
      expect(page4).toEqual({ items: [], total: 6 });
    });

    it('filters by state (combined with paging)', async () => {
      const training = await store.list({ state: ProjectState.TRAINING, limit: 10, skip: 0 });
      expect(training.total).toBe(3);
      expect(training.items.map((p) => p._id)).toEqual([ids[5], ids[3], ids[1]]);
      expect(training.items.every((p) => p.state === ProjectState.TRAINING)).toBe(true);

      const secondTraining = await store.list({ state: ProjectState.TRAINING, limit: 1, skip: 1 });
      expect(secondTraining).toMatchObject({ total: 3 });
      expect(secondTraining.items.map((p) => p._id)).toEqual([ids[3]]);

      expect(await store.list({ state: ProjectState.CANCELLED, limit: 10, skip: 0 })).toEqual({ items: [], total: 0 });
    });
  });

  describe('apply', () => {
    it('applies a change at the expected version and increments the version', async () => {
      const p = await store.create(newProject());
      const deadline = new Date(Date.now() + 120_000);
      const updated = await store.apply(p._id, 0, {
        set: { state: ProjectState.IMAGE_CHECK, deadlineAt: deadline },
        appendHistory: { from: ProjectState.SUBMITTED, to: ProjectState.IMAGE_CHECK, at: new Date(), event: 'accepted' },
      });
      expect(updated).not.toBeNull();
      expect(updated!.version).toBe(1);
      expect(updated!.state).toBe(ProjectState.IMAGE_CHECK);
      expect(updated!.deadlineAt).toEqual(deadline);
      expect(updated!.history.map((h) => h.event)).toEqual(['submitted', 'accepted']);
      expect(updated!.updatedAt.getTime()).toBeGreaterThanOrEqual(p.updatedAt.getTime());

      // what it returned is what is stored
      const stored = await store.get(p._id);
      expect(stored).toEqual(updated);

      const again = await store.apply(p._id, 1, { set: { state: ProjectState.BUILDING } });
      expect(again!.version).toBe(2);
      expect(again!.state).toBe(ProjectState.BUILDING);
      expect(again!.history).toHaveLength(2); // no history appended this time
    });

    it('an empty change still bumps the version (a pure version check-and-claim)', async () => {
      const p = await store.create(newProject());
      const updated = await store.apply(p._id, 0, {});
      expect(updated!.version).toBe(1);
      expect(updated!.state).toBe(ProjectState.SUBMITTED);
    });

    it('returns null on a stale version and changes nothing', async () => {
      const p = await store.create(newProject());
      expect(await store.apply(p._id, 0, { set: { name: 'first' } })).not.toBeNull();
      const before = await store.get(p._id);

      const stale = await store.apply(p._id, 0, {
        set: { state: ProjectState.FAILED, name: 'stale writer' },
        appendRound: round(1),
        appendHistory: { from: ProjectState.SUBMITTED, to: ProjectState.FAILED, at: new Date(), event: 'stale' },
      });
      expect(stale).toBeNull();
      expect(await store.apply(p._id, 7, { set: { name: 'future' } })).toBeNull();
      expect(await store.get(p._id)).toEqual(before);
      expect(before).toMatchObject({ version: 1, name: 'first', state: ProjectState.SUBMITTED, rounds: [] });
    });

    it('finishes a write whose writer died after claiming the version (the next reader completes it)', async () => {
      const p = await store.create(newProject());
      // A writer claimed version 1 and died before writing the project: only its claim exists.
      const change = {
        set: { state: ProjectState.IMAGE_CHECK },
        appendHistory: { from: ProjectState.SUBMITTED, to: ProjectState.IMAGE_CHECK, at: new Date(), event: 'start' },
      };
      await connection.collection('project_versions').insertOne({ _id: `${p._id}:1` as never, projectId: p._id, version: 1, change, at: new Date() });
      expect((await projectModel(connection).findById(p._id).lean().exec())!.version).toBe(0);

      const seen = await store.get(p._id);
      expect(seen).toMatchObject({ version: 1, state: ProjectState.IMAGE_CHECK });
      expect(seen!.history.map((h) => h.event)).toEqual(['submitted', 'start']);
      // and the version it finished cannot be claimed again
      expect(await store.apply(p._id, 0, { set: { name: 'late' } })).toBeNull();
      expect((await store.apply(p._id, 1, { set: { name: 'next' } }))!.version).toBe(2);
      expect((await store.versions(p._id)).map((v) => v.version)).toEqual([1, 2]);
    });

    it('returns null for an unknown project and does not create one', async () => {
      expect(await store.apply(`missing-${RUN}`, 0, { set: { name: 'ghost' } })).toBeNull();
      expect(await store.get(`missing-${RUN}`)).toBeNull();
    });

    // Several trials, so that a non-atomic compare-and-set shows reliably rather than by luck.
    it('of N concurrent writers with the same expected version exactly one wins', async () => {
      const N = 12;
      const badTrials: string[] = [];
      for (let trial = 0; trial < 10; trial++) {
        const p = await store.create(newProject());
        const results = await Promise.all(
          Array.from({ length: N }, (_, i) =>
            store.apply(p._id, 0, {
              set: { name: `writer-${i}` },
              appendHistory: { from: ProjectState.SUBMITTED, to: ProjectState.SUBMITTED, at: new Date(), event: `writer-${i}` },
            }),
          ),
        );
        const winners = results.flatMap((r, i) => (r ? [i] : []));
        const stored = (await store.get(p._id))!;
        const ok =
          winners.length === 1 &&
          stored.version === 1 &&
          stored.name === `writer-${winners[0]}` &&
          stored.history.map((h) => h.event).join() === `submitted,writer-${winners[0]}`;
        if (!ok) badTrials.push(`trial ${trial}: ${winners.length} winner(s) [${winners.join(',')}], stored version ${stored.version}, name ${stored.name}`);
      }
      expect(badTrials).toEqual([]);
    });

    it('concurrent writers that each re-read and retry all land, none is lost', async () => {
      const writers = 8;
      const lost: string[] = [];
      for (let trial = 0; trial < 5; trial++) {
        const p = await store.create(newProject({ state: ProjectState.TRAINING }));
        await Promise.all(
          Array.from({ length: writers }, async (_, i) => {
            for (let attempt = 0; attempt < 100; attempt++) {
              const current = (await store.get(p._id))!;
              if (await store.apply(p._id, current.version, { appendRound: round(i + 1) })) return;
            }
            throw new Error(`writer ${i} never got through`);
          }),
        );
        const stored = (await store.get(p._id))!;
        const rounds = stored.rounds.map((r) => r.round).sort((a, b) => a - b);
        if (stored.version !== writers || rounds.join() !== '1,2,3,4,5,6,7,8') {
          lost.push(`trial ${trial}: version ${stored.version}, rounds [${rounds.join(',')}]`);
        }
      }
      expect(lost).toEqual([]);
    });

    it('$set, appendRound and appendHistory land together; metrics maps round-trip', async () => {
      const p = await store.create(newProject({ state: ProjectState.TRAINING }));
      const r1 = round(1);
      const afterFirst = await store.apply(p._id, 0, { appendRound: r1 });
      expect(afterFirst!.rounds).toEqual([r1]);

      const r2 = round(2, { trainMetrics: { loss: 0.1, accuracy: 0.9 }, evalMetrics: {} });
      const image = {
        reference: '127.0.0.1:5000/flops/learners/x:abc-tfjs4.22-r1',
        digest: `sha256:${'a'.repeat(64)}`,
        sourceRevision: 'abc',
        cacheHit: true,
        durations: { fetchMs: 1, checkMs: 2, buildMs: 0, pushMs: 0 },
      };
      const failure = { stage: 'training' as const, reason: 'learner-1 exited with code 3', at: new Date() };
      const history = { from: ProjectState.TRAINING, to: ProjectState.FAILED, at: new Date(), event: 'component-exited', reason: 'code 3' };
      const updated = await store.apply(p._id, 1, {
        set: {
          state: ProjectState.FAILED,
          finalMetrics: { loss: 0.1, accuracy: 0.9 },
          image,
          model: { reference: '127.0.0.1:5000/flops/models/x:final', digest: `sha256:${'b'.repeat(64)}`, sizeBytes: 4096 },
          failure,
          deadlineAt: null,
        },
        appendRound: r2,
        appendHistory: history,
      });
      expect(updated!.version).toBe(2);

      const stored = (await store.get(p._id))!;
      expect(stored.state).toBe(ProjectState.FAILED);
      expect(stored.rounds).toEqual([r1, r2]);
      expect(stored.rounds[0].trainMetrics).toEqual({ loss: 0.1, accuracy: 0.9 });
      expect(stored.rounds[0].evalMetrics).toEqual({ loss: 0.25, accuracy: 0.875, 'top-5': 1 });
      expect(stored.rounds[1].evalMetrics).toEqual({}); // an empty map is kept, not dropped
      expect(stored.finalMetrics).toEqual({ loss: 0.1, accuracy: 0.9 });
      expect(stored.image).toEqual(image);
      expect(stored.model).toEqual({ reference: '127.0.0.1:5000/flops/models/x:final', digest: `sha256:${'b'.repeat(64)}`, sizeBytes: 4096 });
      expect(stored.failure).toEqual(failure);
      expect(stored.deadlineAt).toBeNull();
      expect(stored.history).toHaveLength(2);
      expect(stored.history[1]).toEqual(history);
      // untouched fields survive a partial $set
      expect(stored.training).toEqual(p.training);
      expect(stored.repo).toEqual(p.repo);
    });
  });

  describe('sweeper queries', () => {
    const idsOf = (ps: { _id: string }[]) => ps.map((p) => p._id).sort();

    it('unfinished lists every project in a non-terminal state', async () => {
      const all = await Promise.all(Object.values(ProjectState).map((state) => store.create(newProject({ state }))));
      const unfinished = await store.unfinished();
      const expected = all
        .filter((p) => ![ProjectState.COMPLETED, ProjectState.FAILED, ProjectState.CANCELLED].includes(p.state))
        .map((p) => p._id)
        .sort();
      expect(expected).toHaveLength(6);
      expect(idsOf(unfinished)).toEqual(expected);
    });

    it('overdue(now): non-terminal projects whose deadline has passed', async () => {
      const now = new Date();
      const past = new Date(now.getTime() - 1000);
      const future = new Date(now.getTime() + 60_000);
      const late = await store.create(newProject({ state: ProjectState.BUILDING, deadlineAt: past }));
      const lateTraining = await store.create(newProject({ state: ProjectState.TRAINING, deadlineAt: new Date(now.getTime() - 1) }));
      await store.create(newProject({ state: ProjectState.BUILDING, deadlineAt: future })); // not yet
      await store.create(newProject({ state: ProjectState.TRAINING, deadlineAt: now })); // exactly now: not overdue yet
      await store.create(newProject({ state: ProjectState.COMPLETED, deadlineAt: past })); // terminal
      await store.create(newProject({ state: ProjectState.FAILED, deadlineAt: null }));
      await store.create(newProject({ state: ProjectState.TRAINING, deadlineAt: null })); // no deadline
      expect(idsOf(await store.overdue(now))).toEqual([late._id, lateTraining._id].sort());
      expect(idsOf(await store.overdue(new Date(now.getTime() + 120_000)))).toHaveLength(4);
    });

    it('waitingSince(before): SUBMITTED projects created before the cut-off', async () => {
      const old = await store.create(newProject({ state: ProjectState.SUBMITTED }));
      const oldBuilding = await store.create(newProject({ state: ProjectState.BUILDING }));
      await sleep(30);
      const cut = new Date();
      await sleep(30);
      await store.create(newProject({ state: ProjectState.SUBMITTED }));
      expect(idsOf(await store.waitingSince(cut))).toEqual([old._id]);
      expect(oldBuilding.state).toBe(ProjectState.BUILDING);

      // once it moves on it is no longer waiting
      await store.apply(old._id, 0, { set: { state: ProjectState.IMAGE_CHECK } });
      expect(await store.waitingSince(cut)).toEqual([]);
    });

    it('endedNotCleanedUp(before) and markCleanedUp', async () => {
      const completed = await store.create(newProject({ state: ProjectState.COMPLETED, deadlineAt: null }));
      const failed = await store.create(newProject({ state: ProjectState.FAILED, deadlineAt: null }));
      const cancelled = await store.create(newProject({ state: ProjectState.CANCELLED, deadlineAt: null }));
      await store.create(newProject({ state: ProjectState.TRAINING }));
      const toEnd = await store.create(newProject({ state: ProjectState.TRAINING }));
      await sleep(30);
      const cut = new Date();
      await sleep(30);
      // ended after the cut: still within its grace period
      await store.apply(toEnd._id, 0, { set: { state: ProjectState.CANCELLED, deadlineAt: null } });

      expect(idsOf(await store.endedNotCleanedUp(cut))).toEqual([completed._id, failed._id, cancelled._id].sort());
      expect(idsOf(await store.endedNotCleanedUp(new Date(Date.now() + 1000)))).toEqual(
        [completed._id, failed._id, cancelled._id, toEnd._id].sort(),
      );

      const t = Date.now();
      await store.markCleanedUp(failed._id);
      const marked = (await store.get(failed._id))!;
      expect(marked.cleanedUpAt).toBeInstanceOf(Date);
      expect(marked.cleanedUpAt!.getTime()).toBeGreaterThanOrEqual(t - 1000);
      expect(marked.version).toBe(failed.version); // not a lifecycle change
      expect(idsOf(await store.endedNotCleanedUp(cut))).toEqual([completed._id, cancelled._id].sort());
      expect(idsOf(await store.endedNotCleanedUp(new Date(Date.now() + 1000)))).toEqual([completed._id, cancelled._id, toEnd._id].sort());

      // marking an unknown id is harmless
      await expect(store.markCleanedUp(`missing-${RUN}`)).resolves.toBeUndefined();
    });
  });
});
