import { AggregatorPlan, LearnerPlan, LogFormat, LogLevel, learnerImageRepository, modelRepository } from '@flops/contracts';
import { formatImageReference, parseImageReference } from '@flops/oci-registry';
import { ProjectRecord } from '@flops/models';
import { ComponentSpec } from './deployment-driver';

export interface PlannerSettings {
  mqttUrl: string;
  registryUrl: string;
  registryNamespace: string;
  /** Version of the FLOps runtime images (aggregator, learner runtime). */
  runtimeVersion: string;
  logLevel: LogLevel;
  logFormat: LogFormat;
}

/** Decides which components a project needs and how each is configured. Pure. */
export class ComponentPlanner {
  constructor(private readonly settings: PlannerSettings) {}

  learnerImageRepository(project: ProjectRecord): string {
    return learnerImageRepository(this.settings.registryNamespace, project.repo.url);
  }

  modelRepository(project: ProjectRecord): string {
    return modelRepository(this.settings.registryNamespace, project._id);
  }

  plan(project: ProjectRecord): ComponentSpec[] {
    if (!project.image) throw new Error('no learner image recorded for the project');
    const { training } = project;
    // The environment contract (@flops/contracts): a variable added there must be set here.
    const common = {
      FLOPS_PROJECT_ID: project._id,
      FLOPS_MQTT_URL: this.settings.mqttUrl,
      FLOPS_REGISTRY_URL: this.settings.registryUrl,
      FLOPS_LOG_LEVEL: this.settings.logLevel,
      FLOPS_LOG_FORMAT: this.settings.logFormat,
      FLOPS_TRAINING_CONFIG: JSON.stringify(training),
    };
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
        FLOPS_MODEL_REPOSITORY: this.modelRepository(project),
        FLOPS_JOIN_TIMEOUT_SECONDS: String(roundSeconds),
      } satisfies AggregatorPlan,
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
        FLOPS_LEARNER_IMAGE: learnerImage,
        // Waiting for slow peers is not idleness: a learner may wait a whole round plus evaluation.
        FLOPS_LEARNER_IDLE_TIMEOUT_SECONDS: String(Math.max(900, 4 * roundSeconds + 60)),
      } satisfies LearnerPlan,
    }));
    return [aggregator, ...learners];
  }
}
