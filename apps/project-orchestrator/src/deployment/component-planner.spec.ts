import { loadConfig } from '@flops/config';
import { TrainingConfig } from '@flops/contracts';
import { ProjectState } from '@flops/lifecycle';
import { ImageRecord } from '@flops/models';
import { COMPONENT_TUNING, trainingConfigOf } from '@flops/contracts';
import { AggregatorConfig } from '../../../aggregator/src/config';
import { LearnerConfig } from '../../../learner/src/config';
import * as fixtures from '../lifecycle/testing/fixtures';
import { ComponentPlanner, PlannerSettings } from './component-planner';

/** Settings whose every value shows in the plan: a registry of its own, debug logging. */
function someSettings(overrides: Partial<PlannerSettings> = {}): PlannerSettings {
  return fixtures.plannerSettings({ registryUrl: 'http://registry.test:5000', logLevel: 'debug', ...overrides });
}

/** Training whose every value shows in the learners' environment (none of them the shared defaults). */
function aTrainingConfig(overrides: Partial<TrainingConfig> = {}): TrainingConfig {
  return fixtures.aTrainingConfig({
    rounds: 4,
    learners: 3,
    hyperparameters: { epochs: 2, learningRate: 0.05, augment: true, optimizer: 'adam' },
    dataTags: ['mnist', 'non-iid'],
    roundTimeoutSeconds: 120,
    seed: 7,
    ...overrides,
  });
}

function anImage(): ImageRecord {
  return fixtures.anImage({
    reference: 'registry.test:5000/flops/learners/digits:3f2a-tfjs4.22-r1',
    digest: `sha256:${'d'.repeat(64)}`,
    sourceRevision: '3f2a',
  });
}

/** A project being deployed, with a mixed-case id, resource hints and the image above. */
const aProject = fixtures.projectFactory({
  defaults: () => {
    const at = new Date('2024-05-01T12:00:00Z');
    return {
      _id: 'pA1B2c3D4e5F6a7B8',
      state: ProjectState.DEPLOYING,
      version: 5,
      training: aTrainingConfig(),
      resources: { cpus: 2, memoryMiB: 1024 },
      image: anImage(),
      history: [],
      deadlineAt: null,
      createdAt: at,
      updatedAt: at,
    };
  },
});

