import { Injectable, Logger } from '@nestjs/common';
import { ProjectState, StateDeadlines, decide, deadlineFor, isTerminal } from '@flops/lifecycle';
import { ProjectChange, ProjectRecord, ProjectStore } from '@flops/models';
import { ProjectEvent } from './project-events';
import { StateEffects } from './state-effects';
import { StateChangePublisher } from './state-change.publisher';

const MAX_CONFLICT_RETRIES = 10;

/**
 * Applies events to projects: read, decide with the pure state machine, write with a version
 * guard, retry on conflict. Side effects of entering a state run only after the write won, so a
 * duplicate or concurrent event can never trigger them twice for the same transition.
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
  settleAggregatorEnd(projectId: string, component: string): Promise<ProjectRecord | null> {
    return this.enqueue(projectId, async () => {
      const project = await this.store.get(projectId);
      if (!project || (project.state !== ProjectState.DEPLOYING && project.state !== ProjectState.TRAINING)) return project;
      const outcome = await this.effects.trainingOutcome(project);
      return this.apply(projectId, outcome ?? { kind: 'component.failed', component, reason: 'ended without reporting an outcome' });
    });
  }

  private enqueue<T>(projectId: string, work: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(projectId) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(work);
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
        if (updated) return updated;
        continue;
      }
      const to = decision.to;
      change.set = {
        ...change.set,
        state: to,
        deadlineAt: deadlineFor(to, at, this.deadlinesOf(project)),
        ...(decision.failedStage ? { failure: { stage: decision.failedStage, reason: decision.reason ?? 'unknown', at } } : {}),
      };
      change.appendHistory = { from: project.state, to, at, event: event.kind, ...(decision.reason ? { reason: decision.reason } : {}) };
      const updated = await this.store.apply(projectId, project.version, change);
      if (!updated) continue;
      this.logger.log(`${projectId}: ${project.state} → ${to}${decision.reason ? ` (${decision.reason})` : ''}`);
      await this.publisher.stateChanged(updated, project.state, decision.reason);
      // The effect may move the project on (a follow-up or a failure): answer with where it is now.
      return (await this.enter(updated)) ?? updated;
    }
    throw new Error(`project ${projectId}: gave up after ${MAX_CONFLICT_RETRIES} conflicting updates`);
  }

  /** Run the effect of the state a project just entered; follow-ups are applied in the same turn. */
  private async enter(project: ProjectRecord, resumed = false): Promise<ProjectRecord | null> {
    try {
      const followUp = await this.effects.onEnter(project, resumed);
      return followUp ? await this.apply(project._id, followUp) : null;
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      this.logger.error(`${project._id}: effect of ${project.state} failed: ${reason}`);
      const failure = this.failureEventFor(project.state, reason);
      return failure ? await this.apply(project._id, failure) : null;
    }
  }

  private failureEventFor(state: ProjectState, reason: string): ProjectEvent | null {
    switch (state) {
      case ProjectState.IMAGE_CHECK:
      case ProjectState.BUILDING:
        return { kind: 'build.failed', reason };
      case ProjectState.DEPLOYING:
        return { kind: 'deployment.failed', reason };
      case ProjectState.FINALIZING:
        return { kind: 'finalization.failed', reason };
      default:
        return null; // terminal clean-up failures are retried by the sweeper
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
        change.set = { ...change.set, deadlineAt: deadlineFor(ProjectState.TRAINING, at, this.deadlinesOf(project)) };
      }
    }
    return change;
  }

  /**
   * Deadlines grow with the project's round timeout, so that the orchestrator never gives up
   * before the aggregator's own timeouts had their chance: joining takes up to one round timeout
   * (plus start-up), and a round up to init + fit + evaluate, each one round timeout.
   */
  private deadlinesOf(project: ProjectRecord): StateDeadlines {
    const round = project.training.roundTimeoutSeconds * 1000;
    return {
      ...this.deadlines,
      [ProjectState.DEPLOYING]: Math.max(this.deadlines[ProjectState.DEPLOYING], round + 120_000),
      [ProjectState.TRAINING]: Math.max(this.deadlines[ProjectState.TRAINING], 4 * round + 60_000),
    };
  }
}
