import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from 'mongoose';
import { DeploymentRecord, ProjectRecord, connectDatabase, deploymentModel, projectModel } from '@flops/models';
import {
  ApiClient,
  ChaosOutcome,
  ChaosStrike,
  PLATFORM_VICTIMS,
  PlatformService,
  PlatformUnderTest,
  ProjectJson,
  TERMINAL,
  chaosVerdict,
  exampleRepoCopy,
  infraEnv,
  isComponent,
  leftoversOf,
  planChaos,
  printLogsOfFailedTest,
  processAlive,
} from '@flops/testing';

/**
 * The chaos tier: projects run two at a time while a random component dies at a random moment
 * (SIGKILL): the orchestrator, the builder, the manager API, an aggregator or a learner. Killed
 * platform services come back after a random downtime. Every project must reach the right end with
 * its whole round history, nothing may be stuck and nothing left running.
 * FLOPS_CHAOS_SEED replays a run; FLOPS_CHAOS_PROJECTS changes its size (at least 12 in CI).
 */
const SEED = Number(process.env.FLOPS_CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));
const PROJECTS = Number(process.env.FLOPS_CHAOS_PROJECTS ?? 12);
const AT_A_TIME = 2;
const ROUNDS = 4;
const LEARNERS = 3;
const PROJECT_TIMEOUT_MS = 360_000;
const training = { rounds: ROUNDS, learners: LEARNERS, minLearnersPerRound: 2, hyperparameters: { epochs: 1 }, roundTimeoutSeconds: 30, seed: 3 };
const LIMITS = { learners: LEARNERS, maxServiceDelayMs: 15_000, maxBuilderDelayMs: 3_000, maxComponentDelayMs: 8_000, maxDowntimeMs: 8_000 };

jest.setTimeout(60 * 60_000);

