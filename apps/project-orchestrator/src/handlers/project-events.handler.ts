import { EventPattern } from '@nestjs/microservices';
import {
  BuildFailed,
  BuildStarted,
  BuildSucceeded,
  Envelope,
  ProjectCancelRequested,
  ProjectSubmitted,
  RoundCompleted,
  Topics,
  TrainingCompleted,
  TrainingFailed,
  TrainingStarted,
  injectedFault,
  subscriptionFor,
} from '@flops/contracts';
import { Message, MqttHandlers } from '@flops/messaging';
import type { RoundRecord } from '@flops/models';
import { ProjectLifecycleService } from '../lifecycle/project-lifecycle.service';

/** MQTT → lifecycle events. Thin on purpose: every decision is in ProjectLifecycleService. */
@MqttHandlers()
export class ProjectEventsHandler {
  constructor(private readonly lifecycle: ProjectLifecycleService) {}

  @EventPattern(subscriptionFor(Topics.projectSubmitted))
  async submitted(@Message(Topics.projectSubmitted) msg: Envelope<ProjectSubmitted>): Promise<void> {
    await this.lifecycle.handle(msg.projectId, { kind: 'start' });
  }

  @EventPattern(subscriptionFor(Topics.projectCancelRequested))
  async cancelRequested(@Message(Topics.projectCancelRequested) msg: Envelope<ProjectCancelRequested>): Promise<void> {
    await this.lifecycle.handle(msg.projectId, { kind: 'cancel', reason: msg.payload.reason });
  }

  @EventPattern(subscriptionFor(Topics.buildStarted))
  async buildStarted(@Message(Topics.buildStarted) msg: Envelope<BuildStarted>): Promise<void> {
    await this.lifecycle.handle(msg.projectId, { kind: 'build.started' });
  }

  @EventPattern(subscriptionFor(Topics.buildSucceeded))
  async buildSucceeded(@Message(Topics.buildSucceeded) msg: Envelope<BuildSucceeded>): Promise<void> {
    const { image, digest, sourceRevision, cacheHit, durations } = msg.payload;
    await this.lifecycle.handle(msg.projectId, {
      kind: 'build.succeeded',
      image: { reference: image, digest, sourceRevision, cacheHit, durations: { ...durations } },
    });
  }

  @EventPattern(subscriptionFor(Topics.buildFailed))
  async buildFailed(@Message(Topics.buildFailed) msg: Envelope<BuildFailed>): Promise<void> {
    await this.lifecycle.handle(msg.projectId, { kind: 'build.failed', reason: `${msg.payload.phase}: ${msg.payload.reason}` });
  }

  @EventPattern(subscriptionFor(Topics.trainingStarted))
  async trainingStarted(@Message(Topics.trainingStarted) msg: Envelope<TrainingStarted>): Promise<void> {
    await this.lifecycle.handle(msg.projectId, { kind: 'training.started' });
  }

  @EventPattern(subscriptionFor(Topics.roundCompleted))
  async roundCompleted(@Message(Topics.roundCompleted) msg: Envelope<RoundCompleted>): Promise<void> {
    const { round, learners, samples, trainMetrics, evalMetrics, learnerMetrics, durationMs, evaluators, refused, refusals, privacy } = msg.payload;
    // Validated class instances become plain records (nested arrays and objects included) for the store;
    // absent fields stay absent.
    const extra = JSON.parse(JSON.stringify({ learnerMetrics, evaluators, refused, refusals, privacy })) as Pick<
      RoundRecord,
      'learnerMetrics' | 'evaluators' | 'refused' | 'refusals' | 'privacy'
    >;
    await this.lifecycle.handle(msg.projectId, {
      kind: 'round.completed',
      round,
      roundRecord: { round, learners, samples, trainMetrics, evalMetrics, durationMs, ...extra },
    });
  }

  @EventPattern(subscriptionFor(Topics.trainingCompleted))
  async trainingCompleted(@Message(Topics.trainingCompleted) msg: Envelope<TrainingCompleted>): Promise<void> {
    const { model, finalMetrics } = msg.payload;
    // Crash tests only (FLOPS_FAULTS): the message is taken from the broker, then its handling fails.
    if (injectedFault('orchestrator-fail-handling') === 'trainingCompleted') throw new Error('injected fault: handling trainingCompleted failed');
    await this.lifecycle.handle(msg.projectId, { kind: 'training.completed', model: { ...model }, finalMetrics });
  }

  @EventPattern(subscriptionFor(Topics.trainingFailed))
  async trainingFailed(@Message(Topics.trainingFailed) msg: Envelope<TrainingFailed>): Promise<void> {
    await this.lifecycle.handle(msg.projectId, { kind: 'training.failed', reason: msg.payload.reason });
  }
}
