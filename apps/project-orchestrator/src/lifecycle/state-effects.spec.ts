import { Logger } from '@nestjs/common';
import {
  FINAL_MODEL_TAG,
  MODEL_ARTIFACT_TYPE,
  TopicDef,
  TopicName,
  Topics,
  TrainingConfig,
  createMessage,
  learnerImageRepository,
  modelAnnotations,
} from '@flops/contracts';
import { ProjectState } from '@flops/lifecycle';
import { MqttBus } from '@flops/messaging';
import { ImageRecord, ModelRecord, ProjectRecord, ProjectStore } from '@flops/models';
import { EMPTY_DESCRIPTOR, MediaTypes, OciManifest, RegistryClient } from '@flops/oci-registry';
import { ComponentPlanner } from '../deployment/component-planner';
import { ComponentExit, ComponentSpec, DeploymentDriver } from '../deployment/deployment-driver';
import { StateEffects } from './state-effects';

const S = ProjectState;
const T0 = Date.parse('2024-05-01T12:00:00.000Z');
const REGISTRY_HOST = '127.0.0.1:5000';
const NAMESPACE = 'flops';
const MODEL_DIGEST = `sha256:${'c'.repeat(64)}`;
const IMAGE_DIGEST = `sha256:${'a'.repeat(64)}`;

// ---- test data ---------------------------------------------------------------------------------

function aTrainingConfig(overrides: Partial<TrainingConfig> = {}): TrainingConfig {
  return {
    rounds: 3,
    learners: 2,
    minLearnersPerRound: 2,
    strategy: 'fedavg',
    hyperparameters: { epochs: 1 },
    dataTags: [],
    roundTimeoutSeconds: 10,
    seed: 42,
    ...overrides,
  };
}

let projectSeq = 0;
function aProject(overrides: Partial<ProjectRecord> = {}): ProjectRecord {
  const createdAt = new Date(T0 - 60_000);
  const state = overrides.state ?? S.SUBMITTED;
  return {
    _id: `p${++projectSeq}`,
    name: 'digits',
    state,
    version: 3,
    repo: { url: 'https://git.example/org/digits.git' },
    training: aTrainingConfig(),
    resources: {},
    rounds: [],
    history: [{ from: null, to: state, at: createdAt, event: 'submitted' }],
    deadlineAt: new Date(T0 + 999_999),
    createdAt,
    updatedAt: createdAt,
    ...overrides,
  };
}

function anImage(): ImageRecord {
  return {
    reference: `${REGISTRY_HOST}/flops/learners/digits:abc-tfjs4`,
    digest: IMAGE_DIGEST,
    sourceRevision: 'abc',
    cacheHit: false,
    durations: { fetchMs: 1, checkMs: 2, buildMs: 3, pushMs: 4 },
  };
}

function aModel(): ModelRecord {
  return { reference: `${REGISTRY_HOST}/flops/models/p1@${MODEL_DIGEST}`, digest: MODEL_DIGEST, sizeBytes: 1234 };
}

/** A model artifact as the aggregator pushes it: empty config, one or more blobs, FLOps annotations. */
function aModelManifest(annotations: Record<string, string> | undefined, layerSizes: number[] = [1000, 234]): OciManifest {
  return {
    schemaVersion: 2,
    mediaType: MediaTypes.imageManifest,
    artifactType: MODEL_ARTIFACT_TYPE,
    config: { ...EMPTY_DESCRIPTOR },
    layers: layerSizes.map((size, i) => ({ mediaType: MediaTypes.octetStream, digest: `sha256:${String(i).repeat(64)}`, size })),
    ...(annotations ? { annotations } : {}),
  };
}

// ---- fakes ---------------------------------------------------------------------------------------

/** Records what would go to the broker. Payloads are checked against the contract, like the real bus does. */
class RecordingBus implements Pick<MqttBus, 'publish' | 'clearRetained'> {
  readonly published: { topic: TopicName; projectId: string; payload: object }[] = [];
  readonly cleared: string[] = [];

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
}

class RecordingDriver extends DeploymentDriver {
  readonly name = 'recording';
  readonly deployed: ComponentSpec[] = [];
  readonly undeployed: string[] = [];
  /** Makes deploy of the named component fail. */
  failDeployOf?: string;
  failUndeploy?: Error;
  private readonly listeners: ((exit: ComponentExit) => void)[] = [];

