import { Inject } from '@nestjs/common';
import { EventPattern } from '@nestjs/microservices';
import { Envelope, LearnerEvaluated, LearnerFailed, LearnerJoined, Topics, subscriptionFor } from '@flops/contracts';
import { Message, MqttHandlers } from '@flops/messaging';
import { TrainingRun } from '../training/training-run';

export const PROJECT_ID = Symbol('project-id');

/** Learner messages of this aggregator's project go to the round loop; others are not ours. */
@MqttHandlers()
export class LearnerEventsHandler {
  constructor(
    private readonly run: TrainingRun,
    @Inject(PROJECT_ID) private readonly projectId: string,
  ) {}

  @EventPattern(subscriptionFor(Topics.learnerJoined))
  joined(@Message(Topics.learnerJoined) msg: Envelope<LearnerJoined>): void {
    if (msg.projectId === this.projectId) this.run.learnerJoined(msg.payload.learnerId);
  }

  @EventPattern(subscriptionFor(Topics.learnerEvaluated))
  evaluated(@Message(Topics.learnerEvaluated) msg: Envelope<LearnerEvaluated>): void {
    if (msg.projectId !== this.projectId) return;
    const { taskId, learnerId, numSamples, metrics } = msg.payload;
    this.run.learnerEvaluated(taskId, learnerId, numSamples, metrics);
  }

  @EventPattern(subscriptionFor(Topics.learnerFailed))
  failed(@Message(Topics.learnerFailed) msg: Envelope<LearnerFailed>): void {
    if (msg.projectId === this.projectId) this.run.learnerFailed(msg.payload.learnerId, msg.payload.taskId, msg.payload.reason);
  }
}
