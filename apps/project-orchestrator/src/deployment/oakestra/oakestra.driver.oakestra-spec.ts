// OakestraDriver against the real Oakestra of tools/oakestra.sh and the real database of
// tools/infra.sh. Components are busybox probes (probe-image.fixture.ts) running the script in
// their PROBE variable, so each test decides what its components do on the worker.
import { Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { Connection } from 'mongoose';
import { DeploymentModel, DeploymentRecord, connectDatabase, deploymentModel } from '@flops/models';
import { infraEnv } from '@flops/testing';
import { ComponentExit, ComponentSpec } from '../deployment-driver';
import { OakestraDriver, OakestraDriverSettings } from './oakestra.driver';
import { oakestraClient, oakestraEnv, until, workerTaskLog, workerTasks } from './oakestra.oakestra-fixture';
import { microservice, parseDataNodes } from './oakestra-sla';
import { pushProbeImage } from '../probe-image.fixture';

jest.setTimeout(300_000);
Logger.overrideLogger(['error', 'warn']);

const RUN = randomBytes(4).toString('hex');
const api = oakestraClient();
let connection: Connection;
let deployments: DeploymentModel;
let image: string;
let settings: OakestraDriverSettings;
const drivers: OakestraDriver[] = [];
const projects: string[] = [];

/** A URL of this machine's loopback service as the worker's containers reach it. */
function fromWorker(url: string): string {
  const u = new URL(url);
  u.hostname = process.env.FLOPS_OAKESTRA_HOST_ADDRESS ?? '';
  if (!u.hostname) throw new Error('FLOPS_OAKESTRA_HOST_ADDRESS is not set (tools/oakestra.sh env)');
  return u.toString().replace(/\/$/, '');
}

function newProject(): string {
  const id = `p${randomBytes(8).toString('hex')}`;
  projects.push(id);
  return id;
}

function newDriver(): OakestraDriver {
  const driver = new OakestraDriver(api, deployments, settings);
  drivers.push(driver);
  return driver;
}

function component(projectId: string, component: string, probe: string, env: Record<string, string> = {}): ComponentSpec {
  const learner = component !== 'aggregator';
  return {
    projectId,
    component,
    kind: learner ? 'learner' : 'aggregator',
    image,
    resources: { cpus: 0.1, memoryMiB: 32 },
    env: {
      FLOPS_PROJECT_ID: projectId,
      FLOPS_MQTT_URL: infraEnv().FLOPS_MQTT_URL,
      FLOPS_REGISTRY_URL: infraEnv().FLOPS_REGISTRY_URL,
      ...(learner ? { FLOPS_LEARNER_INDEX: component.split('-')[1] ?? '0', FLOPS_DATA_TAGS: '' } : {}),
      PROBE: probe,
      ...env,
    },
  };
}

const task = (projectId: string, service: string) => `${projectId}.flops.${service}.flops.instance.0`;
const records = (projectId: string) => deployments.find({ projectId }).sort({ _id: 1 }).lean<DeploymentRecord[]>().exec();
const projectApps = async (projectId: string) => (await api.listApplications()).filter((a) => a.application_name === projectId);

beforeAll(async () => {
  connection = await connectDatabase(infraEnv().MONGO_URL, `flops_oak_driver_${RUN}`);
  deployments = deploymentModel(connection);
  image = await pushProbeImage(oakestraEnv().registryUrl);
  settings = {
    namespace: 'flops',
    mqttUrl: fromWorker(infraEnv().FLOPS_MQTT_URL),
    registryUrl: fromWorker(infraEnv().FLOPS_REGISTRY_URL),
    imageRegistry: new URL(infraEnv().FLOPS_REGISTRY_URL).host,
    aggregatorPort: 7070,
    dataNodes: parseDataNodes(`probedata=${oakestraEnv().cluster}/${process.env.FLOPS_OAKESTRA_NODE ?? ''}`),
    pollIntervalMs: 1000,
  };
});

afterAll(async () => {
  for (const d of drivers) await d.close();
  for (const p of projects) await newDriver().undeployProject(p).catch(() => undefined);
  for (const d of drivers) await d.close();
  await connection.dropDatabase();
  await connection.close();
});

test('a project: one application, a service per component with its job id and rr_ip, running as containers that reach the broker and registry', async () => {
  const projectId = newProject();
  const driver = newDriver();
  await driver.resume(); // also checks that the System Manager is v0.4.301 or later
  const reach =
    'wget -q -O- "$FLOPS_REGISTRY_URL/v2/" >/dev/null && echo REGISTRY-OK; ' +
    'h=${FLOPS_MQTT_URL#mqtt://}; echo | nc -w 3 ${h%:*} ${h##*:} && echo MQTT-OK; echo ADVERTISE=$FLOPS_AGGREGATOR_ADVERTISE_HOST; exec sleep 600';
  await driver.deploy(component(projectId, 'aggregator', reach));
  await driver.deploy(component(projectId, 'learner-0', 'exec sleep 600', { FLOPS_DATA_TAGS: 'probedata' }));
  await driver.deploy(component(projectId, 'learner-1', 'exec sleep 600'));

  const apps = await projectApps(projectId);
  expect(apps).toHaveLength(1);
  expect(apps[0].application_namespace).toBe('flops');
  const recs = await records(projectId);
  expect(recs.map((r) => [r.component, r.driver, r.status])).toEqual([
    ['aggregator', 'oakestra', 'running'],
    ['learner-0', 'oakestra', 'running'],
    ['learner-1', 'oakestra', 'running'],
  ]);
  const services = await api.listServices(apps[0].applicationID);
  expect(services.map((s) => s.microservice_name).sort()).toEqual(['aggregator', 'learner0', 'learner1']);
  for (const r of recs) {
    expect(r.handle.applicationId).toBe(apps[0].applicationID);
    expect(services.map((s) => s.microserviceID)).toContain(r.handle.serviceId);
    expect(r.handle.rrIp).toMatch(/^10\.30\.\d+\.\d+$/);
  }
  expect(new Set(recs.map((r) => r.handle.rrIp)).size).toBe(3);

  for (const name of ['aggregator', 'learner0', 'learner1']) {
    await until(`${name} running in containerd`, 180_000, async () => (await workerTasks()).get(task(projectId, name)) === 'RUNNING');
  }
  const aggregatorRr = recs[0].handle.rrIp as string;
  const log = await until('the aggregator reaching the registry and the broker', 60_000, async () => {
    const text = await workerTaskLog(task(projectId, 'aggregator'));
    return text.includes('MQTT-OK') && text;
  });
  expect(log).toContain('REGISTRY-OK');
  expect(log).toContain(`ADVERTISE=${aggregatorRr}`);

  // Deploying again changes nothing: same services, no new instance.
  await driver.deploy(component(projectId, 'learner-1', 'exec sleep 600'));
  expect((await api.listServices(apps[0].applicationID)).map((s) => s.microserviceID).sort()).toEqual(services.map((s) => s.microserviceID).sort());

  await driver.undeployProject(projectId);
  await driver.close();
  expect(await projectApps(projectId)).toEqual([]);
  expect((await records(projectId)).map((r) => r.status)).toEqual(['stopped', 'stopped', 'stopped']);
  await until('the containers gone', 60_000, async () => {
    const tasks = await workerTasks();
    return ![...tasks.keys()].some((t) => t.startsWith(`${projectId}.`));
  });
});

test('a restarted orchestrator adopts its services, also one created just before a crash, and creates none twice', async () => {
  const projectId = newProject();
  const first = newDriver();
  await first.deploy(component(projectId, 'aggregator', 'exec sleep 600'));
  // A crash right after Oakestra created learner-0's service: no record, no instance yet.
  const [app] = await projectApps(projectId);
  const [ip] = await api.freeServiceIps(1);
  const orphan = await api.addService(app, microservice(component(projectId, 'learner-0', 'exec sleep 600'), ip, settings));
  expect(orphan.jobId).toBeTruthy();
  await first.close();
  const aggregatorBefore = (await records(projectId))[0];

  const second = newDriver();
  await second.resume();
  await second.deploy(component(projectId, 'aggregator', 'exec sleep 600'));
  await second.deploy(component(projectId, 'learner-0', 'exec sleep 600'));
  const after = await records(projectId);
  expect(after.map((r) => r.handle.serviceId)).toEqual([aggregatorBefore.handle.serviceId, orphan.jobId]);
  expect(await projectApps(projectId)).toHaveLength(1);
  expect((await api.listServices(app.applicationID)).length).toBe(2);
  // One instance each: none asked for twice.
  await until('both running', 180_000, async () => {
    const tasks = await workerTasks();
    return tasks.get(task(projectId, 'aggregator')) === 'RUNNING' && tasks.get(task(projectId, 'learner0')) === 'RUNNING';
  });
  for (const s of await api.listServices(app.applicationID)) expect(s.instance_list.map((i) => i.instance_number)).toEqual([0]);

  await second.undeployProject(projectId);
  await second.close();
  expect(await projectApps(projectId)).toEqual([]);
  expect((await records(projectId)).map((r) => r.status)).toEqual(['stopped', 'stopped']);
});

test('exits are reported: a one-shot that exits 0 as code 0 (COMPLETED), any other exit as a failure (DEAD), and a redeploy gets a fresh service', async () => {
  const projectId = newProject();
  const driver = newDriver();
  const exits: ComponentExit[] = [];
  driver.onExit((e) => {
    if (e.projectId === projectId) exits.push(e);
  });
  await driver.resume();
  await driver.deploy(component(projectId, 'learner-0', 'sleep 2; exit 0'));
  await driver.deploy(component(projectId, 'learner-1', 'sleep 2; exit 3'));
  await until('both exits', 180_000, () => Promise.resolve(exits.length >= 2));
  expect(exits.map((e) => [e.component, e.exitCode]).sort()).toEqual([
    ['learner-0', 0],
    ['learner-1', null],
  ]);
  const ended = await records(projectId);
  expect(ended.map((r) => [r.component, r.status, r.exitCode])).toEqual([
    ['learner-0', 'exited', 0],
    ['learner-1', 'exited', null],
  ]);

  await driver.deploy(component(projectId, 'learner-0', 'exec sleep 600'));
  const again = (await records(projectId))[0];
  expect(again.status).toBe('running');
  expect(again.handle.serviceId).not.toBe(ended[0].handle.serviceId);
  await until('the new learner-0 running', 180_000, async () => (await workerTasks()).get(task(projectId, 'learner0')) === 'RUNNING');

  await driver.undeployProject(projectId);
  await driver.close();
  expect(await projectApps(projectId)).toEqual([]);
  expect(exits).toHaveLength(2); // undeploy is no exit
});

test('a learner whose data tag no worker holds is refused before anything is created', async () => {
  const projectId = newProject();
  const driver = newDriver();
  await expect(driver.deploy(component(projectId, 'learner-0', 'true', { FLOPS_DATA_TAGS: 'nowhere' }))).rejects.toThrow(
    /no Oakestra worker node holds the data tags nowhere/,
  );
  expect(await projectApps(projectId)).toEqual([]);
  expect(await records(projectId)).toEqual([]);
});
