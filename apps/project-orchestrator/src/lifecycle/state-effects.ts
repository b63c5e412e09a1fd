import { Injectable, Logger } from '@nestjs/common';
import { Topics } from '@flops/contracts';
import { ProjectState } from '@flops/lifecycle';
import { MqttBus } from '@flops/messaging';
import { ProjectRecord, ProjectStore } from '@flops/models';
import { DeploymentDriver } from '../deployment/deployment-driver';
import { ComponentPlanner } from '../deployment/component-planner';
import { ProjectEvent } from './project-events';

/**
 * What the orchestrator does when a project enters a state. Every effect is idempotent, because
 * after a restart the orchestrator runs the effect of each unfinished project's state again.
 */
@Injectable()
export class StateEffects {
  private readonly logger = new Logger(StateEffects.name);

  constructor(
    private readonly bus: MqttBus,
    private readonly driver: DeploymentDriver,
    private readonly planner: ComponentPlanner,
    private readonly store: ProjectStore,
  ) {}

  /** Runs the effect; may return an event that follows at once (e.g. `finalized`). */
  async onEnter(project: ProjectRecord): Promise<ProjectEvent | null> {
    switch (project.state) {
      case ProjectState.SUBMITTED:
        return { kind: 'start' };
      case ProjectState.IMAGE_CHECK:
        await this.bus.publish(Topics.buildRequested, project._id, {
          repoUrl: project.repo.url,
          ...(project.repo.ref ? { ref: project.repo.ref } : {}),
          imageRepository: this.planner.learnerImageRepository(project),
        });
        return null;
      case ProjectState.BUILDING:
      case ProjectState.TRAINING:
        return null;
      case ProjectState.DEPLOYING:
        for (const spec of this.planner.plan(project)) await this.driver.deploy(spec);
        return null;
      case ProjectState.FINALIZING:
        if (!project.model) throw new Error('training ended without a stored model');
        return { kind: 'finalized' };
      case ProjectState.COMPLETED:
      case ProjectState.FAILED:
      case ProjectState.CANCELLED:
        await this.cleanUp(project);
        return null;
    }
  }

  /** Stop everything the project started and forget its retained messages. */
  async cleanUp(project: ProjectRecord): Promise<void> {
    await this.driver.undeployProject(project._id);
    await this.bus.clearRetained(project._id);
    await this.store.markCleanedUp(project._id);
    this.logger.log(`${project._id}: cleaned up after ${project.state}`);
  }
}