describe(`chaos: ${PROJECTS} projects, ${AT_A_TIME} at a time, one random kill each (seed ${SEED})`, () => {
  const platform = new PlatformUnderTest();
  const services = [...PLATFORM_VICTIMS] as PlatformService[];
  let api: ApiClient;
  let db: Connection;
  /** A killed service is restarted by the strike that killed it; another strike waits for it. */
  const serviceBusy = new Map<PlatformService, Promise<void>>();

  beforeAll(async () => {
    await platform.start(...services);
    api = await ApiClient.checked(platform.apiUrl);
    db = await connectDatabase(infraEnv().MONGO_URL, platform.dbName);
  });

  afterAll(async () => {
    await platform.stop();
    await db?.close();
  });

  afterEach(() => printLogsOfFailedTest(platform, services, 60));

  /** The project, or null while the manager API is down (it is one of the victims). */
  async function look(id: string): Promise<ProjectJson | null> {
    try {
      return platform.isRunning('manager-api') ? await api.get(id) : null;
    } catch {
      return null;
    }
  }

  async function waitForEnd(id: string): Promise<ProjectJson | null> {
    const deadline = Date.now() + PROJECT_TIMEOUT_MS;
    while (Date.now() < deadline) {
      const project = await look(id);
      if (project && TERMINAL.includes(project.state)) return project;
      await sleep(300);
    }
    return null;
  }

  /** The state as stored, read from the database: the manager API may be the one that is down. */
  async function storedState(id: string): Promise<string> {
    return (await projectModel(db).findById(id).lean<ProjectRecord>().exec())?.state ?? 'unknown';
  }

  async function strikeService(id: string, service: PlatformService, strike: ChaosStrike): Promise<string | null> {
    await sleep(strike.delayMs);
    while (serviceBusy.has(service)) await serviceBusy.get(service);
    const stateAtStrike = await storedState(id);
    const outage = (async () => {
      await platform.kill(service);
      await sleep(strike.downtimeMs);
      await platform.start(service);
    })();
    serviceBusy.set(service, outage);
    try {
      await outage;
    } finally {
      serviceBusy.delete(service);
    }
    return stateAtStrike;
  }

  /** Kills the component once it is up, or returns null if the project ended before that. */
  async function strikeComponent(id: string, strike: ChaosStrike): Promise<string | null> {
    const component = strike.victim === 'aggregator' ? 'aggregator' : `learner-${strike.learner}`;
    const started = Date.now();
    let pid: number | undefined;
    while (Date.now() - started < PROJECT_TIMEOUT_MS) {
      const record = await deploymentModel(db).findById(`${id}/${component}`).lean<DeploymentRecord>().exec();
      if (record?.status === 'running' && processAlive(record.handle.pid)) {
        pid = record.handle.pid;
        break;
      }
      const project = await look(id);
      if (project && TERMINAL.includes(project.state)) return null;
      await sleep(200);
    }
    if (!pid) return null;
    await sleep(strike.delayMs);
    const stateAtStrike = await storedState(id);
    if (!processAlive(pid)) return null;
    process.kill(pid, 'SIGKILL');
    return stateAtStrike;
  }

  async function runOne(index: number, strike: ChaosStrike): Promise<ChaosOutcome & { id: string; seconds: number }> {
    // A revision of its own for each project: every project builds, so the builder has work to lose.
    const repo = exampleRepoCopy({ change: (dir) => writeFileSync(join(dir, 'chaos.txt'), `${SEED}-${index}\n`) });
    const t0 = Date.now();
    try {
      const submitted = await api.submit({ repo: { url: repo.dir }, training });
      const [stateAtStrike, end] = await Promise.all([
        isComponent(strike.victim) ? strikeComponent(submitted.id, strike) : strikeService(submitted.id, strike.victim, strike),
        waitForEnd(submitted.id),
      ]);
      return {
        id: submitted.id,
        seconds: (Date.now() - t0) / 1000,
        strike,
        stateAtStrike,
        plannedRounds: ROUNDS,
        end: end && {
          state: end.state,
          rounds: end.rounds.map((r) => r.round),
          failure: end.failure,
          modelDigest: end.model?.digest,
        },
        leftovers: end ? await leftoversOf(db, submitted.id) : [],
      };
    } finally {
      repo.remove();
    }
  }

  it('ends every project right, with its whole round history, nothing stuck and nothing orphaned', async () => {
    const plan = planChaos(SEED, PROJECTS, LIMITS);
    const outcomes: Awaited<ReturnType<typeof runOne>>[] = [];
    const t0 = Date.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: AT_A_TIME }, async () => {
        while (next < plan.length) {
          const index = next++;
          outcomes[index] = await runOne(index, plan[index]);
        }
      }),
    );

    const rows = outcomes.map((o) => ({
      project: o.id,
      victim: o.strike.victim === 'learner' ? `learner-${o.strike.learner}` : o.strike.victim,
      'strike after (s)': (o.strike.delayMs / 1000).toFixed(1),
      'down (s)': isComponent(o.strike.victim) ? '-' : (o.strike.downtimeMs / 1000).toFixed(1),
      'state at strike': o.stateAtStrike ?? 'missed',
      end: o.end?.state ?? 'STUCK',
      rounds: o.end?.rounds.length ?? '-',
      seconds: o.seconds.toFixed(0),
      problems: chaosVerdict(o).join('; ') || 'none',
    }));
    const ends = rows.reduce<Record<string, number>>((acc, r) => ({ ...acc, [r.end]: (acc[r.end] ?? 0) + 1 }), {});
    console.log(
      `chaos, seed ${SEED}: ${PROJECTS} projects, ${AT_A_TIME} at a time, in ${((Date.now() - t0) / 1000).toFixed(0)} s; ends ${JSON.stringify(ends)}\n` +
        rows.map((r) => Object.entries(r).map(([k, v]) => `${k}=${v}`).join('  ')).join('\n'),
    );

    expect(rows.filter((r) => r.problems !== 'none')).toEqual([]);
    // The platform is whole afterwards.
    for (const service of services) expect(await platform.healthy(service)).toBe(true);
  });
});
