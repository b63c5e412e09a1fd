/**
 * PodmanDriver against the real podman (tools/infra.sh installs it), the real registry and the real
 * database. Components are busybox probes (../probe-image.fixture.ts) pushed to the FLOps registry:
 * each runs the shell script in its PROBE variable, so a spec's env decides what it does.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Logger } from '@nestjs/common';
import { Connection } from 'mongoose';
import { CONTAINER_LABELS } from '@flops/contracts';
import { DeploymentModel, DeploymentRecord, connectDatabase, deploymentModel } from '@flops/models';
import { infraEnv } from '@flops/testing';
import { ComponentExit, ComponentSpec } from '../deployment-driver';
import { pushProbeImage } from '../probe-image.fixture';
import { PodmanCliEngine, PodmanSettings } from './podman-cli.engine';
import { PodmanDriver, PodmanDriverSettings, containerName } from './podman.driver';

const exec = promisify(execFile);
const RUN = randomBytes(4).toString('hex');
const OWNER = `t${RUN}`;
const DB_NAME = `flops_int_podman_${RUN}`;
const { MONGO_URL, FLOPS_REGISTRY_URL } = infraEnv();
const REGISTRY = new URL(FLOPS_REGISTRY_URL).host;

const DATA_DIR = mkdtempSync(join(tmpdir(), 'flops-podman-int-'));
const PODMAN: PodmanSettings = {
  bin: 'podman',
  runtime: 'runc',
  network: 'host',
  ulimits: ['nofile=1024:1024', 'nproc=1024:1024'],
  insecureRegistries: [REGISTRY],
  stateDir: join(DATA_DIR, 'podman'),
};

/** A probe that says it is up, on stdout and stderr, and ends cleanly on SIGTERM (busybox sh as PID 1 ignores it otherwise). */
const SERVE = 'echo "up $FLOPS_PROJECT_ID"; echo "on stderr" >&2; trap "echo TERM; exit 0" TERM; while true; do /bin/busybox sleep 0.2; done';

async function podman(...args: string[]): Promise<string> {
  return (await exec('podman', args, { maxBuffer: 16 * 1024 * 1024 })).stdout;
}

/** Every container of this test run (any project), running or not. */
async function ourContainers(projectId?: string): Promise<string[]> {
  const filters = ['--filter', `label=${CONTAINER_LABELS.owner}=${OWNER}`];
  if (projectId) filters.push('--filter', `label=${CONTAINER_LABELS.project}=${projectId}`);
  return (await podman('ps', '--all', '--format', '{{.Names}}', ...filters)).split('\n').filter(Boolean);
}

async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

