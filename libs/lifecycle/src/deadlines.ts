import { ProjectState } from './project-state';

/** How long a project may stay in each non-terminal state before it fails, in milliseconds. */
export type StateDeadlines = Record<
  Exclude<ProjectState, ProjectState.COMPLETED | ProjectState.FAILED | ProjectState.CANCELLED>,
  number
>;

const MINUTE = 60_000;

export const DEFAULT_DEADLINES: StateDeadlines = {
  [ProjectState.SUBMITTED]: 2 * MINUTE,
  [ProjectState.IMAGE_CHECK]: 2 * MINUTE,
  [ProjectState.BUILDING]: 20 * MINUTE,
  [ProjectState.DEPLOYING]: 5 * MINUTE,
  // TRAINING's clock restarts on every finished round, so this bounds one stalled round, not the run.
  [ProjectState.TRAINING]: 15 * MINUTE,
  [ProjectState.FINALIZING]: 2 * MINUTE,
};

/** The instant a project entered into `state` at `now` must have left it, or null for terminal states. */
export function deadlineFor(state: ProjectState, now: Date, deadlines: StateDeadlines = DEFAULT_DEADLINES): Date | null {
  if (!(state in deadlines)) return null;
  return new Date(now.getTime() + deadlines[state as keyof StateDeadlines]);
}
