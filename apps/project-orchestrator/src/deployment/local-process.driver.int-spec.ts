/**
 * LocalProcessDriver with real processes and the real database (FerretDB from tools/infra.sh).
 *
 * The driver runs the compiled app (`node dist/apps/<kind>/main.cjs`) in its workspace root; here
 * that root is a temporary directory holding a fake component program
 * whose behaviour is chosen by FAKE_MODE in the component's env:
 *   sleep      logs, shuts down cleanly on SIGTERM, otherwise runs forever
 *   stubborn   ignores SIGTERM and has a grandchild `sleep 1000`
 *   orphaning  dies on SIGTERM but leaves a grandchild that ignores SIGTERM
 *   exit3      exits on its own with code 3
 * Running modes write FAKE_READY_FILE (pid, cwd, env, grandchild pid) once they are set up.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Logger } from '@nestjs/common';
import { Connection } from 'mongoose';
import { FAULTS_VARIABLE, LAUNCH_ID_VARIABLE } from '@flops/contracts';
import { DeploymentModel, DeploymentRecord, connectDatabase, deploymentModel } from '@flops/models';
import { WORKSPACE_ROOT, infraEnv } from '@flops/testing';
import { ComponentExit, ComponentKind, ComponentSpec } from './deployment-driver';
import { COMPONENT_ENTRY, INHERITED_ENV, LocalDriverSettings, LocalProcessDriver, isAlive, processStartTicks } from './local-process.driver';

// A loaded 2-core machine: process starts, polls and database calls can take seconds.
jest.setTimeout(60_000);

const RUN = randomBytes(5).toString('hex');
const DB_NAME = `flops_int_driver_${RUN}`;
const MONGO_URL = infraEnv().MONGO_URL;
const FIXTURE_ORCHESTRATOR = join(__dirname, 'local-process.driver.int-fixture.ts');
const STOP_TIMEOUT_MS = 1000;
// Real processes and a real database on a loaded machine: starting a stand-in orchestrator alone takes seconds.
jest.setTimeout(60_000);

const FAKE_COMPONENT = `'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const mode = process.env.FAKE_MODE || 'sleep';
const name = process.env.FAKE_NAME || '?';
console.log('fake ' + name + ' up (mode ' + mode + ')');
console.error('fake ' + name + ' on stderr');
if (mode === 'exit3') {
  setTimeout(() => process.exit(3), 300);
} else {
  if (mode === 'sleep') {
    process.on('SIGTERM', () => {
      console.log('SIGTERM: shutting down');
      process.exit(0);
    });
  }
  if (mode === 'stubborn') process.on('SIGTERM', () => console.log('ignoring SIGTERM'));
  let grandchild = null;
  if (mode === 'stubborn') grandchild = spawn('sh', ['-c', 'exec sleep 1000'], { stdio: 'ignore' }).pid;
  if (mode === 'orphaning') grandchild = spawn('sh', ['-c', 'trap "" TERM; exec sleep 1000'], { stdio: 'ignore' }).pid;
  setInterval(() => {}, 1000);
  const ready = process.env.FAKE_READY_FILE;
  if (ready) {
    fs.writeFileSync(ready + '.tmp', JSON.stringify({ pid: process.pid, cwd: process.cwd(), env: process.env, grandchild }));
    fs.renameSync(ready + '.tmp', ready);
  }
}
`;

type FakeMode = 'sleep' | 'stubborn' | 'orphaning' | 'exit3';
interface ReadyInfo {
  pid: number;
  cwd: string;
  env: Record<string, string>;
  grandchild: number | null;
}

/** Process state letter from /proc, or null when there is no such process. */
function procState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] ?? null;
  } catch {
    return null;
  }
}

/** Gone: no such process, or a zombie (it has exited, only its status is left). */
function gone(pid: number): boolean {
  const state = procState(pid);
  return state === null || state === 'Z';
}

function processGroupOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}

