/** How the orchestrator runs a project's components (its FLOPS_DRIVER setting). */
export const DEPLOYMENT_DRIVERS = ['local', 'podman', 'oakestra'] as const;
export type DeploymentDriverName = (typeof DEPLOYMENT_DRIVERS)[number];

/**
 * Labels FLOps puts on every container it runs for a project (the podman driver). They are how a
 * restarted orchestrator finds its containers again, and how an operator finds a project's.
 */
export const CONTAINER_LABELS = {
  /** Which FLOps installation started it (one per database): installations never touch each other's. */
  owner: 'dev.flops.owner',
  project: 'dev.flops.project',
  /** `aggregator`, `learner-0`, … */
  component: 'dev.flops.component',
  kind: 'dev.flops.kind',
} as const;
