import { Logger } from '@nestjs/common';
import { ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomUUID } from 'node:crypto';
import { componentLogFile, projectLogDir } from '@flops/config';
import { COMPONENT_TUNING, LAUNCH_ID_VARIABLE, injectedFault } from '@flops/contracts';
import { DeploymentModel, DeploymentRecord } from '@flops/models';
import { ComponentExit, ComponentKind, ComponentSpec, DeploymentDriver, componentKind } from './deployment-driver';

export interface LocalDriverSettings {
  /** Root of the FLOps checkout whose apps the components run. */
  workspaceRoot: string;
  /** Logs go to `<dataDir>/projects/<projectId>/<component>.log`. */
  dataDir: string;
  /** Grace period between SIGTERM and SIGKILL. */
  stopTimeoutMs?: number;
  /** How often adopted processes (started by an earlier orchestrator) are checked. */
  pollIntervalMs?: number;
}

/** The app each component kind runs: FLOps's own apps, compiled by `nx build` (relative to the workspace root). */
export const COMPONENT_ENTRY: Record<ComponentKind, string> = {
  aggregator: 'dist/apps/aggregator/main.cjs',
  learner: 'dist/apps/learner/main.cjs',
};

/**
 * Variables a component inherits from the orchestrator: the process basics and the operator's
 * machine-wide tuning of components. Everything project-specific comes from the spec.
 */
export const INHERITED_ENV = [
  'PATH',
  'HOME',
  'LANG',
  'TZ',
  'TMPDIR',
  'NODE_OPTIONS',
  'NO_COLOR',
  ...COMPONENT_TUNING,
];

/**
 * Runs components as child processes of this machine, each in its own process group with its
 * log in a file. The process table lives in the database, so after a restart the orchestrator
 * adopts what is still running and can always stop it: nothing is left orphaned. A component is
 * recorded (`starting`, with a launch id) before it is started and its pid after: a crash in
 * between leaves a record by which the next orchestrator finds the process instead of starting another.
 */
export class LocalProcessDriver extends DeploymentDriver {
  readonly name = 'local';
  private readonly logger = new Logger(LocalProcessDriver.name);
  private readonly children = new Map<string, ChildProcess>();
  private readonly stopping = new Set<string>();
  private readonly listeners: ((exit: ComponentExit) => void)[] = [];
  private pollTimer?: NodeJS.Timeout;

  constructor(
    private readonly deployments: DeploymentModel,
    private readonly settings: LocalDriverSettings,
  ) {
    super();
  }

  onExit(listener: (exit: ComponentExit) => void): void {
    this.listeners.push(listener);
  }

