import { deadlineFor, StateDeadlines } from './deadlines';
import { ProjectState } from './project-state';
import { LifecycleEvent } from './transitions';

/**
 * The failure event for a state whose entry effect failed (the request could not be sent, the
 * components could not be started). Terminal states have none: their clean-up is retried by the sweeper.
 */
export function failureEventFor(state: ProjectState, reason: string): LifecycleEvent | null {
  switch (state) {
    case ProjectState.IMAGE_CHECK:
    case ProjectState.BUILDING:
      return { kind: 'build.failed', reason };
    case ProjectState.DEPLOYING:
      return { kind: 'deployment.failed', reason };
    case ProjectState.FINALIZING:
      return { kind: 'finalization.failed', reason };
    default:
      return null;
  }
}

/**
 * A project's deadlines grow with its round timeout, so that the orchestrator never gives up
 * before the aggregator's own timeouts had their chance: joining takes up to one round timeout
 * (plus start-up), and a round up to init + fit + evaluate, each one round timeout.
 */
export function projectDeadlines(base: StateDeadlines, roundTimeoutSeconds: number): StateDeadlines {
  const round = roundTimeoutSeconds * 1000;
  return {
    ...base,
    [ProjectState.DEPLOYING]: Math.max(base[ProjectState.DEPLOYING], round + 120_000),
    [ProjectState.TRAINING]: Math.max(base[ProjectState.TRAINING], 4 * round + 60_000),
  };
}

/** When a project entered into `state` at `at` must have left it, with its own deadlines. */
export function projectDeadlineFor(state: ProjectState, at: Date, base: StateDeadlines, roundTimeoutSeconds: number): Date | null {
  return deadlineFor(state, at, projectDeadlines(base, roundTimeoutSeconds));
}

/**
 * States in which the aggregator may already have stored the final model. Before anything fails
 * a project in one of these (its aggregator ended, its deadline passed), the stored outcome is
 * checked: a model in the registry means training completed, whatever message was lost.
 */
const SETTLED_BY_STORED_OUTCOME: ReadonlySet<ProjectState> = new Set([ProjectState.DEPLOYING, ProjectState.TRAINING, ProjectState.FINALIZING]);

export function settledByStoredOutcome(state: ProjectState): boolean {
  return SETTLED_BY_STORED_OUTCOME.has(state);
}

/**
 * What the end of an aggregator means for a project in `state`, given the outcome it stored (the
 * completion event read back from the registry) or null. The aggregator reports its outcome
 * before it ends, but that message may be lost: so a clean exit settles like an unknown one.
 *  - a stored outcome completes training (FINALIZING then needs nothing more from it);
 *  - no outcome fails a project still deploying or training; a later state needs no aggregator.
 */
export function settleAggregatorEnd<E extends LifecycleEvent>(
  state: ProjectState,
  storedOutcome: E | null,
  end: { component: string; how: string },
): E | LifecycleEvent | null {
  if (state !== ProjectState.DEPLOYING && state !== ProjectState.TRAINING) return null;
  return storedOutcome ?? { kind: 'component.failed', component: end.component, reason: end.how };
}

/**
 * What a passed deadline means, given the outcome stored for the project (if its state can have
 * one): training that ended with a stored model completes instead of failing; FINALIZING, whose
 * model is stored, runs its effect again; everything else fails.
 */
export function settleDeadline<E extends LifecycleEvent>(state: ProjectState, storedOutcome: E | null): E | LifecycleEvent | 'resume' {
  if (storedOutcome && (state === ProjectState.DEPLOYING || state === ProjectState.TRAINING)) return storedOutcome;
  if (storedOutcome && state === ProjectState.FINALIZING) return 'resume';
  return { kind: 'deadline.passed', state };
}