  constructor(private readonly log: string[] = []) {
    super();
  }

  async deploy(spec: ComponentSpec): Promise<void> {
    if (spec.component === this.failDeployOf) throw new Error(`cannot start ${spec.component}`);
    this.deployed.push(spec);
  }

  async undeployProject(projectId: string): Promise<void> {
    if (this.failUndeploy) throw this.failUndeploy;
    this.undeployed.push(projectId);
    this.log.push(`undeploy ${projectId}`);
  }

  async resume(): Promise<void> {}

  onExit(listener: (exit: ComponentExit) => void): void {
    this.listeners.push(listener);
  }

  async close(): Promise<void> {}
}

class RecordingStore implements Pick<ProjectStore, 'markCleanedUp'> {
  readonly cleanedUp: string[] = [];

  constructor(private readonly log: string[] = []) {}

  async markCleanedUp(id: string): Promise<void> {
    this.cleanedUp.push(id);
    this.log.push(`markCleanedUp ${id}`);
  }
}

/** A registry holding tags and manifests; records what it was asked. */
class FakeRegistry implements Pick<RegistryClient, 'resolveTag' | 'getManifest' | 'registryHost'> {
  readonly registryHost = REGISTRY_HOST;
  readonly resolved: { repo: string; ref: string }[] = [];
  private readonly tags = new Map<string, string>();
  private readonly manifests = new Map<string, OciManifest>();
  failWith?: Error;

  put(repo: string, tag: string, digest: string, manifest: OciManifest): void {
    this.tags.set(`${repo}:${tag}`, digest);
    this.manifests.set(`${repo}@${digest}`, manifest);
  }

  async resolveTag(repo: string, ref: string): Promise<string | null> {
    this.resolved.push({ repo, ref });
    if (this.failWith) throw this.failWith;
    return this.tags.get(`${repo}:${ref}`) ?? null;
  }

  async getManifest(repo: string, ref: string): Promise<{ manifest: OciManifest; digest: string }> {
    const manifest = this.manifests.get(`${repo}@${ref}`);
    if (!manifest) throw new Error(`manifest unknown: ${repo}@${ref}`);
    return { manifest: structuredClone(manifest), digest: ref };
  }
}

function setup() {
  const log: string[] = [];
  const bus = new RecordingBus(log);
  const driver = new RecordingDriver(log);
  const store = new RecordingStore(log);
  const registry = new FakeRegistry();
  const planner = new ComponentPlanner({
    mqttUrl: 'mqtt://broker.test:1883',
    registryUrl: `http://${REGISTRY_HOST}`,
    registryNamespace: NAMESPACE,
    runtimeVersion: '0.1.0',
    logLevel: 'info',
  });
  const effects = new StateEffects(
    bus as unknown as MqttBus,
    driver,
    planner,
    store as unknown as ProjectStore,
    registry as unknown as RegistryClient,
  );
  /** Stores `<modelRepository of project>:final`. */
  const storeFinalModel = (project: ProjectRecord, manifest: OciManifest, digest = MODEL_DIGEST): void =>
    registry.put(planner.modelRepository(project), FINAL_MODEL_TAG, digest, manifest);
  return { log, bus, driver, store, registry, planner, effects, storeFinalModel };
}

beforeAll(() => Logger.overrideLogger(false));

// ---- tests ---------------------------------------------------------------------------------------