describe('PodmanDriver (real podman, registry and database)', () => {
  let connection: Connection;
  let model: DeploymentModel;
  let dataDir: string;
  let image: string;
  let settings: PodmanDriverSettings;
  const drivers: PodmanDriver[] = [];
  const exits: ComponentExit[] = [];

  const newDriver = (engine = new PodmanCliEngine(PODMAN)) => {
    const driver = new PodmanDriver(engine, model, settings);
    driver.onExit((exit) => exits.push(exit));
    drivers.push(driver);
    return driver;
  };
  const record = (projectId: string, component: string) => model.findById(`${projectId}/${component}`).lean<DeploymentRecord>().exec();
  const logOf = (projectId: string, component: string) => {
    const file = join(dataDir, 'projects', projectId, `${component}.log`);
    return existsSync(file) ? readFileSync(file, 'utf8') : '';
  };
  const newProjectId = (label: string) => `${label}-${randomBytes(3).toString('hex')}`;
  const spec = (projectId: string, component: string, probe: string, resources: ComponentSpec['resources'] = {}): ComponentSpec => ({
    projectId,
    component,
    kind: component === 'aggregator' ? 'aggregator' : 'learner',
    // As the planner names runtime images: no registry part, the driver pulls from the FLOps registry.
    image: image.slice(REGISTRY.length + 1),
    env: { FLOPS_PROJECT_ID: projectId, PROBE: probe },
    resources,
  });
  const exitOf = (projectId: string, component: string) => exits.find((e) => e.projectId === projectId && e.component === component);

  beforeAll(async () => {
    Logger.overrideLogger(['warn', 'error']);
    connection = await connectDatabase(MONGO_URL, DB_NAME);
    model = deploymentModel(connection);
    await model.init();
    dataDir = DATA_DIR;
    image = await pushProbeImage(FLOPS_REGISTRY_URL, 'flops/podman-probe');
    mkdirSync(join(dataDir, 'node-data'));
    writeFileSync(join(dataDir, 'node-data', 'hello.txt'), 'node data here\n');
    settings = {
      owner: OWNER,
      dataDir,
      registry: REGISTRY,
      inheritedEnv: { FLOPS_UPLOAD_CONCURRENCY: '3' },
      mounts: [{ source: join(dataDir, 'node-data'), target: '/flops/data', readOnly: true }],
      stopTimeoutSeconds: 2,
      pollIntervalMs: 200,
    };
  }, 120_000);

  // One orchestrator per installation: a test's driver must not watch the next test's containers.
  afterEach(async () => {
    for (const d of drivers) await d.close();
  });

  afterAll(async () => {
    for (const d of drivers) await d.close();
    const left = await ourContainers().catch(() => []);
    if (left.length) await podman('rm', '--force', ...left).catch(() => undefined);
    if (connection) {
      await connection.dropDatabase();
      await connection.close();
    }
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    // The assertion that matters to everyone sharing this machine: nothing of ours is left.
    expect(left).toEqual([]);
  }, 120_000);

  it('runs a component as a labelled container by digest, with limits, ulimits, host network, its env, the node data read-only and its output in the log file', async () => {
    const driver = newDriver();
    const projectId = newProjectId('run');
    // The memory cgroup as the container sees it proves the limit is applied, not just recorded.
    const probe = `cat /sys/fs/cgroup/memory/memory.limit_in_bytes; echo "ulimit $(ulimit -n)"; echo "tuning $FLOPS_UPLOAD_CONCURRENCY"; cat /flops/data/hello.txt; touch /flops/data/x || echo "data read-only"; ${SERVE}`;
    await driver.deploy(spec(projectId, 'learner-0', probe, { memoryMiB: 96, cpus: 0.5 }));
    const name = containerName(OWNER, projectId, 'learner-0');
    await waitFor(() => logOf(projectId, 'learner-0').includes('on stderr'), 60_000, 'the probe output in the log');
    const log = logOf(projectId, 'learner-0');
    expect(log).toContain(`up ${projectId}`);
    expect(log).toContain(String(96 * 1024 * 1024));
    expect(log).toContain('ulimit 1024');
    expect(log).toContain('tuning 3');
    expect(log).toContain('node data here');
    expect(log).toContain('data read-only');

    const [inspected] = JSON.parse(await podman('inspect', name)) as {
      Id: string;
      ImageName: string;
      Config: { Labels: Record<string, string> };
      HostConfig: { Memory: number; MemorySwap: number; NanoCpus: number; NetworkMode: string; Ulimits: { Name: string; Soft: number; Hard: number }[] };
    }[];
    expect(inspected.ImageName).toBe(image); // the registry's digest, not a tag
    expect(inspected.Config.Labels).toMatchObject({
      [CONTAINER_LABELS.owner]: OWNER,
      [CONTAINER_LABELS.project]: projectId,
      [CONTAINER_LABELS.component]: 'learner-0',
      [CONTAINER_LABELS.kind]: 'learner',
    });
    expect(inspected.HostConfig.Memory).toBe(96 * 1024 * 1024);
    expect(inspected.HostConfig.MemorySwap).toBe(96 * 1024 * 1024);
    expect(inspected.HostConfig.NanoCpus).toBe(500_000_000);
    expect(inspected.HostConfig.NetworkMode).toBe('host');
    expect(inspected.HostConfig.Ulimits).toEqual(
      expect.arrayContaining([expect.objectContaining({ Name: 'RLIMIT_NOFILE', Soft: 1024, Hard: 1024 }), expect.objectContaining({ Name: 'RLIMIT_NPROC', Soft: 1024, Hard: 1024 })]),
    );
    expect(await record(projectId, 'learner-0')).toMatchObject({
      driver: 'podman',
      status: 'running',
      handle: { containerId: inspected.Id, containerName: name },
      logFile: join(dataDir, 'projects', projectId, 'learner-0.log'),
    });

    // Deploying it again starts nothing new.
    await driver.deploy(spec(projectId, 'learner-0', probe));
    expect(await ourContainers(projectId)).toEqual([name]);

    await driver.undeployProject(projectId);
    expect(await ourContainers(projectId)).toEqual([]);
    expect(logOf(projectId, 'learner-0')).toContain('TERM'); // stopped with SIGTERM first
    expect(await record(projectId, 'learner-0')).toMatchObject({ status: 'stopped' });
    expect(exitOf(projectId, 'learner-0')).toBeUndefined(); // a stop is no exit to report
  }, 180_000);

  it('reports an exit with its code, keeps the container until undeploy, then removes it', async () => {
    const driver = newDriver();
    const projectId = newProjectId('exit');
    await driver.deploy(spec(projectId, 'aggregator', 'echo bye; exit 3'));
    await waitFor(() => !!exitOf(projectId, 'aggregator'), 60_000, 'the exit to be reported');
    expect(exitOf(projectId, 'aggregator')).toEqual({ projectId, component: 'aggregator', kind: 'aggregator', exitCode: 3, signal: null });
    expect(await record(projectId, 'aggregator')).toMatchObject({ status: 'exited', exitCode: 3 });
    expect(logOf(projectId, 'aggregator')).toContain('bye');
    expect(await ourContainers(projectId)).toHaveLength(1);
    await sleep(1000); // reported once, however many polls see it
    expect(exits.filter((e) => e.projectId === projectId)).toHaveLength(1);

    await driver.undeployProject(projectId);
    expect(await ourContainers(projectId)).toEqual([]);
    expect(await record(projectId, 'aggregator')).toMatchObject({ status: 'exited', exitCode: 3 });
  }, 180_000);

  it('reports a container killed for exceeding its memory limit as such', async () => {
    const driver = newDriver();
    const projectId = newProjectId('oom');
    // 64 MB in a shell variable, under a 16 MiB limit.
    await driver.deploy(spec(projectId, 'learner-1', 'x=$(/bin/busybox head -c 64000000 /dev/zero | /bin/busybox tr "\\0" a); echo survived', { memoryMiB: 16 }));
    await waitFor(() => !!exitOf(projectId, 'learner-1'), 60_000, 'the exit to be reported');
    expect(exitOf(projectId, 'learner-1')).toMatchObject({ exitCode: null, signal: 'SIGKILL (out of memory)' });
    expect(logOf(projectId, 'learner-1')).not.toContain('survived');
    await driver.undeployProject(projectId);
    expect(await ourContainers(projectId)).toEqual([]);
    expect(existsSync(join(PODMAN.stateDir, containerName(OWNER, projectId, 'learner-1')))).toBe(false);
    expect(existsSync(join(process.cwd(), 'oom'))).toBe(false); // conmon's marker went to the container's own folder
  }, 180_000);

  it('undeploy kills what ignores SIGTERM and removes every container of the project, and only of that project', async () => {
    const driver = newDriver();
    const projectId = newProjectId('undeploy');
    const other = newProjectId('other');
    await driver.deploy(spec(projectId, 'aggregator', 'trap "" TERM; while true; do /bin/busybox sleep 0.2; done'));
    await driver.deploy(spec(projectId, 'learner-0', SERVE));
    await driver.deploy(spec(projectId, 'learner-1', 'exit 0'));
    await driver.deploy(spec(other, 'learner-0', SERVE));
    await waitFor(() => !!exitOf(projectId, 'learner-1'), 60_000, 'learner-1 to end');
    expect(await ourContainers(projectId)).toHaveLength(3);

    const started = Date.now();
    await driver.undeployProject(projectId);
    expect(Date.now() - started).toBeGreaterThanOrEqual(settings.stopTimeoutSeconds * 1000 - 200); // it waited for SIGTERM first
    expect(await ourContainers(projectId)).toEqual([]);
    expect(await ourContainers(other)).toEqual([containerName(OWNER, other, 'learner-0')]);
    const records = await model.find({ projectId }).lean<DeploymentRecord[]>().exec();
    expect(records.map((r) => [r.component, r.status]).sort()).toEqual([
      ['aggregator', 'stopped'],
      ['learner-0', 'stopped'],
      ['learner-1', 'exited'],
    ]);
    await driver.undeployProject(other);
    expect(await ourContainers()).toEqual([]);
  }, 180_000);

  it('a new driver instance (an orchestrator restart) adopts running containers: no double start, exits reported with their real codes', async () => {
    const first = newDriver();
    const projectId = newProjectId('adopt');
    await first.deploy(spec(projectId, 'aggregator', SERVE));
    // Ends with code 7 once told to (a file appears in it), after the orchestrator came back.
    await first.deploy(spec(projectId, 'learner-0', 'echo working; until [ -e /end ]; do /bin/busybox sleep 0.2; done; exit 7'));
    await first.deploy(spec(projectId, 'learner-1', SERVE));
    const ids = new Map((await model.find({ projectId }).lean<DeploymentRecord[]>().exec()).map((r) => [r.component, r.handle.containerId]));
    await first.close(); // the crash: nothing of the first driver watches any more
    const exitsBefore = exits.length;
    // A container started right before the crash, its record never written.
    await model.deleteOne({ _id: `${projectId}/learner-1` }).exec();

    const second = newDriver();
    await second.resume();
    expect((await record(projectId, 'learner-1'))?.handle.containerId).toBe(ids.get('learner-1'));
    for (const component of ['aggregator', 'learner-0', 'learner-1']) await second.deploy(spec(projectId, component, SERVE));
    expect((await ourContainers(projectId)).sort()).toEqual(['aggregator', 'learner-0', 'learner-1'].map((c) => containerName(OWNER, projectId, c)).sort());
    for (const r of await model.find({ projectId }).lean<DeploymentRecord[]>().exec()) expect(r.handle.containerId).toBe(ids.get(r.component));

    await podman('exec', containerName(OWNER, projectId, 'learner-0'), '/bin/busybox', 'touch', '/end');
    await waitFor(() => !!exitOf(projectId, 'learner-0'), 60_000, 'the adopted learner-0 to end');
    expect(exitOf(projectId, 'learner-0')).toMatchObject({ exitCode: 7, signal: null });
    expect(exits.slice(exitsBefore).filter((e) => e.projectId === projectId)).toHaveLength(1);

    await second.undeployProject(projectId);
    expect(await ourContainers(projectId)).toEqual([]);
  }, 180_000);

  it('a component that cannot start fails its deploy with podman\'s reason and leaves no container', async () => {
    // Podman's default ulimits exceed what this machine allows: exactly the failure the defaults avoid.
    const driver = newDriver(new PodmanCliEngine({ ...PODMAN, ulimits: ['nofile=1048576000:1048576000'] }));
    const projectId = newProjectId('nostart');
    await expect(driver.deploy(spec(projectId, 'learner-0', SERVE))).rejects.toThrow(/podman run .* failed.*rlimit/is);
    expect(await ourContainers(projectId)).toEqual([]);
    expect(await record(projectId, 'learner-0')).toBeNull();

    const missing = { ...spec(projectId, 'learner-1', SERVE), image: `${REGISTRY}/flops/podman-probe@sha256:${'0'.repeat(64)}` };
    await expect(newDriver().deploy(missing)).rejects.toThrow(/podman pull failed/);
    expect(await ourContainers(projectId)).toEqual([]);
  }, 180_000);
});
