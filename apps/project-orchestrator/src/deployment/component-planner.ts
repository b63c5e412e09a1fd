import { learnerImageRepository } from '@flops/contracts';
import { formatImageReference, parseImageReference } from '@flops/oci-registry';
import { ProjectRecord } from '@flops/models';
import { ComponentSpec } from './deployment-driver';

export interface PlannerSettings {
  mqttUrl: string;
  registryUrl: string;
  registryNamespace: string;
  /** Version of the FLOps runtime images (aggregator, learner runtime). */
  runtimeVersion: string;
  logLevel: string;
}

/** Decides which components a project needs and how each is configured. Pure. */
export class ComponentPlanner {
  constructor(private readonly settings: PlannerSettings) {}

  learnerImageRepository(project: ProjectRecord): string {
    return learnerImageRepository(this.settings.registryNamespace, project.repo.url);
  }

  modelRepository(project: ProjectRecord): string {
    return `${this.settings.registryNamespace}/models/${project._id.toLowerCase()}`;
  }

  plan(project: ProjectRecord): ComponentSpec[] {
    if (!project.image) throw new Error('no learner image recorded for the project');
    const common = {
      FLOPS_PROJECT_ID: project._id,
      FLOPS_MQTT_URL: this.settings.mqttUrl,
      FLOPS_REGISTRY_URL: this.settings.registryUrl,
      FLOPS_LOG_LEVEL: this.settings.logLevel,
    };
    const { training } = project;
    // Learners pull the exact image the builder reported, by digest: a moved tag cannot change it.
    const learnerImage = formatImageReference({ ...parseImageReference(project.image.reference), tag: undefined, digest: project.image.digest });
    const roundSeconds = training.roundTimeoutSeconds;
    const aggregator: ComponentSpec = {
      projectId: project._id,
      component: 'aggregator',
      kind: 'aggregator',
      // The runtime image of deploy/containers/Containerfile.learner-runtime (a container driver runs it).
      image: `${this.settings.registryNamespace}/learner-runtime:${this.settings.runtimeVersion}`,
      resources: {},
      env: {
        ...common,
        FLOPS_TRAINING_CONFIG: JSON.stringify(training),
        FLOPS_MODEL_REPOSITORY: this.modelRepository(project),
        FLOPS_JOIN_TIMEOUT_SECONDS: String(roundSeconds),
      },
    };
    const learners = Array.from({ length: training.learners }, (_, index): ComponentSpec => ({
      projectId: project._id,
      component: `learner-${index}`,
      kind: 'learner',
      image: learnerImage,
      resources: project.resources,
      env: {
        ...common,
        FLOPS_LEARNER_ID: `learner-${index}`,
        FLOPS_LEARNER_INDEX: String(index),
        FLOPS_LEARNER_COUNT: String(training.learners),
        FLOPS_LEARNER_IMAGE: learnerImage,
        FLOPS_DATA_TAGS: training.dataTags.join(','),
        FLOPS_SEED: String(training.seed),
        FLOPS_HYPERPARAMETERS: JSON.stringify(training.hyperparameters),
        // Waiting for slow peers is not idleness: a learner may wait a whole round plus evaluation.
        FLOPS_LEARNER_IDLE_TIMEOUT_SECONDS: String(Math.max(900, 4 * roundSeconds + 60)),
      },
    }));
    return [aggregator, ...learners];
  }
}
