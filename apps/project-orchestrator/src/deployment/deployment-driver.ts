import type { ResourceHints } from '@flops/contracts';

export type ComponentKind = 'aggregator' | 'learner';

/** One component to run: what a driver needs, whatever it runs on. */
export interface ComponentSpec {
  projectId: string;
  /** Unique within the project: `aggregator`, `learner-0`, … (letters, digits, dashes). */
  component: string;
  kind: ComponentKind;
  /** OCI image reference the component runs from. */
  image: string;
  env: Record<string, string>;
  resources: ResourceHints;
}

export interface ComponentExit {
  projectId: string;
  component: string;
  kind: ComponentKind;
  /** null when the driver could not learn it (e.g. a process adopted after a restart). */
  exitCode: number | null;
  signal: string | null;
}

/**
 * Deploys and undeploys a project's components. The orchestrator knows nothing else about where
 * they run: the local driver starts processes on this machine; an Oakestra driver would turn the
 * same specs into SLA microservices.
 */
export abstract class DeploymentDriver {
  abstract readonly name: string;
  /** Start a component unless it is already running (idempotent). */
  abstract deploy(spec: ComponentSpec): Promise<void>;
  /** Stop every component of a project and wait until they are gone. */
  abstract undeployProject(projectId: string): Promise<void>;
  /** Take over components started by an earlier orchestrator process. */
  abstract resume(): Promise<void>;
  /** Told when a component ends on its own (not by undeploy). */
  abstract onExit(listener: (exit: ComponentExit) => void): void;
  abstract close(): Promise<void>;
}

/** The kind of a component from its name (`aggregator`, `learner-<n>`), for what a driver finds again after a restart. */
export function componentKind(component: string): ComponentKind {
  return component === 'aggregator' ? 'aggregator' : 'learner';
}

/** Runs a project's driver work one piece after the other (deploys and undeploys of one project must not interleave). */
export class ProjectQueue {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(projectId: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(projectId) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(work);
    this.tails.set(projectId, next);
    void next
      .finally(() => {
        if (this.tails.get(projectId) === next) this.tails.delete(projectId);
      })
      .catch(() => undefined);
    return next;
  }
}