  async deploy(spec: ComponentSpec): Promise<void> {
    const id = `${spec.projectId}/${spec.component}`;
    const existing = await this.deployments.findById(id).lean<DeploymentRecord>().exec();
    if (existing?.status === 'running' && isAlive(existing.handle.pid, existing.handle.startTicks)) {
      this.logger.log(`${id} already running (pid ${existing.handle.pid})`);
      return;
    }
    if (existing?.status === 'starting' && (await this.adoptStarted(existing))) return;
    const entry = resolve(this.settings.workspaceRoot, COMPONENT_ENTRY[spec.kind]);
    if (!existsSync(entry)) throw new Error(`${entry} does not exist: build the apps first (npx nx run-many -t build)`);
    mkdirSync(projectLogDir(this.settings.dataDir, spec.projectId), { recursive: true });
    const logFile = componentLogFile(this.settings.dataDir, spec.projectId, spec.component);
    const logFd = openSync(logFile, 'a');
    const env: Record<string, string> = {};
    for (const key of INHERITED_ENV) if (process.env[key]) env[key] = process.env[key]!;
    Object.assign(env, spec.env);
    const launchId = randomUUID();
    env[LAUNCH_ID_VARIABLE] = launchId;
    // Intent first: if we die between starting the process and recording its pid, the next
    // orchestrator finds the process by its launch id rather than starting a second one.
    await this.deployments
      .replaceOne(
        { _id: id },
        {
          _id: id,
          projectId: spec.projectId,
          component: spec.component,
          driver: this.name,
          image: spec.image,
          status: 'starting',
          handle: { launchId },
          logFile,
          exitCode: null,
          exitSignal: null,
          startedAt: new Date(),
        },
        { upsert: true },
      )
      .exec();
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, [entry], {
        cwd: this.settings.workspaceRoot,
        env,
        detached: true, // its own process group: undeploy stops the component and anything it spawned
        stdio: ['ignore', logFd, logFd],
      });
    } finally {
      closeSync(logFd);
    }
    const pid = await new Promise<number>((ok, fail) => {
      child.once('spawn', () => ok(child.pid!));
      child.once('error', fail);
    });
    child.unref(); // the orchestrator may restart while components go on training
    this.children.set(id, child);
    child.once('exit', (code, signal) => void this.exited(id, spec, code, signal));
    if (injectedFault('orchestrator-crash-after-spawn') === spec.component) process.kill(process.pid, 'SIGKILL');
    await this.deployments
      .updateOne(
        { _id: id, status: 'starting', 'handle.launchId': launchId },
        { $set: { status: 'running', handle: { pid, startTicks: processStartTicks(pid) ?? undefined, launchId } } },
      )
      .exec();
    this.logger.log(`started ${id} (${spec.kind}, pid ${pid}), log ${logFile}`);
  }

  /**
   * A component recorded as starting by an orchestrator that died before recording its pid: if
   * its process is running, record and keep it. False if it never started (or has ended).
   */
  private async adoptStarted(record: DeploymentRecord): Promise<boolean> {
    const pid = record.handle.launchId ? findLaunched(record.handle.launchId) : null;
    if (!pid) {
      await this.markEnded(record._id, 'exited', null, null);
      return false;
    }
    const startTicks = processStartTicks(pid) ?? undefined;
    const adopted = await this.deployments
      .updateOne(
        { _id: record._id, status: 'starting', 'handle.launchId': record.handle.launchId },
        { $set: { status: 'running', handle: { pid, startTicks, launchId: record.handle.launchId } } },
      )
      .exec();
    if (adopted.matchedCount > 0) this.logger.log(`adopted ${record._id} (pid ${pid}), started before the orchestrator could record it`);
    return true; // running either way: recorded now, or by whoever was faster
  }

  async undeployProject(projectId: string): Promise<void> {
    const found = await this.deployments.find({ projectId, status: { $in: ['starting', 'running', 'exited'] } }).lean<DeploymentRecord[]>().exec();
    // One recorded as starting has no pid yet: find its process by its launch id.
    const records = found.map((r) =>
      r.status === 'starting' ? { ...r, status: 'running' as const, handle: { ...r.handle, pid: findLaunched(r.handle.launchId) ?? undefined } } : r,
    );
    // A component that exited on its own may have left children behind in its process group.
    const live = records.filter((r) => r.status === 'running' || orphanedGroupAlive(r.handle.pid));
    await Promise.all(live.map((record) => this.stop(record)));
  }

  async resume(): Promise<void> {
    const starting = await this.deployments.find({ driver: this.name, status: 'starting' }).lean<DeploymentRecord[]>().exec();
    for (const record of starting) await this.adoptStarted(record);
    const running = await this.deployments.find({ driver: this.name, status: 'running' }).lean<DeploymentRecord[]>().exec();
    for (const record of running) {
      if (this.children.has(record._id)) continue;
      if (!isAlive(record.handle.pid, record.handle.startTicks)) {
        await this.markEnded(record._id, 'exited', null, null);
        this.logger.log(`${record._id} ended while the orchestrator was away`);
      } else {
        this.logger.log(`adopted ${record._id} (pid ${record.handle.pid})`);
      }
    }
    this.pollTimer ??= setInterval(() => void this.pollAdopted(), this.settings.pollIntervalMs ?? 1000);
    this.pollTimer.unref();
  }

  close(): Promise<void> {
    if (this.pollTimer) clearInterval(this.pollTimer);
    return Promise.resolve();
  }

  /** Adopted processes are not our children, so their exit is noticed by polling. */
  private async pollAdopted(): Promise<void> {
    try {
      const running = await this.deployments.find({ driver: this.name, status: 'running' }).lean<DeploymentRecord[]>().exec();
      for (const record of running) {
        if (this.children.has(record._id) || this.stopping.has(record._id)) continue;
        if (isAlive(record.handle.pid, record.handle.startTicks)) continue;
        // Not recorded: it was stopped (by undeploy) between the query and now, which is no exit to report.
        if (!(await this.markEnded(record._id, 'exited', null, null))) continue;
        this.emit({ projectId: record.projectId, component: record.component, kind: componentKind(record.component), exitCode: null, signal: null });
      }
    } catch (error) {
      this.logger.warn(`could not check adopted components: ${String(error)}`);
    }
  }

  private async exited(id: string, spec: ComponentSpec, code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    this.children.delete(id);
    if (this.stopping.has(id)) return; // undeploy records the stop itself
    // The exit event of a child that undeploy killed can come after the stop was recorded (and
    // `stopping` cleared): markEnded then changes nothing, and it is no exit to report.
    const recorded = await this.markEnded(id, 'exited', code, signal).catch((e) => {
      this.logger.warn(`could not record exit of ${id}: ${String(e)}`);
      return true;
    });
    if (!recorded) return;
    this.logger.log(`${id} exited (code ${code}, signal ${signal})`);
    this.emit({ projectId: spec.projectId, component: spec.component, kind: spec.kind, exitCode: code, signal });
  }

  private emit(exit: ComponentExit): void {
    for (const listener of this.listeners) listener(exit);
  }

  private async stop(record: DeploymentRecord): Promise<void> {
    const { pid, startTicks } = record.handle;
    this.stopping.add(record._id);
    try {
      if (pid && (isAlive(pid, startTicks) || orphanedGroupAlive(pid))) {
        signalGroup(pid, 'SIGTERM');
        const deadline = Date.now() + (this.settings.stopTimeoutMs ?? 5000);
        // Wait for the whole group: what the component spawned may outlive it (e.g. ignoring SIGTERM).
        const running = () => isAlive(pid, startTicks) || groupAlive(pid);
        while (running() && Date.now() < deadline) await sleep(100);
        if (running()) {
          this.logger.warn(`${record._id} ignored SIGTERM; killing it`);
          signalGroup(pid, 'SIGKILL');
          while (running()) await sleep(50);
        }
      }
      await this.markEnded(record._id, 'stopped', null, null);
      this.logger.log(`stopped ${record._id}`);
    } finally {
      this.stopping.delete(record._id);
    }
  }

  /** False if the component was no longer recorded as running (someone else recorded its end). */
  private async markEnded(id: string, status: 'stopped' | 'exited', code: number | null, signal: string | null): Promise<boolean> {
    const result = await this.deployments
      .updateOne({ _id: id, status: { $in: ['starting', 'running'] } }, { $set: { status, exitCode: code, exitSignal: signal, endedAt: new Date() } })
      .exec();
    return result.matchedCount > 0;
  }
}


