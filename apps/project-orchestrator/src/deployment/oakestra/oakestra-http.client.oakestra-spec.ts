// The real Oakestra of tools/oakestra.sh: root, cluster and worker, a service that runs as a
// container on the worker, and the traps of its API, seen through FLOps's own HTTP client.
import { randomBytes } from 'node:crypto';
import { OakestraApplication, OakestraError, OakestraMicroservice } from './oakestra-api';
import { oakestraClient, oakestraEnv, until, workerTaskLog, workerTasks } from './oakestra.oakestra-fixture';
import { pushProbeImage } from '../probe-image.fixture';

jest.setTimeout(240_000);

const api = oakestraClient();
const suffix = randomBytes(3).toString('hex');
const appName = `probe${suffix}`;
let image: string;
let app: OakestraApplication | undefined;

function probe(name: string, cmd: string, extra: Partial<OakestraMicroservice> = {}): OakestraMicroservice {
  return {
    microservice_name: name,
    microservice_namespace: 'test',
    virtualization: 'container',
    cmd: ['/bin/busybox', 'sh', '-c', cmd],
    memory: 32,
    vcpus: 1,
    vgpus: 0,
    storage: 0,
    code: image,
    port: '',
    environment: [`PROBE_SUFFIX=${suffix}`],
    one_shot: false,
    constraints: [],
    ...extra,
  };
}

beforeAll(async () => {
  image = await pushProbeImage(oakestraEnv().registryUrl);
});

afterAll(async () => {
  if (app) await api.deleteApplication(app.applicationID).catch(() => undefined);
});

test('the root lists the local cluster as active, with the worker node in it', async () => {
  const clusters = await api.activeClusters();
  const mine = clusters.find((c) => c.name === oakestraEnv().cluster);
  expect(mine).toBeDefined();
  expect(mine?.activeNodes).toBeGreaterThanOrEqual(1);
});

test('a service runs as a real container on the worker, and deleting the application removes it', async () => {
  app = await api.createApplication({ application_name: appName, application_namespace: 'test', application_desc: 'FLOps probe' });
  expect(app.applicationID).toMatch(/^[0-9a-f]{24}$/);
  expect(app.microservices).toEqual([]);
  expect((await api.listApplications()).map((a) => a.applicationID)).toContain(app.applicationID);

  const marker = `hello-${suffix}`;
  const added = await api.addService(app, probe('echo', `echo ${marker} $PROBE_SUFFIX; exec sleep 600`));
  expect(added.failed).toEqual([]);
  const serviceId = added.jobId as string;
  expect(serviceId).toMatch(/^[0-9a-f]{24}$/);
  expect((await api.listServices(app.applicationID)).map((s) => s.microserviceID)).toEqual([serviceId]);

  await api.deployInstance(serviceId);
  const running = await until('instance 0 RUNNING', 180_000, async () => {
    const s = await api.getService(serviceId);
    const failed = s?.instance_list.find((i) => i.status === 'FAILED' || i.status === 'DEAD');
    if (failed) throw new Error(`instance ${failed.status}: ${failed.status_detail ?? ''}`);
    return s?.instance_list.find((i) => i.status === 'RUNNING');
  });
  expect(running.instance_number).toBe(0);

  const task = `${appName}.test.echo.test.instance.0`;
  expect((await workerTasks()).get(task)).toBe('RUNNING');
  await until('the container output', 30_000, async () => (await workerTaskLog(task)).includes(`${marker} ${suffix}`));

  expect(await api.deleteApplication(app.applicationID)).toBe(true);
  await until('the container gone', 60_000, async () => !(await workerTasks()).has(task));
  expect(await api.getService(serviceId)).toBeNull();
  expect((await api.listApplications()).map((a) => a.applicationID)).not.toContain(app.applicationID);
  app = undefined;
});

test('deleting unknown ids: Oakestra answers 500 (service) and 501 (application); the client says false', async () => {
  expect(await api.deleteService('000000000000000000000000')).toBe(false);
  expect(await api.deleteApplication('000000000000000000000000')).toBe(false);
});

// The endpoint only reads the pool (nothing is reserved), skipping addresses a service already
// holds. A second explicit request for a held address is refused inside a 200. (Oakestra's own
// automatic assignment, for services without rr_ip, takes freed addresses without that check and
// can hand out an address a service holds explicitly: FLOps gives every service an explicit rr_ip.)
test('an rr_ip from the free-address endpoint: once held it is no longer offered, and asking for it again fails inside a 200', async () => {
  app = await api.createApplication({ application_name: `${appName}rr`, application_namespace: 'test', application_desc: 'FLOps rr_ip probe' });
  const [ip] = await api.freeServiceIps(1);
  expect(ip).toMatch(/^10\.30\.\d+\.\d+$/);

  const first = await api.addService(app, probe('rra', 'sleep 1', { addresses: { rr_ip: ip } }));
  expect(first.failed).toEqual([]);
  expect(await api.freeServiceIps(3)).not.toContain(ip);

  const second = await api.addService(app, probe('rrb', 'sleep 1', { addresses: { rr_ip: ip } }));
  expect(second.jobId).toBeNull();
  expect(second.failed).toEqual([expect.objectContaining({ serviceName: 'rrb', status: 500 })]);
  expect((await api.listServices(app.applicationID)).map((s) => s.microservice_name)).toEqual(['rra']);
});

test('an SLA that breaks Oakestra\'s schema is refused with its status', async () => {
  app ??= await api.createApplication({ application_name: `${appName}rr`, application_namespace: 'test', application_desc: 'x' });
  const err = await api.addService(app, probe('x'.repeat(31), 'true')).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(OakestraError);
  expect((err as OakestraError).status).toBeGreaterThanOrEqual(400);
});
