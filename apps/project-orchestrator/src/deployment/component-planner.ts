import { learnerImageRepository } from '@flops/contracts';
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
    const aggregator: ComponentSpec = {
      projectId: project._id,
      component: 'aggregator',
      kind: 'aggregator',
      image: `${this.settings.registryNamespace}/aggregator:${this.settings.runtimeVersion}`,
      resources: {},
      env: {
        ...common,
        FLOPS_TRAINING_CONFIG: JSON.stringify(training),
        FLOPS_MODEL_REPOSITORY: this.modelRepository(project),
      },
    };
    const learners = Array.from({ length: training.learners }, (_, index): ComponentSpec => ({
      projectId: project._id,
      component: `learner-${index}`,
      kind: 'learner',
      image: project.image!.reference,
      resources: project.resources,
      env: {
        ...common,
        FLOPS_LEARNER_ID: `learner-${index}`,
        FLOPS_LEARNER_INDEX: String(index),
        FLOPS_LEARNER_COUNT: String(training.learners),
        FLOPS_LEARNER_IMAGE: project.image!.reference,
        FLOPS_DATA_TAGS: training.dataTags.join(','),
        FLOPS_SEED: String(training.seed),
      },
    }));
    return [aggregator, ...learners];
  }
}
