import { Logger } from '@nestjs/common';
import { appendFileSync, mkdirSync } from 'node:fs';
import { constants } from 'node:os';
import { join, resolve } from 'node:path';
import { CONTAINER_LABELS } from '@flops/contracts';
import { DeploymentModel, DeploymentRecord } from '@flops/models';
import { formatImageReference, parseImageReference } from '@flops/oci-registry';
import { ComponentExit, ComponentKind, ComponentSpec, DeploymentDriver, ProjectQueue, componentKind } from '../deployment-driver';
import { ContainerEnd, ContainerEngine, ContainerMount, ContainerStatus } from './container-engine';

export interface PodmanDriverSettings {
  /** Tells this installation's containers from any other's on the machine (CONTAINER_LABELS.owner). */
  owner: string;
  /** Logs go to `<dataDir>/projects/<projectId>/<component>.log`, as with the local driver. */
  dataDir: string;
  /** `host:port` of the FLOps registry: images named without a registry come from there. */
  registry: string;
  /** Variables every component gets from the orchestrator's own environment (machine-wide tuning). */
  inheritedEnv: Record<string, string>;
  /** Host folders every component sees (the node data directory). */
  mounts?: readonly ContainerMount[];
  /** Grace period between SIGTERM and SIGKILL. */
  stopTimeoutSeconds: number;
  /** How often the containers are checked for an end. */
  pollIntervalMs: number;
}

/** `flops-<owner>-<project>-<component>`: one name per component, so podman itself refuses a second one. */
export function containerName(owner: string, projectId: string, component: string): string {
  return `flops-${owner}-${projectId}-${component}`;
}

/** The image as podman pulls it: from the FLOps registry when the reference names none. */
export function qualifiedImage(image: string, registry: string): string {
  const ref = parseImageReference(image);
  return ref.registry === undefined ? formatImageReference({ ...ref, registry }) : image;
}

/**
 * Runs components as podman containers on this machine: pulled by digest, the project's resources
 * as limits, labelled with the project and component, host network (the broker, registry and
 * aggregator data plane are on loopback), output appended to the component's log file. Containers
 * are kept until the project is undeployed, so their exit codes are known even after an
 * orchestrator restart; a restarted orchestrator finds them by label and never starts one twice.
 */
export class PodmanDriver extends DeploymentDriver {
  readonly name = 'podman';
  private readonly logger = new Logger(PodmanDriver.name);
  private readonly listeners: ((exit: ComponentExit) => void)[] = [];
  private readonly stopping = new Set<string>();
  private readonly queue = new ProjectQueue();
  private pollTimer?: NodeJS.Timeout;
  private polling?: Promise<void>;

  constructor(
    private readonly engine: ContainerEngine,
    private readonly deployments: DeploymentModel,
    private readonly settings: PodmanDriverSettings,
  ) {
    super();
  }

  onExit(listener: (exit: ComponentExit) => void): void {
    this.listeners.push(listener);
  }

  deploy(spec: ComponentSpec): Promise<void> {
    return this.queue.run(spec.projectId, () => this.deployNow(spec));
  }

  undeployProject(projectId: string): Promise<void> {
    return this.queue.run(projectId, () => this.undeployNow(projectId));
  }

  /** Adopts this installation's containers: records what an earlier orchestrator started but did not record; exits are then reported by the poll, with their real codes. */
  async resume(): Promise<void> {
    const containers = await this.engine.list({ [CONTAINER_LABELS.owner]: this.settings.owner });
    for (const container of containers) {
      const projectId = container.labels[CONTAINER_LABELS.project];
      const component = container.labels[CONTAINER_LABELS.component];
      if (!projectId || !component) continue;
      const id = `${projectId}/${component}`;
      const record = await this.deployments.findById(id).lean<DeploymentRecord>().exec();
      if (record?.handle.containerId === container.id) {
        if (record.status === 'running') this.logger.log(`adopted ${id} (container ${container.name}, ${container.running ? 'running' : 'ended'})`);
        continue;
      }
      // Started just before a crash, never recorded: it is ours all the same.
      await this.record(projectId, component, container.id, container.name, container.image);
      this.logger.log(`adopted unrecorded ${id} (container ${container.name})`);
    }
    this.startPolling();
  }

  async close(): Promise<void> {
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = undefined;
    await this.polling;
  }

  /** One pass over the running records: a container that ended (or vanished) is recorded and reported once. */
  async poll(): Promise<void> {
    this.polling ??= this.pollNow().finally(() => (this.polling = undefined));
    return this.polling;
  }

  private async deployNow(spec: ComponentSpec): Promise<void> {
    const id = `${spec.projectId}/${spec.component}`;
    const name = containerName(this.settings.owner, spec.projectId, spec.component);
    const [existing] = await this.engine.list(this.labels(spec.projectId, spec.component));
    if (existing?.running) {
      const record = await this.deployments.findById(id).lean<DeploymentRecord>().exec();
      if (record?.handle.containerId !== existing.id) await this.record(spec.projectId, spec.component, existing.id, existing.name, spec.image);
      this.logger.log(`${id} already running (container ${existing.name})`);
      this.startPolling();
      return;
    }
    // It ran and ended: deploying again means a fresh container.
    if (existing) await this.engine.remove(existing.id, this.settings.stopTimeoutSeconds);
    const image = qualifiedImage(spec.image, this.settings.registry);
    await this.engine.pull(image);
    const logFile = this.logFile(spec.projectId, spec.component);
    mkdirSync(resolve(logFile, '..'), { recursive: true });
    appendFileSync(logFile, `==== ${new Date().toISOString()} podman: starting ${name} from ${image}\n`);
    const containerId = await this.engine.run({
      name,
      image,
      env: { ...this.settings.inheritedEnv, ...spec.env },
      labels: this.labels(spec.projectId, spec.component, spec.kind),
      memoryMiB: spec.resources.memoryMiB,
      cpus: spec.resources.cpus,
      logFile,
      mounts: this.settings.mounts,
    });
    await this.record(spec.projectId, spec.component, containerId, name, spec.image);
    this.logger.log(`started ${id} (${spec.kind}, container ${name}), log ${logFile}`);
    this.startPolling();
  }

