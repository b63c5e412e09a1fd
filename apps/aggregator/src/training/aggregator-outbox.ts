import { Injectable } from '@nestjs/common';
import {
  FINAL_MODEL_TAG,
  LearnerTask,
  MAX_REASON_LENGTH,
  MODEL_ARTIFACT_TYPE,
  ROUND_HISTORY_MEDIA_TYPE,
  RoundCompleted,
  StoredModel,
  Topics,
  TrainingCompleted,
  encodeRoundHistory,
  modelAnnotations,
} from '@flops/contracts';
import { MqttBus } from '@flops/messaging';
import { RegistryClient, pushArtifact } from '@flops/oci-registry';
import { TENSORS_MEDIA_TYPE } from '@flops/tensor-codec';
import { StoredModelInfo, TrainingPorts } from './training-run';


/** How the round loop reaches MQTT and the registry. */
@Injectable()
export class AggregatorOutbox implements TrainingPorts {
  constructor(
    private readonly bus: MqttBus,
    private readonly registry: RegistryClient,
    private readonly projectId: string,
    private readonly modelRepository: string,
  ) {}

  announce(dataUrl: string): Promise<void> {
    return this.bus.publish(Topics.aggregatorReady, this.projectId, { dataUrl });
  }

  publishTask(task: LearnerTask): Promise<void> {
    return this.bus.publish(Topics.learnerTask, this.projectId, task);
  }

  trainingStarted(learners: string[]): Promise<void> {
    return this.bus.publish(Topics.trainingStarted, this.projectId, { learners });
  }

  roundCompleted(round: RoundCompleted): Promise<void> {
    return this.bus.publish(Topics.roundCompleted, this.projectId, round);
  }

  trainingCompleted(result: TrainingCompleted): Promise<void> {
    return this.bus.publish(Topics.trainingCompleted, this.projectId, result);
  }

  trainingFailed(reason: string): Promise<void> {
    return this.bus.publish(Topics.trainingFailed, this.projectId, { reason: reason.slice(0, MAX_REASON_LENGTH) });
  }

  /** The final model becomes an OCI artifact, addressed by digest; its second blob is the round history. */
  async storeModel(model: Buffer, { history, ...info }: StoredModelInfo): Promise<StoredModel> {
    const pushed = await pushArtifact(this.registry, this.modelRepository, FINAL_MODEL_TAG, {
      artifactType: MODEL_ARTIFACT_TYPE,
      blobs: [
        { data: model, mediaType: TENSORS_MEDIA_TYPE, annotations: { 'org.opencontainers.image.title': 'model.flt' } },
        { data: encodeRoundHistory(history), mediaType: ROUND_HISTORY_MEDIA_TYPE, annotations: { 'org.opencontainers.image.title': 'rounds.json' } },
      ],
      annotations: modelAnnotations({ projectId: this.projectId, ...info }),
    });
    return { reference: pushed.reference, digest: pushed.digest, sizeBytes: model.length };
  }

  clearRetained(): Promise<void> {
    return this.bus.clearRetained(this.projectId);
  }
}
