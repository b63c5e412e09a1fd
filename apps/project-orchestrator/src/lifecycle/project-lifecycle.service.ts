import { Injectable, Logger } from '@nestjs/common';
import {
  ProjectState,
  StateDeadlines,
  decide,
  failureEventFor,
  isTerminal,
  projectDeadlineFor,
  settleAggregatorEnd,
  settleDeadline,
  settledByStoredOutcome,
} from '@flops/lifecycle';
import { withProject } from '@flops/messaging';
import { ProjectChange, ProjectRecord, ProjectStore } from '@flops/models';
import { Metrics } from '@flops/service-kit';
import { ProjectEvent } from './project-events';
import { StateEffects } from './state-effects';
import { StateChangePublisher } from './state-change.publisher';

const MAX_CONFLICT_RETRIES = 10;

/**
 * Applies events to projects: read, decide with the pure state machine, write with a version
 * guard, retry on conflict. Side effects of entering a state run only after the write won, so a
 * duplicate or concurrent event can never trigger them twice for the same transition. The state
 * change is announced after its effect ran, and only best-effort: a broker that cannot take the
 * announcement must not keep the effect from running.
 */
@Injectable()
export class ProjectLifecycleService {
  private readonly logger = new Logger(ProjectLifecycleService.name);

  constructor(
    private readonly store: ProjectStore,
    private readonly effects: StateEffects,
    private readonly publisher: StateChangePublisher,
    private readonly deadlines: StateDeadlines,
    private readonly now: () => Date = () => new Date(),
  ) {}

  private readonly observers: ((project: ProjectRecord) => void)[] = [];

  /** Called with the project after every change written (e.g. experiment tracking); must not throw or wait. */
  observe(observer: (project: ProjectRecord) => void): void {
    this.observers.push(observer);
  }

