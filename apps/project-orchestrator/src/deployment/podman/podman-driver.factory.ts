import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { COMPONENT_TUNING } from '@flops/contracts';
import { DeploymentModel } from '@flops/models';
import type { OrchestratorConfig } from '../../config';
import { PodmanCliEngine } from './podman-cli.engine';
import { PodmanDriver } from './podman.driver';

/**
 * What a container takes from the orchestrator's environment: the machine-wide tuning, except
 * host paths (a container has its own file system; its image sets FLOPS_CACHE_DIR).
 */
const HOST_PATHS = ['FLOPS_CACHE_DIR', 'FLOPS_LEARNER_PYTHON', 'FLOPS_NODE_DATA_DIR'];
export const CONTAINER_INHERITED_ENV = ['TZ', 'NO_COLOR', ...COMPONENT_TUNING.filter((name) => !HOST_PATHS.includes(name))];

/** Where the node data directory (FLOPS_NODE_DATA_DIR of the orchestrator) is mounted, read-only, in every container. */
export const CONTAINER_NODE_DATA_DIR = '/flops/data';

/** One installation = one database: its containers are told from another checkout's on the same machine. */
export function defaultOwner(mongoUrl: string, dbName: string): string {
  return createHash('sha256').update(`${mongoUrl}\n${dbName}`).digest('hex').slice(0, 10);
}

/** The podman driver from the orchestrator's FLOPS_PODMAN_* settings. */
export function podmanDriver(c: OrchestratorConfig, deployments: DeploymentModel, dataDir: string): PodmanDriver {
  const registry = new URL(c.FLOPS_REGISTRY_URL);
  const engine = new PodmanCliEngine({
    bin: c.FLOPS_PODMAN_BIN,
    runtime: c.FLOPS_PODMAN_RUNTIME,
    network: c.FLOPS_PODMAN_NETWORK,
    ulimits: c.FLOPS_PODMAN_ULIMITS.split(','),
    insecureRegistries: registry.protocol === 'http:' ? [registry.host] : [],
    stateDir: resolve(dataDir, 'podman'),
  });
  const inheritedEnv: Record<string, string> = {};
  for (const name of CONTAINER_INHERITED_ENV) if (process.env[name]) inheritedEnv[name] = process.env[name]!;
  const nodeData = process.env.FLOPS_NODE_DATA_DIR;
  if (nodeData) inheritedEnv.FLOPS_NODE_DATA_DIR = CONTAINER_NODE_DATA_DIR;
  return new PodmanDriver(engine, deployments, {
    owner: c.FLOPS_PODMAN_OWNER ?? defaultOwner(c.MONGO_URL, c.FLOPS_DB_NAME),
    dataDir: resolve(dataDir),
    registry: registry.host,
    inheritedEnv,
    mounts: nodeData ? [{ source: resolve(nodeData), target: CONTAINER_NODE_DATA_DIR, readOnly: true }] : [],
    stopTimeoutSeconds: c.FLOPS_PODMAN_STOP_SECONDS,
    pollIntervalMs: c.FLOPS_PODMAN_POLL_MS,
  });
}
