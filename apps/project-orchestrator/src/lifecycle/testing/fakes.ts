/**
 * In-memory fakes of what the lifecycle and its effects talk to (store, broker, deployment driver,
 * registry), shared by the orchestrator's unit specs. Test support only: no production module
 * imports this.
 */
import { FINAL_MODEL_TAG, TopicDef, TopicName, Topics, createMessage } from '@flops/contracts';
import { ProjectState, isTerminal } from '@flops/lifecycle';
import { MqttBus } from '@flops/messaging';
import { ProjectChange, ProjectRecord, ProjectStore, RoundRecord, withRounds } from '@flops/models';
import { OciManifest, RegistryClient } from '@flops/oci-registry';
import { ComponentPlanner } from '../../deployment/component-planner';
import { ComponentExit, ComponentSpec, DeploymentDriver } from '../../deployment/deployment-driver';
import { StateEffects } from '../state-effects';
import { MODEL_DIGEST, REGISTRY_HOST, TestClock, plannerSettings } from './fixtures';

/** One turn of the event loop. */
export const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

// ---- store ---------------------------------------------------------------------------------------

export type StoreQuery = 'unfinished' | 'waitingSince' | 'overdue' | 'endedNotCleanedUp';

export interface InMemoryProjectStoreOptions {
  /** Reads and writes yield to the event loop first, like a database round trip (default: they do not). */
  roundTrips?: boolean;
}

/**
 * ProjectStore in memory, with the same guard as the real one: `apply` succeeds only if the stored
 * version is still `expectedVersion`, then increments it, $sets fields and appends round/history.
 * The sweeper's queries filter like the real ones (libs/models/src/project.store.ts).
 */
export class InMemoryProjectStore
  implements Pick<ProjectStore, 'get' | 'apply' | 'markCleanedUp' | 'unfinished' | 'waitingSince' | 'overdue' | 'endedNotCleanedUp'>
{
  private readonly records = new Map<string, ProjectRecord>();
  private readonly roundTrips: boolean;
  /** Every `apply`, and whether its version guard let it through. */
  readonly applies: { id: string; expectedVersion: number; change: ProjectChange; won: boolean }[] = [];
  /** Every query the sweeper made, in order. */
  readonly queries: StoreQuery[] = [];
  /** Reads of these projects fail (a project that cannot be handled right now). */
  readonly unreadable = new Set<string>();
  /** Runs inside `apply` before the version check: lets a test play another writer. */
  beforeApply?: (id: string) => void;
  /** When set, the sweeper's queries (all but `unfinished`) fail with it. */
  queryFailure?: Error;
  /** When set, the sweeper's queries (all but `unfinished`) wait for it. */
  queryGate?: Promise<void>;

  constructor(
    private readonly clock: TestClock,
    options: InMemoryProjectStoreOptions = {},
  ) {
    this.roundTrips = options.roundTrips ?? false;
  }

  put(record: ProjectRecord): void {
    this.records.set(record._id, structuredClone(record));
  }

  /** The stored record, read without a round trip (for assertions). */
  current(id: string): ProjectRecord {
    const record = this.records.get(id);
    if (!record) throw new Error(`no project ${id}`);
    return structuredClone(record);
  }

  async get(id: string): Promise<ProjectRecord | null> {
    if (this.roundTrips) await tick();
    if (this.unreadable.has(id)) throw new Error(`cannot read ${id}`);
    const record = this.records.get(id);
    return record ? structuredClone(record) : null;
  }

  async apply(id: string, expectedVersion: number, change: ProjectChange): Promise<ProjectRecord | null> {
    if (this.roundTrips) await tick();
    this.beforeApply?.(id);
    const record = this.records.get(id);
    const won = !!record && record.version === expectedVersion;
    this.applies.push({ id, expectedVersion, change: structuredClone(change), won });
    if (!record || !won) return null;
    const next: ProjectRecord = {
      ...record,
      ...structuredClone(change.set ?? {}),
      version: record.version + 1,
      rounds: withRounds(record.rounds, structuredClone(roundsOf(change))),
      history: change.appendHistory ? [...record.history, structuredClone(change.appendHistory)] : record.history,
      updatedAt: this.clock.now(),
    };
    this.records.set(id, next);
    return structuredClone(next);
  }

  /** Another orchestrator process writing the project (bypasses nothing: it is a winning write). */
  writeBehindTheBack(id: string, change: ProjectChange): void {
    const record = this.records.get(id)!;
    this.records.set(id, {
      ...record,
      ...change.set,
      version: record.version + 1,
      rounds: withRounds(record.rounds, roundsOf(change)),
      history: change.appendHistory ? [...record.history, change.appendHistory] : record.history,
    });
  }

  async markCleanedUp(id: string): Promise<void> {
    const record = this.records.get(id)!;
    this.records.set(id, { ...record, cleanedUpAt: this.clock.now() });
  }

  get conflicts(): number {
    return this.applies.filter((a) => !a.won).length;
  }

  async unfinished(): Promise<ProjectRecord[]> {
    return this.query('unfinished', (p) => !isTerminal(p.state));
  }

  /** Projects still SUBMITTED that were created before `before`. */
  async waitingSince(before: Date): Promise<ProjectRecord[]> {
    return this.query('waitingSince', (p) => p.state === ProjectState.SUBMITTED && p.createdAt < before);
  }

  /** Unfinished projects whose deadline is before `now` (no deadline is never overdue). */
  async overdue(now: Date): Promise<ProjectRecord[]> {
    return this.query('overdue', (p) => !isTerminal(p.state) && p.deadlineAt !== null && p.deadlineAt < now);
  }

  /** Ended projects, last written before `endedBefore`, whose clean-up was never recorded. */
  async endedNotCleanedUp(endedBefore: Date): Promise<ProjectRecord[]> {
    return this.query('endedNotCleanedUp', (p) => isTerminal(p.state) && !p.cleanedUpAt && p.updatedAt < endedBefore);
  }

  private async query(name: StoreQuery, filter: (p: ProjectRecord) => boolean): Promise<ProjectRecord[]> {
    if (this.roundTrips) await tick();
    this.queries.push(name);
    if (name !== 'unfinished') {
      if (this.queryGate) await this.queryGate;
      if (this.queryFailure) throw this.queryFailure;
    }
    return [...this.records.values()].filter(filter).map((p) => structuredClone(p));
  }
}

