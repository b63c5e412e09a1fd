import { Injectable, Logger } from '@nestjs/common';
import { FINAL_MODEL_TAG, ROUND_HISTORY_MEDIA_TYPE, Topics, decodeRoundHistory, readModelAnnotations } from '@flops/contracts';
import { ProjectState } from '@flops/lifecycle';
import { MqttBus } from '@flops/messaging';
import { ProjectRecord, ProjectStore, RoundRecord } from '@flops/models';
import { RegistryClient, formatImageReference } from '@flops/oci-registry';
import { DeploymentDriver } from '../deployment/deployment-driver';
import { ComponentPlanner } from '../deployment/component-planner';
import { ProjectEvent } from './project-events';

/**
 * What the orchestrator does when a project enters a state. Every effect is idempotent. After a
 * restart (`resumed`), effects also make up for what may have been lost while it was down: an
 * acknowledged build request or completion message that was never acted on.
 */
@Injectable()
export class StateEffects {
  private readonly logger = new Logger(StateEffects.name);

  constructor(
    private readonly bus: MqttBus,
    private readonly driver: DeploymentDriver,
    private readonly planner: ComponentPlanner,
    private readonly store: ProjectStore,
    private readonly registry: RegistryClient,
  ) {}

  /** Runs the effect; may return an event that follows at once (e.g. `finalized`). */
  async onEnter(project: ProjectRecord, resumed = false): Promise<ProjectEvent | null> {
    switch (project.state) {
      case ProjectState.SUBMITTED:
        return { kind: 'start' };
      case ProjectState.IMAGE_CHECK:
        await this.requestBuild(project);
        return null;
      case ProjectState.BUILDING:
        // The builder may have died with the request; asking again is safe (a built image is a cache hit).
        if (resumed) await this.requestBuild(project);
        return null;
      case ProjectState.DEPLOYING: {
        // Training may have run to its end while we were away: never start it all again then.
        const outcome = resumed ? await this.trainingOutcome(project) : null;
        if (outcome) return outcome;
        for (const spec of this.planner.plan(project)) await this.driver.deploy(spec);
        return null;
      }
      case ProjectState.TRAINING:
        return resumed ? this.trainingOutcome(project) : null;
      case ProjectState.FINALIZING: {
        if (!project.model) throw new Error('training ended without a stored model');
        // A round whose message was lost is still in the history stored with the model.
        if (project.rounds.length >= project.training.rounds) return { kind: 'finalized' };
        const roundHistory = await this.trainingOutcome(project).then(
          (outcome) => outcome?.roundHistory,
          (error: unknown) => {
            // Best effort: the model is stored, so the project completes; late round messages still count.
            this.logger.warn(`${project._id}: cannot read the stored round history: ${error instanceof Error ? error.message : String(error)}`);
            return undefined;
          },
        );
        return { kind: 'finalized', ...(roundHistory ? { roundHistory } : {}) };
      }
      case ProjectState.COMPLETED:
      case ProjectState.FAILED:
      case ProjectState.CANCELLED:
        await this.cleanUp(project);
        return null;
    }
  }

  /**
   * If the aggregator stored the final model, training completed even if we never heard so
   * (the message was lost, or the aggregator ended while we were away): the artifact says how.
   */
  async trainingOutcome(project: ProjectRecord): Promise<ProjectEvent | null> {
    const repository = this.planner.modelRepository(project);
    const digest = await this.registry.resolveTag(repository, FINAL_MODEL_TAG);
    if (!digest) return null;
    const { manifest } = await this.registry.getManifest(repository, digest);
    const info = readModelAnnotations(manifest.annotations);
    if (!info || info.projectId !== project._id) return null;
    this.logger.log(`${project._id}: found the final model in the registry`);
    const historyLayer = manifest.layers.find((layer) => layer.mediaType === ROUND_HISTORY_MEDIA_TYPE);
    const roundHistory = historyLayer ? await this.roundHistory(repository, historyLayer.digest) : undefined;
    return {
      kind: 'training.completed',
      finalMetrics: info.finalMetrics,
      model: {
        reference: formatImageReference({ registry: this.registry.registryHost, repository, digest }),
        digest,
        sizeBytes: manifest.layers.filter((layer) => layer !== historyLayer).reduce((n, layer) => n + layer.size, 0),
      },
      ...(roundHistory ? { roundHistory } : {}),
    };
  }

  /** The rounds stored beside the final model, so completing from the artifact loses none. */
  private async roundHistory(repository: string, digest: string): Promise<RoundRecord[]> {
    const rounds = decodeRoundHistory(await this.registry.getBlob(repository, digest));
    // Plain records (nested refusals and privacy included) for the store.
    return rounds.map(({ at, ...round }) => ({ ...(JSON.parse(JSON.stringify(round)) as Omit<RoundRecord, 'at'>), at: new Date(at) }));
  }

  /** Tell the aggregator at once that a learner is gone, so no round waits for it. */
  async learnerLost(projectId: string, learnerId: string, reason: string): Promise<void> {
    await this.bus.publish(Topics.learnerFailed, projectId, { learnerId, reason });
  }

  /** Stop everything the project started and forget its retained messages. */
  async cleanUp(project: ProjectRecord): Promise<void> {
    await this.driver.undeployProject(project._id);
    await this.bus.clearRetained(project._id);
    await this.store.markCleanedUp(project._id);
    this.logger.log(`${project._id}: cleaned up after ${project.state}`);
  }

  private async requestBuild(project: ProjectRecord): Promise<void> {
    await this.bus.publish(Topics.buildRequested, project._id, {
      repoUrl: project.repo.url,
      ...(project.repo.ref ? { ref: project.repo.ref } : {}),
      imageRepository: this.planner.learnerImageRepository(project),
    });
  }
}