/**
 * Signals the component's process group (it leads its own: `detached`). Never the bare pid: if
 * the group is gone, that pid may belong to someone else by now.
 */
function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    /* the group is gone */
  }
}

/**
 * Whether a component's process group outlived its leader. Linux never hands out a pid that is
 * still some group's id, so if another process has the leader's pid now, our group is empty.
 */
function orphanedGroupAlive(pid: number | undefined): boolean {
  return pid !== undefined && processStartTicks(pid) === null && groupAlive(pid);
}

/** Whether a live (non-zombie) process is still in process group `pgid` (scans /proc). */
function groupAlive(pgid: number): boolean {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return false;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pgrp) === pgid && state !== 'Z') return true;
    } catch {
      /* ended meanwhile */
    }
  }
  return false;
}

/**
 * The process started with this launch id: the leader of its own process group (what the driver
 * starts), not a child that inherited the variable. Scans /proc/<pid>/environ.
 */
export function findLaunched(launchId: string | undefined): number | null {
  if (!launchId) return null;
  const needle = `${LAUNCH_ID_VARIABLE}=${launchId}`;
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return null;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (!readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0').includes(needle)) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pgrp) === Number(entry) && state !== 'Z') return Number(entry);
    } catch {
      /* ended meanwhile, or not ours to read */
    }
  }
  return null;
}

/** Field 22 of /proc/<pid>/stat: when the process started. Tells a reused pid from ours. */
export function processStartTicks(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const afterName = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(afterName[19]);
  } catch {
    return null;
  }
}

export function isAlive(pid: number | undefined, startTicks: number | undefined): boolean {
  if (!pid) return false;
  const ticks = processStartTicks(pid);
  if (ticks === null) return false;
  if (startTicks !== undefined && ticks !== startTicks) return false;
  // A zombie has exited; it only waits for its parent to read the status.
  try {
    const state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
    return state !== 'Z';
  } catch {
    return false;
  }
}