function roundsOf(change: ProjectChange): RoundRecord[] {
  return [...(change.appendRound ? [change.appendRound] : []), ...(change.appendRounds ?? [])];
}

// ---- broker --------------------------------------------------------------------------------------

/** Records what would go to the broker. Payloads are checked against the contract, like the real bus does. */
export class FakeBus implements Pick<MqttBus, 'publish' | 'clearRetained'> {
  readonly published: { topic: TopicName; projectId: string; payload: object }[] = [];
  readonly cleared: string[] = [];

  /** `log` is shared with the other fakes to check the order of their calls. */
  constructor(private readonly log: string[] = []) {}

  async publish<P extends object>(def: TopicDef<P>, projectId: string, payload: P): Promise<void> {
    createMessage(def, projectId, payload); // throws on a payload the contract rejects
    const topic = (Object.keys(Topics) as TopicName[]).find((name) => Topics[name] === (def as TopicDef<object>));
    if (!topic) throw new Error(`unknown topic ${def.template}`);
    this.published.push({ topic, projectId, payload });
    this.log.push(`publish ${topic}`);
  }

  async clearRetained(projectId: string): Promise<void> {
    this.cleared.push(projectId);
    this.log.push(`clearRetained ${projectId}`);
  }

  /** The payloads published on `topic` (for `projectId`, if given). */
  of(topic: TopicName, projectId?: string): object[] {
    return this.published.filter((p) => p.topic === topic && (!projectId || p.projectId === projectId)).map((p) => p.payload);
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

// ---- registry ------------------------------------------------------------------------------------

/** A registry at REGISTRY_HOST holding tags and manifests; records which tags it was asked to resolve. */
export class FakeRegistry implements Pick<RegistryClient, 'resolveTag' | 'getManifest' | 'getBlob' | 'registryHost'> {
  readonly registryHost = REGISTRY_HOST;
  readonly resolved: { repo: string; ref: string }[] = [];
  /** When set, resolving a tag fails with it. */
  failWith?: Error;
  private readonly tags = new Map<string, string>();
  private readonly manifests = new Map<string, OciManifest>();
  private readonly blobs = new Map<string, Buffer>();

  put(repo: string, tag: string, digest: string, manifest: OciManifest): void {
    this.tags.set(`${repo}:${tag}`, digest);
    this.manifests.set(`${repo}@${digest}`, manifest);
  }

  async resolveTag(repo: string, ref: string): Promise<string | null> {
    this.resolved.push({ repo, ref });
    if (this.failWith) throw this.failWith;
    return this.tags.get(`${repo}:${ref}`) ?? null;
  }

  putBlob(repo: string, digest: string, data: Buffer): void {
    this.blobs.set(`${repo}@${digest}`, data);
  }

  async getBlob(repo: string, digest: string | { digest: string }): Promise<Buffer> {
    const key = `${repo}@${typeof digest === 'string' ? digest : digest.digest}`;
    const blob = this.blobs.get(key);
    if (!blob) throw new Error(`blob unknown: ${key}`);
    return Buffer.from(blob);
  }

  async getManifest(repo: string, ref: string): Promise<{ manifest: OciManifest; digest: string }> {
    const manifest = this.manifests.get(`${repo}@${ref}`);
    if (!manifest) throw new Error(`manifest unknown: ${repo}@${ref}`);
    return { manifest: structuredClone(manifest), digest: ref };
  }
}

// ---- StateEffects over the fakes -----------------------------------------------------------------

/**
 * The real StateEffects and ComponentPlanner (plannerSettings()) over a FakeBus, FakeDriver and
 * FakeRegistry, and the store given. `log` is passed to the bus and driver.
 */
export function stateEffectsWithFakes(store: Pick<ProjectStore, 'markCleanedUp'>, log: string[] = []) {
  const bus = new FakeBus(log);
  const driver = new FakeDriver(log);
  const registry = new FakeRegistry();
  const planner = new ComponentPlanner(plannerSettings());
  const effects = new StateEffects(
    bus as unknown as MqttBus,
    driver,
    planner,
    store as unknown as ProjectStore,
    registry as unknown as RegistryClient,
  );
  /** Stores `manifest` as `<modelRepository of project>:final`. */
  const storeFinalModel = (project: ProjectRecord, manifest: OciManifest, digest = MODEL_DIGEST): void =>
    registry.put(planner.modelRepository(project), FINAL_MODEL_TAG, digest, manifest);
  return { bus, driver, registry, planner, effects, storeFinalModel };
}