  private async undeployNow(projectId: string): Promise<void> {
    const records = await this.deployments.find({ projectId, driver: this.name }).lean<DeploymentRecord[]>().exec();
    for (const r of records) this.stopping.add(r._id);
    try {
      // By label, not by record: a container started just before a crash has none.
      const containers = await this.engine.list(this.labels(projectId));
      await Promise.all(containers.map((c) => this.engine.remove(c.id, this.settings.stopTimeoutSeconds)));
      const left = await this.engine.list(this.labels(projectId));
      if (left.length) throw new Error(`containers of ${projectId} are still there after removal: ${left.map((c) => c.name).join(', ')}`);
      await this.deployments
        .updateMany({ projectId, driver: this.name, status: 'running' }, { $set: { status: 'stopped', endedAt: new Date() } })
        .exec();
      if (containers.length) this.logger.log(`undeployed ${projectId} (${containers.length} container(s) removed)`);
    } finally {
      for (const r of records) this.stopping.delete(r._id);
    }
  }

  private async pollNow(): Promise<void> {
    try {
      const running = await this.deployments.find({ driver: this.name, status: 'running' }).lean<DeploymentRecord[]>().exec();
      if (running.length === 0) return;
      const containers = new Map<string, ContainerStatus>();
      for (const c of await this.engine.list({ [CONTAINER_LABELS.owner]: this.settings.owner })) containers.set(c.id, c);
      for (const record of running) {
        if (this.stopping.has(record._id)) continue;
        const container = record.handle.containerId ? containers.get(record.handle.containerId) : undefined;
        if (container?.running) continue;
        const end = container ? await this.engine.ended(container.id) : null;
        if (container && !end) continue; // restarted meanwhile, or gone between the two calls: next time
        if (this.stopping.has(record._id)) continue; // undeploy began meanwhile: no exit to report
        // A container removed behind our back leaves no status.
        const exit: ComponentExit = { projectId: record.projectId, component: record.component, kind: componentKind(record.component), ...(end ? exitStatus(end) : { exitCode: null, signal: null }) };
        if (!(await this.markEnded(record._id, exit.exitCode, exit.signal))) continue;
        this.logger.log(`${record._id} exited (${exit.signal ?? `code ${exit.exitCode}`})`);
        for (const listener of this.listeners) listener(exit);
      }
    } catch (error) {
      this.logger.warn(`could not check containers: ${String(error)}`);
    }
  }

  private startPolling(): void {
    this.pollTimer ??= setInterval(() => void this.poll(), this.settings.pollIntervalMs);
    this.pollTimer.unref();
  }

  private labels(projectId: string, component?: string, kind?: ComponentKind): Record<string, string> {
    return {
      [CONTAINER_LABELS.owner]: this.settings.owner,
      [CONTAINER_LABELS.project]: projectId,
      ...(component ? { [CONTAINER_LABELS.component]: component } : {}),
      ...(kind ? { [CONTAINER_LABELS.kind]: kind } : {}),
    };
  }

  private logFile(projectId: string, component: string): string {
    return join(resolve(this.settings.dataDir), 'projects', projectId, `${component}.log`);
  }

  private async record(projectId: string, component: string, containerId: string, containerName: string, image: string): Promise<void> {
    const id = `${projectId}/${component}`;
    await this.deployments
      .replaceOne(
        { _id: id },
        {
          _id: id,
          projectId,
          component,
          driver: this.name,
          image,
          status: 'running',
          handle: { containerId, containerName },
          logFile: this.logFile(projectId, component),
          exitCode: null,
          exitSignal: null,
          startedAt: new Date(),
        },
        { upsert: true },
      )
      .exec();
  }

  /** False if the component was no longer recorded as running (someone else recorded its end). */
  private async markEnded(id: string, code: number | null, signal: string | null): Promise<boolean> {
    const result = await this.deployments
      .updateOne({ _id: id, status: 'running' }, { $set: { status: 'exited', exitCode: code, exitSignal: signal, endedAt: new Date() } })
      .exec();
    return result.matchedCount > 0;
  }
}

/**
 * A container's end as the local driver reports a process's: an exit code, or the signal that
 * killed it (the runtime says 128 + n). A SIGKILL under a memory limit is most likely the kernel's
 * OOM killer, which podman on cgroup v1 hosts does not always notice: the reason says so.
 */
export function exitStatus(end: ContainerEnd): Pick<ComponentExit, 'exitCode' | 'signal'> {
  const code = end.exitCode;
  if (end.oomKilled) return { exitCode: null, signal: 'SIGKILL (out of memory)' };
  if (code === null || code <= 128 || code > 128 + 64) return { exitCode: code, signal: null };
  const name = Object.entries(constants.signals).find(([, n]) => n === code - 128)?.[0] ?? `signal ${code - 128}`;
  if (name === 'SIGKILL' && end.memoryLimitBytes !== null) {
    return { exitCode: null, signal: `SIGKILL (out of memory? its limit is ${Math.round(end.memoryLimitBytes / 1048576)} MiB)` };
  }
  return { exitCode: null, signal: name };
}
