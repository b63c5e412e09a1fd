import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { ProjectStore } from '@flops/models';
import { ComponentExit, DeploymentDriver } from '../deployment/deployment-driver';
import { ProjectLifecycleService } from './project-lifecycle.service';
import { StateEffects } from './state-effects';

/** A submission message normally arrives within milliseconds; after this the sweeper starts the project itself. */
const SUBMISSION_GRACE_MS = 3000;
/** A project that just ended is being cleaned up by its own transition; the sweeper only finishes stalled clean-ups. */
const CLEAN_UP_GRACE_MS = 10_000;

/**
 * Keeps projects moving when messages alone cannot: resumes every unfinished project at boot,
 * fails projects whose state deadline passed, finishes interrupted clean-ups, and turns a crashed
 * aggregator into a failure.
 */
@Injectable()
export class RecoveryService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(RecoveryService.name);
  private timer?: NodeJS.Timeout;
  private sweeping = false;

  constructor(
    private readonly store: ProjectStore,
    private readonly lifecycle: ProjectLifecycleService,
    private readonly effects: StateEffects,
    private readonly driver: DeploymentDriver,
    private readonly sweepIntervalMs: number,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.driver.onExit((exit) => void this.componentExited(exit));
    await this.driver.resume();
    const unfinished = await this.store.unfinished();
    if (unfinished.length) this.logger.log(`resuming ${unfinished.length} unfinished project(s)`);
    for (const project of unfinished) await this.lifecycle.resume(project);
    await this.sweep();
    this.timer = setInterval(() => void this.sweep(), this.sweepIntervalMs);
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** One pass over deadlines and pending clean-ups; never two at once. */
  async sweep(now = new Date()): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      for (const project of await this.store.waitingSince(new Date(now.getTime() - SUBMISSION_GRACE_MS))) {
        await this.lifecycle.handle(project._id, { kind: 'start' });
      }
      for (const project of await this.store.overdue(now)) {
        await this.lifecycle.handle(project._id, { kind: 'deadline.passed', state: project.state });
      }
      for (const project of await this.store.endedNotCleanedUp(new Date(now.getTime() - CLEAN_UP_GRACE_MS))) {
        await this.effects.cleanUp(project);
      }
    } catch (error) {
      this.logger.error(`sweep failed: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      this.sweeping = false;
    }
  }

  private async componentExited(exit: ComponentExit): Promise<void> {
    const unknownOrClean = exit.exitCode === null ? exit.signal === null : exit.exitCode === 0;
    if (exit.kind !== 'aggregator' || unknownOrClean) {
      if (!unknownOrClean) this.logger.warn(`${exit.projectId}/${exit.component} exited with ${exit.signal ?? `code ${exit.exitCode}`}`);
      return; // learners come and go: the aggregator decides whether a round still has enough of them
    }
    await this.lifecycle
      .handle(exit.projectId, {
        kind: 'component.failed',
        component: exit.component,
        reason: `exited with ${exit.signal ?? `code ${exit.exitCode}`} (see its log)`,
      })
      .catch((e) => this.logger.error(`could not record the failure of ${exit.component}: ${String(e)}`));
  }
}
