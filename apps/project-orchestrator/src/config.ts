import { IsIn, IsInt, IsOptional, IsString, IsUrl, Matches, Min } from 'class-validator';
import { DEPLOYMENT_DRIVERS, DeploymentDriverName, IDENTIFIER } from '@flops/contracts';
import { InfraConfig, IsPort } from '@flops/config';
import { DEFAULT_DEADLINES, StateDeadlines } from '@flops/lifecycle';

export class OrchestratorConfig extends InfraConfig {
  /** HTTP port of the health endpoint. */
  @IsPort() FLOPS_ORCHESTRATOR_PORT = 3001;

  /** MQTT client id; stable across restarts so the broker keeps our session (and queued events). */
  @Matches(IDENTIFIER) FLOPS_ORCHESTRATOR_CLIENT_ID = 'flops-orchestrator';

  /**
   * Which driver deploys components: `local` runs them as child processes on this machine,
   * `podman` as podman containers on this machine (FLOPS_PODMAN_*), `oakestra` as services of an
   * Oakestra System Manager (FLOPS_OAKESTRA_*).
   */
  @IsIn(DEPLOYMENT_DRIVERS) FLOPS_DRIVER: DeploymentDriverName = 'local';

  /** The podman binary (FLOPS_DRIVER=podman). */
  @IsString() FLOPS_PODMAN_BIN = 'podman';
  /** OCI runtime of the containers: crun refuses hosts with hybrid cgroups (v1 + v2), runc runs there. */
  @Matches(/^[\w./-]+$/) FLOPS_PODMAN_RUNTIME = 'runc';
  /** Container network: `host` lets components reach the broker, registry and aggregator on loopback. */
  @Matches(/^[\w.:-]+$/) FLOPS_PODMAN_NETWORK = 'host';
  /** Ulimits of every container (`name=soft:hard`, comma-separated): podman's defaults fail on hosts with lower limits. */
  @Matches(/^[a-z]+=\d+:\d+(,[a-z]+=\d+:\d+)*$/) FLOPS_PODMAN_ULIMITS = 'nofile=1024:1024,nproc=1024:1024';
  /** Marks this installation's containers (default: derived from MONGO_URL and FLOPS_DB_NAME). */
  @IsOptional() @Matches(/^[a-z0-9]{1,16}$/) FLOPS_PODMAN_OWNER?: string;
  /** How often containers are checked for an end. */
  @IsInt() @Min(100) FLOPS_PODMAN_POLL_MS = 1000;
  /** Grace period between SIGTERM and SIGKILL when a container is stopped. */
  @IsInt() @Min(0) FLOPS_PODMAN_STOP_SECONDS = 10;

  /** Oakestra's System Manager (root orchestrator API), e.g. `http://10.0.0.2:10000`. */
  @IsOptional() @IsUrl({ require_tld: false, protocols: ['http', 'https'] }) FLOPS_OAKESTRA_URL?: string;
  @IsString() FLOPS_OAKESTRA_USER = 'Admin';
  @IsString() FLOPS_OAKESTRA_PASSWORD = 'Admin';
  /** oakestra-net's root service manager (free service IPs); default: the System Manager's host, port 10099. */
  @IsOptional() @IsUrl({ require_tld: false, protocols: ['http', 'https'] }) FLOPS_OAKESTRA_NET_URL?: string;
  /** Namespace of FLOps's applications and services in Oakestra. */
  @Matches(/^[a-zA-Z0-9]{1,30}$/) FLOPS_OAKESTRA_NAMESPACE = 'flops';
  /** Broker and registry as components on the workers reach them (default: FLOPS_MQTT_URL, FLOPS_REGISTRY_URL). */
  @IsOptional() @IsString() FLOPS_OAKESTRA_MQTT_URL?: string;
  @IsOptional() @IsString() FLOPS_OAKESTRA_REGISTRY_URL?: string;
  /** `host:port` the workers' container runtime pulls FLOps's images from (default: FLOPS_REGISTRY_URL's). */
  @IsOptional() @IsString() FLOPS_OAKESTRA_IMAGE_REGISTRY?: string;
  /** Data-plane port of aggregators on Oakestra (reached at their service IP). */
  @IsPort() FLOPS_OAKESTRA_AGGREGATOR_PORT = 7070;
  /** Which worker nodes hold which data: `tag=node[,cluster/node…][;tag=…]`; learners go there. */
  @IsOptional() @Matches(/^[^=;]+=[^=;]+(;[^=;]+=[^=;]+)*$/) FLOPS_OAKESTRA_DATA_NODES?: string;
  @IsInt() @Min(200) FLOPS_OAKESTRA_POLL_MS = 2000;

  /** Registry repository prefix for learner images and models, e.g. `flops` → `flops/learners/<name>`. */
  @Matches(/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/) FLOPS_REGISTRY_NAMESPACE = 'flops';

  /** How often deadlines and unfinished clean-ups are checked. */
  @IsInt() @Min(100) FLOPS_SWEEP_INTERVAL_MS = 2000;

  /** First retry of a failed MLflow update; doubles per attempt up to FLOPS_TRACKING_MAX_RETRY_MS. */
  @IsInt() @Min(100) FLOPS_TRACKING_RETRY_MS = 5_000;
  @IsInt() @Min(100) FLOPS_TRACKING_MAX_RETRY_MS = 300_000;

  /** Overrides of the per-state deadlines, in seconds (e.g. `BUILDING=600,TRAINING=300`). */
  @IsOptional() @Matches(/^([A-Z_]+=\d+)(,[A-Z_]+=\d+)*$/) FLOPS_DEADLINES?: string;
}

/** `BUILDING=600,TRAINING=300` (seconds) over the defaults. */
export function parseDeadlines(overrides: string | undefined): StateDeadlines {
  const deadlines = { ...DEFAULT_DEADLINES };
  for (const pair of overrides ? overrides.split(',') : []) {
    const [state, seconds] = pair.split('=');
    if (!(state in deadlines)) throw new Error(`FLOPS_DEADLINES: ${state} is not a non-terminal state`);
    if (Number(seconds) < 1) throw new Error(`FLOPS_DEADLINES: ${state} must be at least 1 second`);
    deadlines[state as keyof StateDeadlines] = Number(seconds) * 1000;
  }
  return deadlines;
}
