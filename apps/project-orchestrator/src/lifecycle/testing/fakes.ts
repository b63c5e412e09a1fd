/**
 * In-memory fakes of what the lifecycle and its effects talk to, shared by the orchestrator's unit
 * specs: the ports' fakes from @flops/testing, and a deployment driver. Test support only: no
 * production module imports this.
 */
import { FINAL_MODEL_TAG } from '@flops/contracts';
import { ProjectRecord, ProjectStore } from '@flops/models';
import { OciManifest } from '@flops/oci-registry';
import {
  InMemoryProjectStore as SharedInMemoryProjectStore,
  InMemoryProjectStoreOptions as SharedOptions,
  InMemoryRegistry,
  RecordingBus,
  tick,
} from '@flops/testing';
import { ComponentPlanner } from '../../deployment/component-planner';
import { ComponentExit, ComponentSpec, DeploymentDriver } from '../../deployment/deployment-driver';
import { StateEffects } from '../state-effects';
import { MODEL_DIGEST, REGISTRY_HOST, TestClock, plannerSettings } from './fixtures';

export { tick, type StoreQuery } from '@flops/testing';

/** The shared in-memory ProjectStore, dated by the test's clock. */
export class InMemoryProjectStore extends SharedInMemoryProjectStore {
  constructor(clock: TestClock, options: Omit<SharedOptions, 'now'> = {}) {
    super({ ...options, now: clock.now });
  }
}

// ---- deployment driver ---------------------------------------------------------------------------

/** Records deploys and undeploys; `exit` plays a component ending on its own, through the registered listeners. */
export class FakeDriver extends DeploymentDriver {
  readonly name = 'fake';
  readonly deployed: ComponentSpec[] = [];
  readonly undeployed: string[] = [];
  /** Makes deploy of the named component fail. */
  failDeployOf?: string;
  /** Makes undeploy of these projects fail, with the error given. */
  readonly undeployFailures = new Map<string, Error>();
  /** Stopping these takes a turn of the event loop (like waiting for a process to end). */
  readonly slowToStop = new Set<string>();
  resumed = 0;
  /** Runs inside `resume` (e.g. components found dead while adopting them). */
  onResume?: () => void;
  private readonly listeners: ((exit: ComponentExit) => void)[] = [];

  /** `log` is shared with the other fakes to check the order of their calls. */
  constructor(private readonly log: string[] = []) {
    super();
  }

  async deploy(spec: ComponentSpec): Promise<void> {
    if (spec.component === this.failDeployOf) throw new Error(`cannot start ${spec.component}`);
    this.deployed.push(spec);
  }

  async undeployProject(projectId: string): Promise<void> {
    const failure = this.undeployFailures.get(projectId);
    if (failure) throw failure;
    if (this.slowToStop.has(projectId)) await tick();
    this.undeployed.push(projectId);
    this.log.push(`undeploy ${projectId}`);
  }

  async resume(): Promise<void> {
    this.resumed++;
    this.onResume?.();
  }

  onExit(listener: (exit: ComponentExit) => void): void {
    this.listeners.push(listener);
  }

  async close(): Promise<void> {}

  exit(exit: ComponentExit): void {
    for (const listener of this.listeners) listener(exit);
  }
}

// ---- StateEffects over the fakes -----------------------------------------------------------------

/**
 * The real StateEffects and ComponentPlanner (plannerSettings()) over a RecordingBus, FakeDriver and
 * InMemoryRegistry, and the store given. `log` is passed to the bus and driver.
 */
export function stateEffectsWithFakes(store: ProjectStore, log: string[] = []) {
  const bus = new RecordingBus(log);
  const driver = new FakeDriver(log);
  const registry = new InMemoryRegistry(REGISTRY_HOST);
  const planner = new ComponentPlanner(plannerSettings());
  const effects = new StateEffects(bus, driver, planner, store, registry);
  /** Stores `manifest` as `<modelRepository of project>:final`. */
  const storeFinalModel = (project: ProjectRecord, manifest: OciManifest, digest = MODEL_DIGEST): void =>
    registry.put(planner.modelRepository(project), FINAL_MODEL_TAG, digest, manifest);
  return { bus, driver, registry, planner, effects, storeFinalModel };
}