describe('StateEffects: submission and build', () => {
  it('SUBMITTED follows up with start and touches nothing', async () => {
    const { effects, bus, driver } = setup();

    await expect(effects.onEnter(aProject({ state: S.SUBMITTED }))).resolves.toEqual({ kind: 'start' });

    expect(bus.published).toHaveLength(0);
    expect(driver.deployed).toHaveLength(0);
  });

  it('IMAGE_CHECK asks the builder for an image of the repo at its ref, in the repo’s learner image repository', async () => {
    const project = aProject({ state: S.IMAGE_CHECK, repo: { url: 'https://git.example/org/digits.git', ref: 'v2' } });
    const { effects, bus } = setup();

    await expect(effects.onEnter(project)).resolves.toBeNull();

    expect(bus.published).toEqual([
      {
        topic: 'buildRequested',
        projectId: project._id,
        payload: { repoUrl: 'https://git.example/org/digits.git', ref: 'v2', imageRepository: learnerImageRepository(NAMESPACE, project.repo.url) },
      },
    ]);
    expect(bus.published[0].payload).toHaveProperty('imageRepository', expect.stringMatching(/^flops\/learners\/digits-[0-9a-f]{8}$/));
  });

  it('IMAGE_CHECK without a ref sends no ref at all (the builder takes the default branch)', async () => {
    const project = aProject({ state: S.IMAGE_CHECK });
    const { effects, bus } = setup();

    await effects.onEnter(project);

    expect(bus.published).toHaveLength(1);
    expect(bus.published[0].payload).not.toHaveProperty('ref');
    expect(bus.published[0].payload).toMatchObject({ repoUrl: project.repo.url });
  });

  it('IMAGE_CHECK asks again when resumed', async () => {
    const project = aProject({ state: S.IMAGE_CHECK });
    const { effects, bus } = setup();

    await effects.onEnter(project, true);

    expect(bus.published.map((p) => p.topic)).toEqual(['buildRequested']);
  });

  it('BUILDING entered normally does nothing: the build is already under way', async () => {
    const { effects, bus, driver } = setup();

    await expect(effects.onEnter(aProject({ state: S.BUILDING }))).resolves.toBeNull();

    expect(bus.published).toHaveLength(0);
    expect(driver.deployed).toHaveLength(0);
  });

  it('BUILDING resumed asks the builder again, with the same request as IMAGE_CHECK', async () => {
    const project = aProject({ state: S.BUILDING, repo: { url: 'https://git.example/org/digits.git', ref: 'main' } });
    const { effects, bus } = setup();

    await expect(effects.onEnter(project, true)).resolves.toBeNull();

    expect(bus.published).toEqual([
      {
        topic: 'buildRequested',
        projectId: project._id,
        payload: { repoUrl: project.repo.url, ref: 'main', imageRepository: learnerImageRepository(NAMESPACE, project.repo.url) },
      },
    ]);
  });
});

describe('StateEffects: deployment', () => {
  it('DEPLOYING deploys the aggregator and one learner per configured learner, through the driver', async () => {
    const project = aProject({ state: S.DEPLOYING, image: anImage(), training: aTrainingConfig({ learners: 3, minLearnersPerRound: 2 }) });
    const { effects, driver, bus } = setup();

    await expect(effects.onEnter(project)).resolves.toBeNull();

    expect(driver.deployed.map((s) => [s.component, s.kind])).toEqual([
      ['aggregator', 'aggregator'],
      ['learner-0', 'learner'],
      ['learner-1', 'learner'],
      ['learner-2', 'learner'],
    ]);
    expect(driver.deployed.every((s) => s.projectId === project._id)).toBe(true);
    // learners run the image the builder reported, pinned by digest
    expect(driver.deployed.filter((s) => s.kind === 'learner').map((s) => s.image)).toEqual(
      Array(3).fill(`${REGISTRY_HOST}/flops/learners/digits@${IMAGE_DIGEST}`),
    );
    expect(bus.published).toHaveLength(0);
  });

  it('DEPLOYING resumed deploys the same components again (the driver keeps running ones)', async () => {
    const project = aProject({ state: S.DEPLOYING, image: anImage() });
    const { effects, driver } = setup();

    await effects.onEnter(project, true);

    expect(driver.deployed.map((s) => s.component)).toEqual(['aggregator', 'learner-0', 'learner-1']);
  });

  it('DEPLOYING without a recorded image throws and deploys nothing', async () => {
    const { effects, driver } = setup();

    await expect(effects.onEnter(aProject({ state: S.DEPLOYING }))).rejects.toThrow(/no learner image/);

    expect(driver.deployed).toHaveLength(0);
  });

  it('DEPLOYING throws when the driver cannot start a component (the lifecycle turns it into deployment.failed)', async () => {
    const project = aProject({ state: S.DEPLOYING, image: anImage() });
    const { effects, driver } = setup();
    driver.failDeployOf = 'learner-1';

    await expect(effects.onEnter(project)).rejects.toThrow('cannot start learner-1');

    expect(driver.deployed.map((s) => s.component)).toEqual(['aggregator', 'learner-0']);
  });
});

