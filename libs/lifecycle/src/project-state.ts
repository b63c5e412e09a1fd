/** Every state a FLOps project can be in. The single source of truth for the lifecycle. */
export enum ProjectState {
  SUBMITTED = 'SUBMITTED',
  IMAGE_CHECK = 'IMAGE_CHECK',
  BUILDING = 'BUILDING',
  DEPLOYING = 'DEPLOYING',
  TRAINING = 'TRAINING',
  FINALIZING = 'FINALIZING',
  COMPLETED = 'COMPLETED',
  FAILED = 'FAILED',
  CANCELLED = 'CANCELLED',
}

export const TERMINAL_STATES: ReadonlySet<ProjectState> = new Set([
  ProjectState.COMPLETED,
  ProjectState.FAILED,
  ProjectState.CANCELLED,
]);

export function isTerminal(state: ProjectState): boolean {
  return TERMINAL_STATES.has(state);
}

/** The pipeline stage a failure is attributed to, shown to users as "failed at stage X". */
export const PROJECT_STAGES = ['submission', 'build', 'deployment', 'training', 'finalization'] as const;
export type ProjectStage = (typeof PROJECT_STAGES)[number];

export function stageOf(state: ProjectState): ProjectStage {
  switch (state) {
    case ProjectState.SUBMITTED:
      return 'submission';
    case ProjectState.IMAGE_CHECK: // looking the image up is the first half of the build stage
    case ProjectState.BUILDING:
      return 'build';
    case ProjectState.DEPLOYING:
      return 'deployment';
    case ProjectState.TRAINING:
      return 'training';
    case ProjectState.FINALIZING:
    case ProjectState.COMPLETED:
    case ProjectState.FAILED:
    case ProjectState.CANCELLED:
      return 'finalization';
  }
}