describe('ComponentPlanner.plan', () => {
  const planner = new ComponentPlanner(someSettings());

  it('plans one aggregator and one learner per configured learner, aggregator first', () => {
    const specs = planner.plan(aProject());
    expect(specs.map((s) => [s.component, s.kind])).toEqual([
      ['aggregator', 'aggregator'],
      ['learner-0', 'learner'],
      ['learner-1', 'learner'],
      ['learner-2', 'learner'],
    ]);
    for (const spec of specs) expect(spec.projectId).toBe('pA1B2c3D4e5F6a7B8');
  });

  it.each([1, 5])('scales to %i learners', (learners) => {
    const specs = planner.plan(aProject({ training: aTrainingConfig({ learners, minLearnersPerRound: 1 }) }));
    expect(specs.filter((s) => s.kind === 'learner').map((s) => s.env.FLOPS_LEARNER_INDEX)).toEqual(
      Array.from({ length: learners }, (_, i) => String(i)),
    );
    expect(new Set(specs.map((s) => s.component)).size).toBe(specs.length);
  });

  it('configures the aggregator: runtime image, training config, model repository', () => {
    const project = aProject();
    const [aggregator] = planner.plan(project);

    expect(aggregator.image).toBe('flops/learner-runtime:0.1.0');
    expect(aggregator.resources).toEqual({});
    expect(aggregator.env).toEqual({
      FLOPS_PROJECT_ID: project._id,
      FLOPS_MQTT_URL: 'mqtt://broker.test:1883',
      FLOPS_REGISTRY_URL: 'http://registry.test:5000',
      FLOPS_LOG_LEVEL: 'debug',
      FLOPS_LOG_FORMAT: 'text',
      FLOPS_TRAINING_CONFIG: expect.any(String),
      FLOPS_MODEL_REPOSITORY: 'flops/models/pa1b2c3d4e5f6a7b8',
      FLOPS_JOIN_TIMEOUT_SECONDS: String(project.training.roundTimeoutSeconds),
    });
    expect(JSON.parse(aggregator.env.FLOPS_TRAINING_CONFIG)).toEqual(project.training);
  });

  it('runs learners from the image recorded for the project, each with its own identity and partition', () => {
    const project = aProject();
    const learners = planner.plan(project).slice(1);

    const pinned = `registry.test:5000/flops/learners/digits@${anImage().digest}`;
    learners.forEach((learner, index) => {
      expect(learner.image).toBe(pinned);
      expect(learner.resources).toEqual({ cpus: 2, memoryMiB: 1024 });
      expect(learner.env).toEqual({
        FLOPS_PROJECT_ID: project._id,
        FLOPS_MQTT_URL: 'mqtt://broker.test:1883',
        FLOPS_REGISTRY_URL: 'http://registry.test:5000',
        FLOPS_LOG_LEVEL: 'debug',
        FLOPS_LOG_FORMAT: 'text',
        FLOPS_LEARNER_ID: `learner-${index}`,
        FLOPS_TRAINING_CONFIG: JSON.stringify(project.training),
        FLOPS_LEARNER_INDEX: String(index),
        FLOPS_LEARNER_IMAGE: pinned,
        FLOPS_LEARNER_IDLE_TIMEOUT_SECONDS: String(Math.max(900, 4 * project.training.roundTimeoutSeconds + 60)),
      });
    });
  });

  it('follows the image of the project record, pinned by its digest', () => {
    const image = { ...anImage(), reference: 'other.test/ns/learners/x:tag', digest: `sha256:${'e'.repeat(64)}` };
    const learners = planner.plan(aProject({ image })).slice(1);
    for (const learner of learners) {
      expect(learner.image).toBe(`other.test/ns/learners/x@sha256:${'e'.repeat(64)}`);
      expect(learner.env.FLOPS_LEARNER_IMAGE).toBe(learner.image);
    }
  });

  it('throws when no learner image is recorded', () => {
    expect(() => planner.plan(aProject({ image: undefined }))).toThrow('no learner image recorded for the project');
  });

  it('uses the namespace and runtime version it was given', () => {
    const other = new ComponentPlanner(someSettings({ registryNamespace: 'acme', runtimeVersion: '2.3.4' }));
    const project = aProject();
    const [aggregator] = other.plan(project);
    expect(aggregator.image).toBe('acme/learner-runtime:2.3.4');
    expect(aggregator.env.FLOPS_MODEL_REPOSITORY).toBe('acme/models/pa1b2c3d4e5f6a7b8');
    expect(other.learnerImageRepository(project)).toMatch(/^acme\/learners\/[a-z0-9-]+-[0-9a-f]{8}$/);
  });

  it('is pure: planning twice gives the same specs and leaves the project untouched', () => {
    const project = aProject();
    const snapshot = structuredClone(project);
    expect(planner.plan(project)).toEqual(planner.plan(project));
    expect(project).toEqual(snapshot);
  });

  it('produces environments the aggregator and learners accept at boot', () => {
    const [aggregator, ...learners] = planner.plan(aProject());

    const aggregatorConfig = loadConfig(AggregatorConfig, aggregator.env);
    expect(aggregatorConfig.FLOPS_PROJECT_ID).toBe('pA1B2c3D4e5F6a7B8');
    expect(trainingConfigOf(aggregatorConfig)).toEqual(aTrainingConfig());

    learners.forEach((learner, index) => {
      const config = loadConfig(LearnerConfig, learner.env);
      expect(config.FLOPS_LEARNER_INDEX).toBe(index);
      expect(config.FLOPS_LEARNER_ID).toBe(`learner-${index}`);
      // one training configuration, read the same way by every component
      expect(trainingConfigOf(config)).toEqual(trainingConfigOf(aggregatorConfig));
    });
  });

  it('sets only variables the components declare, and never the machine-wide tuning the driver passes on', () => {
    const [aggregator, learner] = planner.plan(aProject());
    const declared = (config: object) => Object.keys(config);
    expect(declared(loadConfig(AggregatorConfig, aggregator.env))).toEqual(expect.arrayContaining(Object.keys(aggregator.env)));
    expect(declared(loadConfig(LearnerConfig, learner.env))).toEqual(expect.arrayContaining(Object.keys(learner.env)));
    for (const variable of COMPONENT_TUNING) expect([...Object.keys(aggregator.env), ...Object.keys(learner.env)]).not.toContain(variable);
  });
});

describe('ComponentPlanner repositories', () => {
  const planner = new ComponentPlanner(someSettings());

  it('names the learner image repository after the repo, not the project, so projects share images', () => {
    const repo = { url: 'https://git.example/org/MNIST-CNN.git' };
    const a = planner.learnerImageRepository(aProject({ name: 'first', repo }));
    expect(a).toMatch(/^flops\/learners\/mnist-cnn-[0-9a-f]{8}$/);
    expect(planner.learnerImageRepository(aProject({ name: 'second', repo }))).toBe(a);
    expect(planner.learnerImageRepository(aProject({ repo: { url: 'https://other.example/x/MNIST-CNN.git' } }))).not.toBe(a);
  });

  it('lower-cases the project id for the model repository (registry names are lower case)', () => {
    expect(planner.modelRepository(aProject({ _id: 'pABC' }))).toBe('flops/models/pabc');
  });
});