describe('StateEffects: training', () => {
  it('TRAINING entered normally does nothing, and does not even ask the registry', async () => {
    const project = aProject({ state: S.TRAINING, image: anImage() });
    const { effects, registry, bus, driver, storeFinalModel } = setup();
    storeFinalModel(project, aModelManifest(modelAnnotations({ projectId: project._id, rounds: 3, finalMetrics: { accuracy: 0.9 } })));

    await expect(effects.onEnter(project)).resolves.toBeNull();

    expect(registry.resolved).toHaveLength(0);
    expect(bus.published).toHaveLength(0);
    expect(driver.deployed).toHaveLength(0);
  });

  it('TRAINING resumed with a final model of this project in the registry completes training from the artifact', async () => {
    const project = aProject({ state: S.TRAINING, image: anImage() });
    const { effects, registry, storeFinalModel } = setup();
    const finalMetrics = { accuracy: 0.91, loss: 0.25 };
    storeFinalModel(project, aModelManifest(modelAnnotations({ projectId: project._id, rounds: 3, finalMetrics }), [1000, 200, 34]));

    const event = await effects.onEnter(project, true);

    expect(registry.resolved).toEqual([{ repo: `flops/models/${project._id}`, ref: 'final' }]);
    expect(event).toEqual({
      kind: 'training.completed',
      finalMetrics,
      model: {
        // pinned by digest: a later push to :final cannot change what the project points to
        reference: `${REGISTRY_HOST}/flops/models/${project._id}@${MODEL_DIGEST}`,
        digest: MODEL_DIGEST,
        sizeBytes: 1234, // the blobs only; the (2-byte) empty config does not count
      },
    });
  });

  it('TRAINING resumed: the model repository is named by the lower-cased project id', async () => {
    const project = aProject({ _id: 'ProjX', state: S.TRAINING });
    const { effects, registry, storeFinalModel } = setup();
    storeFinalModel(project, aModelManifest(modelAnnotations({ projectId: 'ProjX', rounds: 1, finalMetrics: {} }), [7]));

    const event = await effects.onEnter(project, true);

    expect(registry.resolved[0].repo).toBe('flops/models/projx');
    expect(event).toMatchObject({ kind: 'training.completed', finalMetrics: {}, model: { reference: `${REGISTRY_HOST}/flops/models/projx@${MODEL_DIGEST}`, sizeBytes: 7 } });
  });

  it('TRAINING resumed without a final model in the registry gives null: training may still be running', async () => {
    const project = aProject({ state: S.TRAINING });
    const { effects, registry } = setup();

    await expect(effects.onEnter(project, true)).resolves.toBeNull();

    expect(registry.resolved).toEqual([{ repo: `flops/models/${project._id}`, ref: FINAL_MODEL_TAG }]);
  });

  it('TRAINING resumed ignores a final model whose annotations belong to another project', async () => {
    const project = aProject({ state: S.TRAINING });
    const { effects, storeFinalModel } = setup();
    storeFinalModel(project, aModelManifest(modelAnnotations({ projectId: 'someone-else', rounds: 3, finalMetrics: { accuracy: 1 } })));

    await expect(effects.onEnter(project, true)).resolves.toBeNull();
  });

  it.each<[string, (projectId: string) => Record<string, string> | undefined]>([
    ['no annotations at all', () => undefined],
    ['annotations that are not FLOps’s', () => ({ 'org.opencontainers.image.created': '2024-05-01T12:00:00Z' })],
    ['no project id', () => ({ 'dev.flops.rounds': '3', 'dev.flops.metrics': '{}' })],
    ['rounds missing', (id) => ({ 'dev.flops.project': id, 'dev.flops.metrics': '{}' })],
    ['rounds zero', (id) => ({ 'dev.flops.project': id, 'dev.flops.rounds': '0', 'dev.flops.metrics': '{}' })],
    ['rounds not an integer', (id) => ({ 'dev.flops.project': id, 'dev.flops.rounds': 'three', 'dev.flops.metrics': '{}' })],
    ['metrics not JSON', (id) => ({ 'dev.flops.project': id, 'dev.flops.rounds': '3', 'dev.flops.metrics': '{accuracy: 0.9' })],
  ])('TRAINING resumed ignores a final model with %s', async (_case, annotationsFor) => {
    const project = aProject({ state: S.TRAINING });
    const { effects, storeFinalModel } = setup();
    storeFinalModel(project, aModelManifest(annotationsFor(project._id)));

    await expect(effects.onEnter(project, true)).resolves.toBeNull();
  });

  it('TRAINING resumed keeps only well-formed metrics from the annotation', async () => {
    const project = aProject({ state: S.TRAINING });
    const { effects, storeFinalModel } = setup();
    storeFinalModel(
      project,
      aModelManifest({ 'dev.flops.project': project._id, 'dev.flops.rounds': '2', 'dev.flops.metrics': '{"accuracy":0.8,"loss":"low","f1":null}' }),
    );

    await expect(effects.onEnter(project, true)).resolves.toMatchObject({ kind: 'training.completed', finalMetrics: { accuracy: 0.8 } });
  });

  it('TRAINING resumed passes a registry failure on (the lifecycle leaves the project in TRAINING)', async () => {
    const project = aProject({ state: S.TRAINING });
    const { effects, registry } = setup();
    registry.failWith = new Error('registry unavailable');

    await expect(effects.onEnter(project, true)).rejects.toThrow('registry unavailable');
  });
});