async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

describe('LocalProcessDriver (real processes, real database)', () => {
  let connection: Connection;
  let model: DeploymentModel;
  let root: string;
  let settings: LocalDriverSettings;
  let driver: LocalProcessDriver;
  const exits: ComponentExit[] = [];
  /** Every process a test saw, with its start ticks, so afterAll can make sure none survives. */
  const seen = new Map<number, number | null>();
  const drivers: LocalProcessDriver[] = [];
  const savedEnv: Record<string, string | undefined> = {};

  const track = (pid: number | null | undefined): void => {
    if (pid) seen.set(pid, processStartTicks(pid));
  };
  const record = (projectId: string, component: string) =>
    model.findById(`${projectId}/${component}`).lean<DeploymentRecord>().exec();
  const logOf = (projectId: string, component: string) => {
    const file = join(settings.dataDir, 'projects', projectId, `${component}.log`);
    return existsSync(file) ? readFileSync(file, 'utf8') : '';
  };
  const newProjectId = (label: string) => `${label}-${randomBytes(3).toString('hex')}`;

  function spec(projectId: string, component: string, kind: ComponentKind, mode: FakeMode, env: Record<string, string> = {}): ComponentSpec {
    return {
      projectId,
      component,
      kind,
      image: `127.0.0.1:5000/flops/learners/test:${component}`,
      env: { FAKE_MODE: mode, FAKE_NAME: `${projectId}/${component}`, FAKE_READY_FILE: join(root, 'ready', `${projectId}-${component}.json`), ...env },
      resources: { cpus: 1 },
    };
  }

  async function ready(s: ComponentSpec): Promise<ReadyInfo> {
    const file = s.env.FAKE_READY_FILE;
    await waitFor(() => existsSync(file), 20_000, `${s.projectId}/${s.component} to start (log: ${logOf(s.projectId, s.component)})`);
    const info = JSON.parse(readFileSync(file, 'utf8')) as ReadyInfo;
    track(info.pid);
    track(info.grandchild);
    return info;
  }

  beforeAll(async () => {
    Logger.overrideLogger(['warn', 'error']);
    connection = await connectDatabase(MONGO_URL, DB_NAME);
    model = deploymentModel(connection);
    await model.init();
    root = mkdtempSync(join(tmpdir(), 'flops-driver-int-'));
    for (const kind of ['aggregator', 'learner'] as const) {
      mkdirSync(dirname(join(root, COMPONENT_ENTRY[kind])), { recursive: true });
      writeFileSync(join(root, COMPONENT_ENTRY[kind]), FAKE_COMPONENT);
    }
    mkdirSync(join(root, 'ready'));
    settings = { workspaceRoot: root, dataDir: join(root, 'data'), stopTimeoutMs: STOP_TIMEOUT_MS, pollIntervalMs: 100 };
    driver = new LocalProcessDriver(model, settings);
    drivers.push(driver);
    driver.onExit((exit) => exits.push(exit));

    // The orchestrator's own environment: some of it is passed on, the rest must not be.
    for (const key of ['FLOPS_CACHE_DIR', 'FLOPS_ORCHESTRATOR_SECRET', 'LANG']) savedEnv[key] = process.env[key];
    process.env.FLOPS_CACHE_DIR = join(root, 'cache');
    process.env.FLOPS_ORCHESTRATOR_SECRET = 'must-not-leak';
    process.env.LANG = 'C.UTF-8';
  });

  afterAll(async () => {
    for (const [key, value] of Object.entries(savedEnv)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    for (const d of drivers) await d.close();
    if (model) {
      for (const r of await model.find().lean<DeploymentRecord[]>().exec()) {
        if (r.handle.pid && !seen.has(r.handle.pid)) seen.set(r.handle.pid, r.handle.startTicks ?? null);
      }
    }
    const killed: number[] = [];
    for (const [pid, ticks] of seen) {
      if (!isAlive(pid, ticks ?? undefined)) continue;
      killed.push(pid);
      for (const target of [-pid, pid]) {
        try {
          process.kill(target, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
    // let the drivers handle those exits before the database goes (a late write would recreate it)
    await waitFor(() => killed.every(gone), 5000, 'left-over processes to die').catch(() => undefined);
    if (killed.length) await sleep(300);
    if (connection) {
      await connection.dropDatabase();
      await connection.close();
    }
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('deploy starts the component in the workspace root with the spec env (and only the allowed orchestrator env), recorded as running', async () => {
    const projectId = newProjectId('env');
    const s = spec(projectId, 'aggregator', 'aggregator', 'sleep', { FLOPS_PROJECT_ID: projectId, HOME: '/spec/overrides/home' });
    const before = Date.now();
    await driver.deploy(s);
    const info = await ready(s);

    const rec = await record(projectId, 'aggregator');
    expect(rec).toMatchObject({
      _id: `${projectId}/aggregator`,
      projectId,
      component: 'aggregator',
      driver: 'local',
      image: s.image,
      status: 'running',
      exitCode: null,
      exitSignal: null,
      logFile: join(settings.dataDir, 'projects', projectId, 'aggregator.log'),
    });
    expect(rec!.handle.pid).toBe(info.pid);
    expect(rec!.handle.startTicks).toBe(processStartTicks(info.pid));
    expect(rec!.handle.startTicks).toBeGreaterThan(0);
    expect(rec!.startedAt.getTime()).toBeGreaterThanOrEqual(before - 1000);
    expect(isAlive(rec!.handle.pid, rec!.handle.startTicks)).toBe(true);
    expect(processGroupOf(info.pid)).toBe(info.pid); // a process group of its own

    expect(info.cwd).toBe(root);
    const expectedKeys = new Set([...Object.keys(s.env), ...INHERITED_ENV.filter((k) => process.env[k]), LAUNCH_ID_VARIABLE]);
    expect(Object.keys(info.env).sort()).toEqual([...expectedKeys].sort());
    expect(info.env).toMatchObject({
      ...s.env, // the spec wins over inherited variables (HOME)
      PATH: process.env.PATH,
      LANG: 'C.UTF-8',
      FLOPS_CACHE_DIR: join(root, 'cache'),
    });
    expect(info.env.FLOPS_ORCHESTRATOR_SECRET).toBeUndefined();
    expect(info.env.JEST_WORKER_ID).toBeUndefined();
    expect(info.env.MONGO_URL).toBeUndefined();

    // stdout and stderr both go to the log file
    await waitFor(() => logOf(projectId, 'aggregator').includes('on stderr'), 5000, 'the log');
    expect(logOf(projectId, 'aggregator')).toContain(`fake ${projectId}/aggregator up (mode sleep)`);

    await driver.undeployProject(projectId);
    expect(gone(info.pid)).toBe(true);
  });

  it('deploying a component that is still running is a no-op', async () => {
    const projectId = newProjectId('idem');
    const s = spec(projectId, 'learner-0', 'learner', 'sleep');
    await driver.deploy(s);
    const info = await ready(s);
    const first = await record(projectId, 'learner-0');

    await driver.deploy(s);
    await driver.deploy(s);
    const again = await record(projectId, 'learner-0');
    expect(again).toEqual(first);
    expect(again!.handle.pid).toBe(info.pid);
    await sleep(500);
    expect(logOf(projectId, 'learner-0').match(/ up \(mode/g)).toHaveLength(1);

    await driver.undeployProject(projectId);
    expect(gone(info.pid)).toBe(true);
  });

  it('undeployProject stops every component of the project with its process group, escalating to SIGKILL; other projects keep running', async () => {
    const projectId = newProjectId('undeploy');
    const otherProject = newProjectId('other');
    const specs = [
      spec(projectId, 'aggregator', 'aggregator', 'sleep'),
      spec(projectId, 'learner-0', 'learner', 'stubborn'),
      spec(projectId, 'learner-1', 'learner', 'orphaning'),
    ];
    const other = spec(otherProject, 'aggregator', 'aggregator', 'sleep');
    for (const s of [...specs, other]) await driver.deploy(s);
    const [aggregator, stubborn, orphaning] = await Promise.all(specs.map(ready));
    const otherInfo = await ready(other);
    expect(stubborn.grandchild).toBeGreaterThan(0);
    expect(orphaning.grandchild).toBeGreaterThan(0);
    expect(processGroupOf(stubborn.grandchild!)).toBe(stubborn.pid);
    expect(gone(stubborn.grandchild!)).toBe(false);

    const t0 = Date.now();
    await driver.undeployProject(projectId);
    const took = Date.now() - t0;

    // everything of the project is gone, including what the components spawned
    for (const pid of [aggregator.pid, stubborn.pid, orphaning.pid]) expect(gone(pid)).toBe(true);
    await waitFor(() => gone(stubborn.grandchild!), 2000, 'the stubborn component’s grandchild to go');
    await waitFor(() => gone(orphaning.grandchild!), 2000, 'the grandchild that ignores SIGTERM to go');
    expect(took).toBeGreaterThanOrEqual(STOP_TIMEOUT_MS - 50); // it waited for the grace period first
    expect(took).toBeLessThan(STOP_TIMEOUT_MS + 5000);
    expect(logOf(projectId, 'aggregator')).toContain('SIGTERM: shutting down'); // asked politely first
    expect(logOf(projectId, 'learner-0')).toContain('ignoring SIGTERM');

    for (const component of ['aggregator', 'learner-0', 'learner-1']) {
      const rec = await record(projectId, component);
      expect(rec).toMatchObject({ status: 'stopped', exitCode: null, exitSignal: null });
      expect(rec!.endedAt).toBeInstanceOf(Date);
    }

    // the other project is untouched
    expect(gone(otherInfo.pid)).toBe(false);
    expect(await record(otherProject, 'aggregator')).toMatchObject({ status: 'running', handle: { pid: otherInfo.pid } });

    // stopped components are not reported as exits, not even late
    await sleep(500);
    expect(exits.filter((e) => e.projectId === projectId)).toEqual([]);

    // undeploying again (or a project without components) is harmless
    await driver.undeployProject(projectId);
    await driver.undeployProject(newProjectId('never-deployed'));
    expect((await record(projectId, 'aggregator'))!.status).toBe('stopped');

    await driver.undeployProject(otherProject);
    expect(gone(otherInfo.pid)).toBe(true);
    expect(exits.filter((e) => e.projectId === otherProject)).toEqual([]);
  });

  it('onExit reports a component that exits on its own, with its exit code; it can then be deployed again', async () => {
    const projectId = newProjectId('exit');
    const s = spec(projectId, 'learner-2', 'learner', 'exit3');
    await driver.deploy(s);
    const pid = (await record(projectId, 'learner-2'))!.handle.pid!;
    track(pid);
    await waitFor(() => exits.some((e) => e.projectId === projectId), 15_000, 'the exit to be reported');

    expect(exits.filter((e) => e.projectId === projectId)).toEqual([
      { projectId, component: 'learner-2', kind: 'learner', exitCode: 3, signal: null },
    ]);
    const rec = await record(projectId, 'learner-2');
    expect(rec).toMatchObject({ status: 'exited', exitCode: 3, exitSignal: null, handle: { pid } });
    expect(rec!.endedAt).toBeInstanceOf(Date);
    expect(logOf(projectId, 'learner-2')).toContain('up (mode exit3)');

    // not running any more, so deploy starts it again (new process, record running again)
    const restarted = spec(projectId, 'learner-2', 'learner', 'sleep');
    await driver.deploy(restarted);
    const info = await ready(restarted);
    expect(info.pid).not.toBe(pid);
    expect(await record(projectId, 'learner-2')).toMatchObject({ status: 'running', exitCode: null, handle: { pid: info.pid } });
    expect(logOf(projectId, 'learner-2')).toMatch(/mode exit3[\s\S]*mode sleep/); // the log is appended to

    await driver.undeployProject(projectId);
    expect(gone(info.pid)).toBe(true);
    expect(exits.filter((e) => e.projectId === projectId)).toHaveLength(1);
  });

  /** A stand-in orchestrator process that deploys `specs` (the fixture), with extra environment. */
  function startOrchestrator(specs: ComponentSpec[], env: Record<string, string> = {}): ChildProcess {
    return spawn(process.execPath, ['-r', '@swc-node/register', FIXTURE_ORCHESTRATOR], {
      cwd: WORKSPACE_ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        NO_COLOR: '1',
        MONGO_URL,
        FLOPS_DB_NAME: DB_NAME,
        FLOPS_TEST_DRIVER_SETTINGS: JSON.stringify(settings),
        FLOPS_TEST_SPECS: JSON.stringify(specs),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  }

  it('an orchestrator that dies between starting a component and recording its pid: the next one adopts it, never starts it twice (issue 5, case 3)', async () => {
    const projectId = newProjectId('intent');
    const specs = [spec(projectId, 'aggregator', 'aggregator', 'sleep'), spec(projectId, 'learner-0', 'learner', 'sleep'), spec(projectId, 'learner-1', 'learner', 'sleep')];
    const orchestrator = startOrchestrator(specs, { [FAULTS_VARIABLE]: 'orchestrator-crash-after-spawn=learner-0' });
    track(orchestrator.pid);
    const died = await new Promise<NodeJS.Signals | null>((ok) => orchestrator.once('exit', (_code, signal) => ok(signal)));
    expect(died).toBe('SIGKILL'); // killed itself right after starting learner-0
    const learner0 = await ready(specs[1]);
    expect(await record(projectId, 'learner-0')).toMatchObject({ status: 'starting', handle: { launchId: expect.any(String) } });
    expect(await record(projectId, 'learner-1')).toBeNull(); // never reached

    const restarted = new LocalProcessDriver(model, settings);
    drivers.push(restarted);
    await restarted.resume();
    expect(await record(projectId, 'learner-0')).toMatchObject({ status: 'running', handle: { pid: learner0.pid, startTicks: processStartTicks(learner0.pid) } });
    // Resuming the deployment starts what is missing and adopts, not restarts, what runs.
    for (const s of specs) await restarted.deploy(s);
    const learner1 = await ready(specs[2]);
    await sleep(500);
    expect(logOf(projectId, 'learner-0').match(/ up \(mode/g)).toHaveLength(1);
    expect((await record(projectId, 'learner-0'))!.handle.pid).toBe(learner0.pid);

    // A recorded intent whose process never started is started on the next deploy.
    await model.updateOne({ _id: `${projectId}/learner-1` }, { $set: { status: 'starting', handle: { launchId: 'never-started' } } }).exec();
    process.kill(-learner1.pid, 'SIGKILL');
    await waitFor(() => gone(learner1.pid), 5000, 'learner-1 to die');
    rmSync(specs[2].env.FAKE_READY_FILE);
    await restarted.deploy(specs[2]);
    const again = await ready(specs[2]);
    expect(again.pid).not.toBe(learner1.pid);
    expect(await record(projectId, 'learner-1')).toMatchObject({ status: 'running', handle: { pid: again.pid } });

    await restarted.undeployProject(projectId);
    for (const info of [learner0, again]) expect(gone(info.pid)).toBe(true);
    await restarted.close();
  });

  it('an intent recorded as starting is stopped by undeploy through its launch id', async () => {
    const projectId = newProjectId('intent-stop');
    const specs = [spec(projectId, 'aggregator', 'aggregator', 'sleep')];
    const orchestrator = startOrchestrator(specs, { [FAULTS_VARIABLE]: 'orchestrator-crash-after-spawn=aggregator' });
    track(orchestrator.pid);
    await new Promise((ok) => orchestrator.once('exit', ok));
    const aggregator = await ready(specs[0]);

    const restarted = new LocalProcessDriver(model, settings);
    drivers.push(restarted);
    await restarted.undeployProject(projectId); // without resume: the record still says starting
    expect(gone(aggregator.pid)).toBe(true);
    expect(await record(projectId, 'aggregator')).toMatchObject({ status: 'stopped' });
    await restarted.close();
  });

  it('after an orchestrator restart, resume() in a new driver adopts running components, marks dead ones exited, and can stop them', async () => {
    const projectId = newProjectId('restart');
    const specs = [
      spec(projectId, 'aggregator', 'aggregator', 'sleep'),
      spec(projectId, 'learner-0', 'learner', 'sleep'),
      spec(projectId, 'learner-1', 'learner', 'sleep'),
    ];

    // An orchestrator process deploys the components and crashes.
    const orchestrator = startOrchestrator(specs);
    track(orchestrator.pid);
    let output = '';
    orchestrator.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    orchestrator.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const orchestratorExited = new Promise((ok) => orchestrator.once('exit', ok));
    await waitFor(() => output.includes('DEPLOYED') || orchestrator.exitCode !== null, 40_000, 'the first orchestrator to deploy');
    expect(output).toContain('DEPLOYED');
    orchestrator.kill('SIGKILL');
    await orchestratorExited;

    const [aggregator, learner0, learner1] = await Promise.all(specs.map(ready));
    for (const info of [aggregator, learner0, learner1]) expect(gone(info.pid)).toBe(false);

    // learner-1 dies while no orchestrator is around
    process.kill(learner1.pid, 'SIGKILL');
    await waitFor(() => gone(learner1.pid), 5000, 'learner-1 to die');

    const restarted = new LocalProcessDriver(model, settings);
    drivers.push(restarted);
    const seenByRestarted: ComponentExit[] = [];
    restarted.onExit((exit) => seenByRestarted.push(exit));
    await restarted.resume();

    expect(await record(projectId, 'learner-1')).toMatchObject({ status: 'exited', handle: { pid: learner1.pid } });
    expect((await record(projectId, 'learner-1'))!.endedAt).toBeInstanceOf(Date);
    expect(await record(projectId, 'aggregator')).toMatchObject({ status: 'running', handle: { pid: aggregator.pid } });
    expect(await record(projectId, 'learner-0')).toMatchObject({ status: 'running', handle: { pid: learner0.pid } });
    expect(gone(aggregator.pid)).toBe(false);
    expect(gone(learner0.pid)).toBe(false);

    // deploying an adopted, running component is still a no-op
    await restarted.deploy(specs[0]);
    expect((await record(projectId, 'aggregator'))!.handle.pid).toBe(aggregator.pid);

    // an adopted component that dies later is noticed by polling (its exit code is unknowable)
    process.kill(learner0.pid, 'SIGKILL');
    await waitFor(() => seenByRestarted.length > 0, 5000, 'the adopted learner’s exit to be noticed');
    expect(seenByRestarted).toEqual([{ projectId, component: 'learner-0', kind: 'learner', exitCode: null, signal: null }]);
    expect(await record(projectId, 'learner-0')).toMatchObject({ status: 'exited' });

    // the new instance stops what the old one started
    await restarted.undeployProject(projectId);
    expect(gone(aggregator.pid)).toBe(true);
    expect(await record(projectId, 'aggregator')).toMatchObject({ status: 'stopped' });
    expect(logOf(projectId, 'aggregator')).toContain('SIGTERM: shutting down');
    await sleep(300); // a few poll intervals: the stopped aggregator is not reported as an exit
    expect(seenByRestarted).toHaveLength(1);
    expect(exits.filter((e) => e.projectId === projectId)).toEqual([]);
    await restarted.close();
  });

  describe('pid-reuse guard', () => {
    it('isAlive checks the start ticks and treats zombies as gone', async () => {
      const ticks = processStartTicks(process.pid)!;
      expect(ticks).toBeGreaterThan(0);
      expect(isAlive(process.pid, ticks)).toBe(true);
      expect(isAlive(process.pid, undefined)).toBe(true);
      expect(isAlive(process.pid, ticks + 1)).toBe(false);
      expect(isAlive(process.pid, ticks - 1)).toBe(false);
      expect(isAlive(undefined, ticks)).toBe(false);
      expect(isAlive(0, undefined)).toBe(false);

      const finished = spawn('true');
      const pid = finished.pid!;
      await new Promise((ok) => finished.once('exit', ok));
      expect(processStartTicks(pid)).toBeNull();
      expect(isAlive(pid, undefined)).toBe(false);

      // `sleep 0 &` is never reaped by the `sleep 5` that replaces the shell: a zombie
      const parent = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 5'], { stdio: ['ignore', 'pipe', 'ignore'] });
      track(parent.pid);
      const zombie = await new Promise<number>((ok) => parent.stdout.once('data', (d: Buffer) => ok(Number(d.toString().trim()))));
      await waitFor(() => procState(zombie) === 'Z', 5000, 'the zombie');
      expect(processStartTicks(zombie)).toBeGreaterThan(0);
      expect(isAlive(zombie, processStartTicks(zombie)!)).toBe(false);
      parent.kill('SIGKILL');
    });

    it('resume, undeploy and deploy never treat a process with a reused pid as the component', async () => {
      const projectId = newProjectId('reuse');
      // an unrelated process that now has the pid a component once had
      const stranger = spawn('sleep', ['1000'], { detached: true, stdio: 'ignore' });
      stranger.unref();
      const strangerPid = stranger.pid!;
      track(strangerPid);
      const strangerTicks = processStartTicks(strangerPid)!;
      const stale = (component: string) => ({
        _id: `${projectId}/${component}`,
        projectId,
        component,
        driver: 'local',
        image: 'x',
        status: 'running' as const,
        handle: { pid: strangerPid, startTicks: strangerTicks - 7 },
        exitCode: null,
        exitSignal: null,
        startedAt: new Date(Date.now() - 60_000),
      });

      // resume: the component is not running any more, whatever has its pid now
      await model.create(stale('learner-0'));
      const restarted = new LocalProcessDriver(model, settings);
      drivers.push(restarted);
      await restarted.resume();
      await restarted.close();
      expect(await record(projectId, 'learner-0')).toMatchObject({ status: 'exited' });
      expect(gone(strangerPid)).toBe(false);

      // undeploy: recorded as stopped, but the stranger is not signalled
      await model.create(stale('learner-1'));
      await driver.undeployProject(projectId);
      expect(await record(projectId, 'learner-1')).toMatchObject({ status: 'stopped' });
      await sleep(200);
      expect(gone(strangerPid)).toBe(false);
      expect(isAlive(strangerPid, strangerTicks)).toBe(true);

      // deploy: a "running" record whose pid was reused does not count as running
      await model.create(stale('aggregator'));
      const s = spec(projectId, 'aggregator', 'aggregator', 'sleep');
      await driver.deploy(s);
      const info = await ready(s);
      expect(info.pid).not.toBe(strangerPid);
      expect(await record(projectId, 'aggregator')).toMatchObject({ status: 'running', handle: { pid: info.pid } });

      await driver.undeployProject(projectId);
      expect(gone(info.pid)).toBe(true);
      expect(gone(strangerPid)).toBe(false);
      process.kill(strangerPid, 'SIGKILL');
    });
  });
});
