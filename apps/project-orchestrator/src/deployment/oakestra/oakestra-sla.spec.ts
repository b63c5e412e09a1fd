import { ComponentSpec } from '../deployment-driver';
import { OakestraInstance } from './oakestra-api';
import { applicationSpec, microservice, parseDataNodes, placement, serviceName, serviceOutcome, SlaSettings, workerImage } from './oakestra-sla';

const settings: SlaSettings = {
  namespace: 'flops',
  mqttUrl: 'mqtt://10.18.0.1:1883',
  registryUrl: 'http://10.18.0.1:5000',
  imageRegistry: '127.0.0.1:5000',
  aggregatorPort: 7070,
  dataNodes: parseDataNodes('mnist=vm,edge1/pi4;cifar=edge1/pi4'),
};

function spec(overrides: Partial<ComponentSpec> = {}): ComponentSpec {
  return {
    projectId: 'p0123456789abcdef',
    component: 'learner-1',
    kind: 'learner',
    image: '127.0.0.1:5000/flops/learners/x@sha256:' + 'a'.repeat(64),
    env: { FLOPS_MQTT_URL: 'mqtt://127.0.0.1:1883', FLOPS_REGISTRY_URL: 'http://127.0.0.1:5000', FLOPS_LEARNER_INDEX: '1', FLOPS_DATA_TAGS: '' },
    resources: {},
    ...overrides,
  };
}

const inst = (instance_number: number, status: string): OakestraInstance => ({ instance_number, status });

describe('names', () => {
  it('names the application after the project and services after components, letters and digits only', () => {
    expect(applicationSpec('p0123456789abcdef', settings)).toMatchObject({ application_name: 'p0123456789abcdef', application_namespace: 'flops' });
    expect(serviceName('learner-12')).toBe('learner12');
    expect(serviceName('aggregator')).toBe('aggregator');
  });

  it('refuses what cannot be an Oakestra name (over 30 characters, or nothing left)', () => {
    expect(() => serviceName('x'.repeat(31))).toThrow(/at most 30/);
    expect(() => serviceName('---')).toThrow(/letters and digits/);
    expect(() => applicationSpec('p-'.repeat(20), settings)).toThrow(/project id/);
  });
});

describe('microservice', () => {
  it('points the component at the broker and registry as workers reach them, as a one-shot with its rr_ip', () => {
    const ms = microservice(spec(), '10.30.0.9', settings);
    expect(ms).toMatchObject({ microservice_name: 'learner1', virtualization: 'container', one_shot: true, addresses: { rr_ip: '10.30.0.9' } });
    expect(ms.environment).toEqual(expect.arrayContaining(['FLOPS_MQTT_URL=mqtt://10.18.0.1:1883', 'FLOPS_REGISTRY_URL=http://10.18.0.1:5000']));
    expect(ms.constraints).toEqual([]);
  });

  it('makes the aggregator listen on all interfaces and advertise its service IP', () => {
    const ms = microservice(spec({ component: 'aggregator', kind: 'aggregator', image: 'flops/learner-runtime:0.1.0' }), '10.30.0.2', settings);
    expect(ms.environment).toEqual(
      expect.arrayContaining(['FLOPS_AGGREGATOR_HOST=0.0.0.0', 'FLOPS_AGGREGATOR_PORT=7070', 'FLOPS_AGGREGATOR_ADVERTISE_HOST=10.30.0.2']),
    );
    expect(ms.code).toBe('127.0.0.1:5000/flops/learner-runtime:0.1.0');
  });

  it('keeps values with "=" whole and converts resources to whole vCPUs and MB', () => {
    const ms = microservice(spec({ env: { FLOPS_TRAINING_CONFIG: '{"a":"b=c"}' }, resources: { cpus: 1.5, memoryMiB: 1000 } }), '10.30.0.3', settings);
    expect(ms.environment).toContain('FLOPS_TRAINING_CONFIG={"a":"b=c"}');
    expect(ms).toMatchObject({ vcpus: 2, memory: 1049 });
  });
});

describe('workerImage', () => {
  it('qualifies registry-relative and loopback references with the registry the workers pull from', () => {
    expect(workerImage('flops/x:1', settings)).toBe('127.0.0.1:5000/flops/x:1');
    expect(workerImage('localhost:5000/flops/x:1', { ...settings, imageRegistry: '10.0.0.5:5000' })).toBe('10.0.0.5:5000/flops/x:1');
  });

  it('leaves other registries alone', () => {
    expect(workerImage('registry.example.org/x/y:2', settings)).toBe('registry.example.org/x/y:2');
  });
});

describe('placement by data tags', () => {
  it('puts learner i on the i-th node holding every tag of the project', () => {
    const tags = ['mnist'];
    expect(placement(spec({ env: { FLOPS_LEARNER_INDEX: '0' } }), tags, settings)).toEqual([{ type: 'direct', node: 'vm' }]);
    expect(placement(spec({ env: { FLOPS_LEARNER_INDEX: '1' } }), tags, settings)).toEqual([{ type: 'direct', node: 'pi4', cluster: 'edge1' }]);
    expect(placement(spec({ env: { FLOPS_LEARNER_INDEX: '2' } }), tags, settings)).toEqual([{ type: 'direct', node: 'vm' }]);
    expect(placement(spec(), ['mnist', 'cifar'], settings)).toEqual([{ type: 'direct', node: 'pi4', cluster: 'edge1' }]);
  });

  it('leaves aggregators and tagless projects to the scheduler, and fails clearly when no node has the data', () => {
    expect(placement(spec({ kind: 'aggregator', component: 'aggregator' }), ['mnist'], settings)).toEqual([]);
    expect(placement(spec(), [], settings)).toEqual([]);
    expect(() => placement(spec(), ['imagenet'], settings)).toThrow(/no Oakestra worker node holds the data tags imagenet/);
  });

  it('parses FLOPS_OAKESTRA_DATA_NODES and refuses malformed entries', () => {
    expect([...parseDataNodes(' a=n1 ; b=c1/n2,n3 ').entries()]).toEqual([
      ['a', [{ node: 'n1' }]],
      ['b', [{ cluster: 'c1', node: 'n2' }, { node: 'n3' }]],
    ]);
    expect(parseDataNodes(undefined).size).toBe(0);
    expect(() => parseDataNodes('a')).toThrow(/tag=node/);
  });
});

describe('serviceOutcome', () => {
  it('is running while any instance is on its way or running', () => {
    expect(serviceOutcome([])).toEqual({ ended: false });
    expect(serviceOutcome([inst(0, 'REQUESTED')])).toEqual({ ended: false });
    expect(serviceOutcome([inst(0, 'RUNNING')])).toEqual({ ended: false });
  });

  it('is a clean exit when the one-shot completed, a failure when an instance failed or died, whatever its number', () => {
    expect(serviceOutcome([inst(0, 'COMPLETED')])).toMatchObject({ ended: true, exitCode: 0 });
    expect(serviceOutcome([inst(0, 'FAILED')])).toMatchObject({ ended: true, exitCode: null, detail: 'instance 0 FAILED' });
    // Oakestra restarts a dead instance under a new number: the component still failed.
    expect(serviceOutcome([inst(0, 'DEAD'), inst(1, 'RUNNING')])).toMatchObject({ ended: true, exitCode: null });
    expect(serviceOutcome([inst(3, 'UNDEPLOYED')])).toMatchObject({ ended: true, exitCode: null });
  });
});
