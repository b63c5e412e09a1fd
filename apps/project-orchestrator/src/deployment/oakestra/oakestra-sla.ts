import { formatImageReference, parseImageReference } from '@flops/oci-registry';
import { ComponentSpec } from '../deployment-driver';
import { OakestraApplicationSpec, OakestraConstraint, OakestraInstance, OakestraMicroservice } from './oakestra-api';

/** Oakestra's SLA schema (v0.4.301 and later) for application and service names and namespaces. */
export const OAKESTRA_NAME = /^[a-zA-Z0-9]{1,30}$/;

/** Instance states after which nothing runs any more. */
const ENDED = new Set(['COMPLETED', 'FAILED', 'DEAD', 'UNDEPLOYED']);

export interface SlaSettings {
  /** Namespace of FLOps's applications and services in Oakestra. */
  namespace: string;
  /** Broker and registry URLs as the components on a worker reach them (replacing the orchestrator's own). */
  mqttUrl?: string;
  registryUrl?: string;
  /** `host:port` of the registry as the workers' container runtime pulls from it (default: the image's own). */
  imageRegistry?: string;
  /** Data-plane port of aggregators (they are reached at their round-robin IP and this port). */
  aggregatorPort: number;
  /** Where data lives: data tag → the worker nodes that hold it. */
  dataNodes: ReadonlyMap<string, readonly OakestraNode[]>;
}

export interface OakestraNode {
  node: string;
  cluster?: string;
}

/** One application per project, named after the project id (`p` + 16 hex digits). */
export function applicationSpec(projectId: string, settings: SlaSettings): OakestraApplicationSpec {
  const name = checkedName(projectId, 'project id');
  return { application_name: name, application_namespace: settings.namespace, application_desc: `FLOps project ${projectId}` };
}

/** `learner-3` → `learner3`: Oakestra's names are letters and digits (a `-` breaks its networking). */
export function serviceName(component: string): string {
  return checkedName(component.replace(/[^a-zA-Z0-9]/g, ''), `component ${component}`);
}

function checkedName(name: string, what: string): string {
  if (!OAKESTRA_NAME.test(name)) throw new Error(`${what} cannot be an Oakestra name (letters and digits, at most 30): "${name}"`);
  return name;
}

/**
 * Learners go where their data is: to a node that holds every data tag of the project, learner i
 * to the i-th such node (round robin). Without data tags Oakestra's scheduler chooses freely.
 */
export function placement(spec: ComponentSpec, dataTags: readonly string[], settings: SlaSettings): OakestraConstraint[] {
  if (spec.kind !== 'learner' || dataTags.length === 0) return [];
  const [first, ...rest] = dataTags.map((tag) => settings.dataNodes.get(tag) ?? []);
  const key = (n: OakestraNode) => `${n.cluster ?? ''}/${n.node}`;
  const nodes = first.filter((n) => rest.every((holders) => holders.some((h) => key(h) === key(n))));
  if (nodes.length === 0) {
    throw new Error(`no Oakestra worker node holds the data tags ${dataTags.join(', ')} (FLOPS_OAKESTRA_DATA_NODES)`);
  }
  const index = Number(spec.env.FLOPS_LEARNER_INDEX ?? 0);
  const chosen = nodes[index % nodes.length];
  return [{ type: 'direct', node: chosen.node, ...(chosen.cluster ? { cluster: chosen.cluster } : {}) }];
}

/** The SLA microservice that runs a component. */
export function microservice(spec: ComponentSpec, rrIp: string, settings: SlaSettings): OakestraMicroservice {
  const env: Record<string, string> = { ...spec.env };
  if (settings.mqttUrl) env.FLOPS_MQTT_URL = settings.mqttUrl;
  if (settings.registryUrl) env.FLOPS_REGISTRY_URL = settings.registryUrl;
  if (spec.kind === 'aggregator') {
    // Learners reach the aggregator's data plane through its service IP, on any node.
    env.FLOPS_AGGREGATOR_HOST = '0.0.0.0';
    env.FLOPS_AGGREGATOR_PORT = String(settings.aggregatorPort);
    env.FLOPS_AGGREGATOR_ADVERTISE_HOST = rrIp;
  }
  const dataTags = (spec.env.FLOPS_DATA_TAGS ?? '').split(',').filter(Boolean);
  return {
    microservice_name: serviceName(spec.component),
    microservice_namespace: settings.namespace,
    virtualization: 'container',
    cmd: [],
    // Oakestra schedules by whole vCPUs and MB of memory.
    vcpus: Math.max(1, Math.ceil(spec.resources.cpus ?? 1)),
    memory: Math.ceil((spec.resources.memoryMiB ?? 512) * 1.048576),
    vgpus: 0,
    storage: 0,
    code: workerImage(spec.image, settings),
    port: '',
    environment: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    // Components exit 0 when training ends: Oakestra then says COMPLETED instead of restarting them.
    one_shot: true,
    addresses: { rr_ip: rrIp },
    constraints: placement(spec, dataTags, settings),
  };
}

/** The image as the workers pull it: from `imageRegistry` when the reference names no other registry. */
export function workerImage(image: string, settings: Pick<SlaSettings, 'imageRegistry' | 'registryUrl'>): string {
  const ref = parseImageReference(image);
  if (!settings.imageRegistry) return image;
  const ours = [undefined, settings.registryUrl ? new URL(settings.registryUrl).host : undefined];
  if (ref.registry !== undefined && !ours.includes(ref.registry) && !isLoopback(ref.registry)) return image;
  return formatImageReference({ ...ref, registry: settings.imageRegistry });
}

function isLoopback(registry: string): boolean {
  return /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$/.test(registry);
}

export type InstanceOutcome = { ended: false } | { ended: true; exitCode: number | null; detail: string };

/**
 * Whether a component ended, from its service's instances. An instance that FAILED (would not
 * start) or is DEAD (exited otherwise than 0 as a one-shot) means the component failed, even if
 * Oakestra restarts it under a new instance number; instance numbers grow with every redeploy, so
 * no instance is looked up by number. COMPLETED everywhere is a clean exit.
 */
export function serviceOutcome(instances: readonly OakestraInstance[]): InstanceOutcome {
  const detail = (i: OakestraInstance) => `instance ${i.instance_number} ${i.status}${i.status_detail ? ` (${i.status_detail})` : ''}`;
  const failed = instances.find((i) => i.status === 'FAILED' || i.status === 'DEAD');
  if (failed) return { ended: true, exitCode: null, detail: detail(failed) };
  if (instances.length === 0 || instances.some((i) => !ENDED.has(i.status))) return { ended: false };
  const completed = instances.find((i) => i.status === 'COMPLETED');
  return { ended: true, exitCode: completed ? 0 : null, detail: detail(completed ?? instances[0]) };
}

/** `tag=node[,cluster/node…][;tag=…]` (FLOPS_OAKESTRA_DATA_NODES) → data tag → nodes. */
export function parseDataNodes(value: string | undefined): Map<string, OakestraNode[]> {
  const map = new Map<string, OakestraNode[]>();
  for (const entry of (value ?? '').split(';').map((e) => e.trim()).filter(Boolean)) {
    const [tag, nodes] = entry.split('=');
    if (!tag || !nodes) throw new Error(`FLOPS_OAKESTRA_DATA_NODES: "${entry}" is not tag=node[,node…]`);
    map.set(
      tag.trim(),
      nodes.split(',').map((n) => {
        const [a, b] = n.trim().split('/');
        return b === undefined ? { node: a } : { cluster: a, node: b };
      }),
    );
  }
  return map;
}