  private changed(project: ProjectRecord): void {
    for (const observer of this.observers) {
      try {
        observer(project);
      } catch (error) {
        this.logger.warn(`${project._id}: observer failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }

  /** Events of one project are applied one at a time, in arrival order (the broker's order). */
  private readonly queues = new Map<string, Promise<unknown>>();

  handle(projectId: string, event: ProjectEvent): Promise<ProjectRecord | null> {
    return this.enqueue(projectId, () => this.apply(projectId, event));
  }

  /**
   * Run the effect of the state a project is in again (after a restart, or when a component ended
   * without telling us how). The project is read inside the queue: events handled meanwhile may
   * have moved it on, and an ended project is never deployed again.
   */
  resume(projectId: string): Promise<ProjectRecord | null> {
    return this.enqueue(projectId, async () => {
      const project = await this.store.get(projectId);
      if (!project || isTerminal(project.state)) return project;
      return (await this.enter(project, true)) ?? project;
    });
  }

  /**
   * The aggregator ended without telling us how (we adopted it after a restart). If it stored the
   * final model, training completed; otherwise a project still deploying or training has lost it.
   */
  settleAggregatorEnd(projectId: string, component: string, how = 'ended without reporting an outcome'): Promise<ProjectRecord | null> {
    return this.enqueue(projectId, async () => {
      const project = await this.store.get(projectId);
      if (!project || !settledByStoredOutcome(project.state)) return project;
      const settled = settleAggregatorEnd(project.state, await this.effects.trainingOutcome(project), { component, how });
      return settled ? this.apply(projectId, settled) : project;
    });
  }

  /**
   * A project's deadline passed in `state`. Before failing a project that may have a stored model,
   * look for it: the completion message may have been lost (its handling failed, or it was never sent).
   */
  deadlinePassed(projectId: string, state: ProjectState): Promise<ProjectRecord | null> {
    return this.enqueue(projectId, async () => {
      const project = await this.store.get(projectId);
      if (!project || project.state !== state) return project; // moved on meanwhile: the deadline is stale
      const outcome = settledByStoredOutcome(state) ? await this.effects.trainingOutcome(project) : null;
      const settled = settleDeadline(state, outcome);
      if (settled === 'resume') return (await this.enter(project, true)) ?? project;
      return this.apply(projectId, settled);
    });
  }

  private enqueue<T>(projectId: string, work: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(projectId) ?? Promise.resolve();
    // The project id goes into every log line of the work (also for the sweeper's and recovery's).
    const next = previous.catch(() => undefined).then(() => withProject(projectId, work));
    this.queues.set(projectId, next);
    const forget = (): void => {
      if (this.queues.get(projectId) === next) this.queues.delete(projectId);
    };
    next.then(forget, forget);
    return next;
  }

  /** Read, decide, write; other orchestrator processes are kept out by the version guard. */
  private async apply(projectId: string, event: ProjectEvent): Promise<ProjectRecord | null> {
    for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt++) {
      const project = await this.store.get(projectId);
      if (!project) {
        this.logger.warn(`${event.kind} for unknown project ${projectId}: ignored`);
        return null;
      }
      const decision = decide(project.state, event);
      if (decision.outcome === 'ignore') {
        this.logger.debug(`${projectId}: ${decision.why}`);
        return project;
      }
      const at = this.now();
      const change = this.dataChange(project, event, at);
      if (decision.outcome === 'stay') {
        if (!change.set && !change.appendRound && !change.appendRounds) return project;
        const updated = await this.store.apply(projectId, project.version, change);
        if (!updated) continue;
        if (change.appendRound) Metrics.roundDuration.observe(change.appendRound.durationMs / 1000);
        this.changed(updated);
        return updated;
      }
      const to = decision.to;
      change.set = {
        ...change.set,
        state: to,
        deadlineAt: projectDeadlineFor(to, at, this.deadlines, project.training.roundTimeoutSeconds),
        ...(decision.failedStage ? { failure: { stage: decision.failedStage, reason: decision.reason ?? 'unknown', at } } : {}),
      };
      change.appendHistory = { from: project.state, to, at, event: event.kind, ...(decision.reason ? { reason: decision.reason } : {}) };
      const updated = await this.store.apply(projectId, project.version, change);
      if (!updated) continue;
      this.logger.log(`${projectId}: ${project.state} → ${to}${decision.reason ? ` (${decision.reason})` : ''}`);
      this.changed(updated);
      // The effect may move the project on (a follow-up or a failure): answer with where it is now.
      return (await this.enter(updated, false, () => this.announce(updated, project.state, decision.reason))) ?? updated;
    }
    throw new Error(`project ${projectId}: gave up after ${MAX_CONFLICT_RETRIES} conflicting updates`);
  }

  /**
   * Run the effect of the state a project just entered, then announce the change (so watchers
   * hear of each state before its follow-up), then apply the follow-up or failure in the same turn.
   */
  private async enter(project: ProjectRecord, resumed = false, announce?: () => Promise<void>): Promise<ProjectRecord | null> {
    let next: ProjectEvent | null;
    try {
      next = await this.effects.onEnter(project, resumed);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      this.logger.error(`${project._id}: effect of ${project.state} failed: ${reason}`);
      next = failureEventFor(project.state, reason); // none for terminal states: the sweeper retries their clean-up
    }
    await announce?.();
    return next ? await this.apply(project._id, next) : null;
  }

  /** Best-effort: the state is stored and its effect ran; a lost announcement costs a watcher one update. */
  private async announce(project: ProjectRecord, from: ProjectState, reason: string | undefined): Promise<void> {
    try {
      await this.publisher.stateChanged(project, from, reason);
    } catch (error) {
      this.logger.warn(`${project._id}: could not announce ${from} → ${project.state}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  /** What an event writes into the record besides the state. */
  private dataChange(project: ProjectRecord, event: ProjectEvent, at: Date): ProjectChange {
    const change: ProjectChange = {};
    if (event.image) change.set = { ...change.set, image: event.image };
    if (event.model) change.set = { ...change.set, model: event.model };
    if (event.finalMetrics) change.set = { ...change.set, finalMetrics: event.finalMetrics };
    const history = (event.roundHistory ?? []).filter((r) => !project.rounds.some((known) => known.round === r.round));
    if (history.length) change.appendRounds = history;
    const round = event.roundRecord;
    if (round && !project.rounds.some((r) => r.round === round.round)) {
      change.appendRound = { ...round, at };
      // Progress restarts the training clock: the deadline bounds a stalled round, not the whole run.
      if (project.state === ProjectState.TRAINING) {
        change.set = { ...change.set, deadlineAt: projectDeadlineFor(ProjectState.TRAINING, at, this.deadlines, project.training.roundTimeoutSeconds) };
      }
    }
    return change;
  }
}
