import { ProjectStage, ProjectState, isTerminal, stageOf } from './project-state';

/**
 * What can happen to a project. Events come from MQTT (builder, aggregator), the deployment
 * driver, the deadline sweeper and users (cancel). The orchestrator turns each into one of these.
 */
export type LifecycleEvent =
  | { kind: 'start' }
  | { kind: 'build.started' }
  | { kind: 'build.succeeded' }
  | { kind: 'build.failed'; reason: string }
  | { kind: 'deployment.failed'; reason: string }
  | { kind: 'training.started' }
  | { kind: 'round.completed'; round: number }
  | { kind: 'training.completed' }
  | { kind: 'training.failed'; reason: string }
  | { kind: 'component.failed'; component: string; reason: string }
  | { kind: 'finalized' }
  | { kind: 'finalization.failed'; reason: string }
  | { kind: 'deadline.passed'; state: ProjectState }
  | { kind: 'cancel'; reason?: string };

export type LifecycleEventKind = LifecycleEvent['kind'];

export type TransitionDecision =
  | { outcome: 'transition'; to: ProjectState; reason?: string; failedStage?: ProjectStage }
  /** The event is valid and carries data, but the state does not change (e.g. another round finished). */
  | { outcome: 'stay' }
  /** Duplicate, late or out-of-order: recorded nowhere, changes nothing. */
  | { outcome: 'ignore'; why: string };

const S = ProjectState;

/**
 * Where each progress event may come from and where it leads. Later stages accept events that
 * imply the earlier ones (a `build.succeeded` overtaking its `build.started`), so reordering on
 * the broker never stalls a project; events of earlier stages arriving late are ignored.
 */
const PROGRESS: Record<
  'start' | 'build.started' | 'build.succeeded' | 'training.started' | 'round.completed' | 'training.completed' | 'finalized',
  { from: readonly ProjectState[]; to: ProjectState }
> = {
  start: { from: [S.SUBMITTED], to: S.IMAGE_CHECK },
  // From IMAGE_CHECK straight to DEPLOYING is the cache hit: the image was already in the registry.
  'build.started': { from: [S.IMAGE_CHECK], to: S.BUILDING },
  'build.succeeded': { from: [S.IMAGE_CHECK, S.BUILDING], to: S.DEPLOYING },
  'training.started': { from: [S.DEPLOYING], to: S.TRAINING },
  'round.completed': { from: [S.DEPLOYING, S.TRAINING], to: S.TRAINING },
  'training.completed': { from: [S.DEPLOYING, S.TRAINING], to: S.FINALIZING },
  finalized: { from: [S.FINALIZING], to: S.COMPLETED },
};

/**
 * Progress events that arrive after the project moved past them but still carry data worth
 * keeping: a round's metrics may be overtaken by the end of training, or wait at the broker while
 * a restarted orchestrator completes the project from the stored model. Round records are never lost.
 */
const RECORD_ONLY: Partial<Record<keyof typeof PROGRESS, readonly ProjectState[]>> = {
  'round.completed': [S.FINALIZING, S.COMPLETED, S.FAILED, S.CANCELLED],
};

/** Failure events and the states in which they still mean something. */
const FAILURES: Record<
  'build.failed' | 'deployment.failed' | 'training.failed' | 'component.failed' | 'finalization.failed',
  readonly ProjectState[]
> = {
  'build.failed': [S.IMAGE_CHECK, S.BUILDING],
  'deployment.failed': [S.DEPLOYING],
  'training.failed': [S.DEPLOYING, S.TRAINING],
  'component.failed': [S.DEPLOYING, S.TRAINING],
  'finalization.failed': [S.FINALIZING],
};

/** The pure transition function: no I/O, no clock. */
export function decide(state: ProjectState, event: LifecycleEvent): TransitionDecision {
  if (event.kind in RECORD_ONLY && RECORD_ONLY[event.kind as keyof typeof RECORD_ONLY]?.includes(state)) return { outcome: 'stay' };
  if (isTerminal(state)) return { outcome: 'ignore', why: `project is already ${state}` };

  switch (event.kind) {
    case 'start':
    case 'build.started':
    case 'build.succeeded':
    case 'training.started':
    case 'round.completed':
    case 'training.completed':
    case 'finalized': {
      const rule = PROGRESS[event.kind];
      if (!rule.from.includes(state)) return { outcome: 'ignore', why: `${event.kind} does not apply in ${state}` };
      return state === rule.to ? { outcome: 'stay' } : { outcome: 'transition', to: rule.to };
    }
    case 'build.failed':
    case 'deployment.failed':
    case 'training.failed':
    case 'finalization.failed': {
      if (!FAILURES[event.kind].includes(state)) return { outcome: 'ignore', why: `${event.kind} does not apply in ${state}` };
      return { outcome: 'transition', to: S.FAILED, reason: event.reason, failedStage: stageOf(state) };
    }
    case 'component.failed': {
      if (!FAILURES[event.kind].includes(state)) return { outcome: 'ignore', why: `${event.kind} does not apply in ${state}` };
      return {
        outcome: 'transition',
        to: S.FAILED,
        reason: `${event.component} failed: ${event.reason}`,
        failedStage: stageOf(state),
      };
    }
    case 'deadline.passed': {
      // A deadline armed for an earlier state is stale once the project has moved on.
      if (event.state !== state) return { outcome: 'ignore', why: `deadline of ${event.state} is stale in ${state}` };
      return {
        outcome: 'transition',
        to: S.FAILED,
        reason: `deadline passed: the project stayed in ${state} longer than allowed`,
        failedStage: stageOf(state),
      };
    }
    case 'cancel':
      return { outcome: 'transition', to: S.CANCELLED, reason: event.reason ?? 'cancelled by user' };
  }
}

/** Every state a project can move to from `state`, derived from the rules above (for docs and tests). */
export function reachableFrom(state: ProjectState): ProjectState[] {
  if (isTerminal(state)) return [];
  const next = new Set<ProjectState>([S.CANCELLED]);
  for (const rule of Object.values(PROGRESS)) if (rule.from.includes(state) && rule.to !== state) next.add(rule.to);
  for (const from of Object.values(FAILURES)) if (from.includes(state)) next.add(S.FAILED);
  next.add(S.FAILED); // deadlines apply to every non-terminal state
  return [...next];
}
