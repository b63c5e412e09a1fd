import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { ProjectStore } from '@flops/models';
import { ComponentExit, DeploymentDriver } from '../deployment/deployment-driver';
import { ProjectLifecycleService } from './project-lifecycle.service';
import { StateEffects } from './state-effects';

/** A submission message normally arrives within milliseconds; after this the sweeper starts the project itself. */
const SUBMISSION_GRACE_MS = 3000;
/** A project that just ended is being cleaned up by its own transition; the sweeper only finishes stalled clean-ups. */
const CLEAN_UP_GRACE_MS = 10_000;
/** An aggregator's completion message may still be on its way (or being handled) when we see it gone. */
const UNKNOWN_EXIT_GRACE_MS = 5_000;

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
    // Each project on its own: one that cannot be resumed now must not keep the others (or the service) down.
    await Promise.all(unfinished.map((project) => this.guarded(project._id, 'resume', () => this.lifecycle.resume(project._id))));
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
      const [waiting, overdue, uncleaned] = await Promise.all([
        this.store.waitingSince(new Date(now.getTime() - SUBMISSION_GRACE_MS)),
        this.store.overdue(now),
        this.store.endedNotCleanedUp(new Date(now.getTime() - CLEAN_UP_GRACE_MS)),
      ]);
      // Projects are independent: one that is stuck or failing must not hold up the others.
      await Promise.all([
        ...waiting.map((p) => this.guarded(p._id, 'start', () => this.lifecycle.handle(p._id, { kind: 'start' }))),
        ...overdue.map((p) => this.guarded(p._id, 'deadline', () => this.lifecycle.deadlinePassed(p._id, p.state))),
        ...uncleaned.map((p) => this.guarded(p._id, 'clean-up', () => this.effects.cleanUp(p))),
      ]);
    } catch (error) {
      this.logger.error(`sweep failed: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      this.sweeping = false;
    }
  }

  private async componentExited(exit: ComponentExit): Promise<void> {
    const { projectId, component } = exit;
    const how = exit.signal ?? (exit.exitCode === null ? 'an unknown status' : `code ${exit.exitCode}`);
    const clean = exit.exitCode === 0;
    const unknown = exit.exitCode === null && exit.signal === null;
    if (exit.kind === 'learner') {
      // The aggregator decides whether a round still has enough learners; tell it at once.
      if (clean || unknown) return; // an adopted learner's end says nothing either way

      this.logger.warn(`${projectId}/${component} exited with ${how}`);
      await this.guarded(projectId, 'learner exit', () => this.effects.learnerLost(projectId, component, `exited with ${how}`));
      return;
    }
    if (clean || unknown) {
      // It reported its outcome before it ended (clean), or we could not see how it ended (adopted);
      // either way the report may be lost or its handling may have failed: the stored model, if any, tells.
      await sleep(UNKNOWN_EXIT_GRACE_MS);
      const why = clean ? 'exited with code 0 but stored no model' : 'ended without reporting an outcome';
      await this.guarded(projectId, 'aggregator exit', () => this.lifecycle.settleAggregatorEnd(projectId, component, why));
      return;
    }
    await this.guarded(projectId, 'aggregator exit', () =>
      this.lifecycle.handle(projectId, { kind: 'component.failed', component, reason: `exited with ${how} (see its log)` }),
    );
  }

  private async guarded(projectId: string, what: string, work: () => Promise<unknown>): Promise<void> {
    try {
      await work();
    } catch (error) {
      this.logger.error(`${projectId}: ${what} failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}
