import { Logger } from '@nestjs/common';
import { FINAL_MODEL_TAG, learnerImageRepository, modelAnnotations } from '@flops/contracts';
import { ProjectState } from '@flops/lifecycle';
import { ProjectStore } from '@flops/models';
import { stateEffectsWithFakes } from './testing/fakes';
import { IMAGE_DIGEST, MODEL_DIGEST, NAMESPACE, REGISTRY_HOST, aModel, aModelManifest, aProject, aTrainingConfig, anImage } from './testing/fixtures';

const S = ProjectState;

// ---- fakes ---------------------------------------------------------------------------------------

/** Records the clean-ups, the one thing StateEffects writes to the store. */
class RecordingStore implements Pick<ProjectStore, 'markCleanedUp'> {
  readonly cleanedUp: string[] = [];

  constructor(private readonly log: string[] = []) {}

  async markCleanedUp(id: string): Promise<void> {
    this.cleanedUp.push(id);
    this.log.push(`markCleanedUp ${id}`);
  }
}

/** StateEffects over fakes that write what they are asked, in order, to one log. */
function setup() {
  const log: string[] = [];
  const store = new RecordingStore(log);
  return { log, store, ...stateEffectsWithFakes(store, log) };
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

  it('DEPLOYING resumed after training ran to its end while we were away completes from the stored model, starting nothing', async () => {
    const project = aProject({ state: S.DEPLOYING, image: anImage() });
    const { effects, driver, storeFinalModel } = setup();
    storeFinalModel(project, aModelManifest(modelAnnotations({ projectId: project._id, rounds: 3, finalMetrics: { accuracy: 0.9 } })));

    await expect(effects.onEnter(project, true)).resolves.toMatchObject({ kind: 'training.completed', finalMetrics: { accuracy: 0.9 } });
    expect(driver.deployed).toEqual([]);
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
    driver.undeployFailures.set(project._id, new Error('driver gone'));

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