describe('StateEffects: finalization and clean-up', () => {
  it('FINALIZING with a stored model follows up with finalized', async () => {
    const { effects, bus, driver } = setup();

    await expect(effects.onEnter(aProject({ state: S.FINALIZING, model: aModel() }))).resolves.toEqual({ kind: 'finalized' });

    expect(bus.published).toHaveLength(0);
    expect(driver.undeployed).toHaveLength(0);
  });

  it('FINALIZING without a stored model throws', async () => {
    const { effects } = setup();

    await expect(effects.onEnter(aProject({ state: S.FINALIZING }))).rejects.toThrow('training ended without a stored model');
  });

  it.each([S.COMPLETED, S.FAILED, S.CANCELLED])(
    '%s stops the components, forgets the retained messages, then records the clean-up',
    async (state) => {
      const project = aProject({ state, deadlineAt: null, model: state === S.COMPLETED ? aModel() : undefined });
      const { effects, log, driver, bus, store } = setup();

      await expect(effects.onEnter(project)).resolves.toBeNull();

      expect(log).toEqual([`undeploy ${project._id}`, `clearRetained ${project._id}`, `markCleanedUp ${project._id}`]);
      expect(driver.undeployed).toEqual([project._id]);
      expect(bus.cleared).toEqual([project._id]);
      expect(store.cleanedUp).toEqual([project._id]);
      expect(bus.published).toHaveLength(0);
    },
  );

  it('a terminal state resumed cleans up the same way', async () => {
    const project = aProject({ state: S.FAILED, deadlineAt: null });
    const { effects, log } = setup();

    await effects.onEnter(project, true);

    expect(log).toEqual([`undeploy ${project._id}`, `clearRetained ${project._id}`, `markCleanedUp ${project._id}`]);
  });

  it('a failed undeploy is not recorded as cleaned up (so the sweeper tries again)', async () => {
    const project = aProject({ state: S.CANCELLED, deadlineAt: null });
    const { effects, driver, bus, store } = setup();
    driver.failUndeploy = new Error('driver gone');

    await expect(effects.onEnter(project)).rejects.toThrow('driver gone');

    expect(bus.cleared).toHaveLength(0);
    expect(store.cleanedUp).toHaveLength(0);
  });
});

describe('StateEffects: learnerLost', () => {
  it('tells the aggregator at once which learner is gone and why', async () => {
    const { effects, bus } = setup();

    await effects.learnerLost('p-9', 'learner-2', 'exited with SIGKILL');

    expect(bus.published).toEqual([{ topic: 'learnerFailed', projectId: 'p-9', payload: { learnerId: 'learner-2', reason: 'exited with SIGKILL' } }]);
  });
});
