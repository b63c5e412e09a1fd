import { EventPattern } from '@nestjs/microservices';
import {
  BuildFailed,
  BuildStarted,
  BuildSucceeded,
  Envelope,
  ProjectStateChanged,
  RoundCompleted,
  Topics,
  TrainingCompleted,
  TrainingFailed,
  TrainingStarted,
  subscriptionFor,
} from '@flops/contracts';
import { Message, MqttHandlers } from '@flops/messaging';
import { ProjectEventStream } from '../events/project-event-stream';
import { toProjectEvent } from '@flops/contracts';

/** MQTT → the live event stream. Invalid messages never get here: @Message drops them. */
@MqttHandlers()
export class ProjectEventsHandler {
  constructor(private readonly stream: ProjectEventStream) {}

  @EventPattern(subscriptionFor(Topics.projectStateChanged))
  projectStateChanged(@Message(Topics.projectStateChanged) msg: Envelope<ProjectStateChanged>): void {
    this.stream.publish(msg.messageId, toProjectEvent('projectStateChanged', msg));
  }

  @EventPattern(subscriptionFor(Topics.buildStarted))
  buildStarted(@Message(Topics.buildStarted) msg: Envelope<BuildStarted>): void {
    this.stream.publish(msg.messageId, toProjectEvent('buildStarted', msg));
  }

  @EventPattern(subscriptionFor(Topics.buildSucceeded))
  buildSucceeded(@Message(Topics.buildSucceeded) msg: Envelope<BuildSucceeded>): void {
    this.stream.publish(msg.messageId, toProjectEvent('buildSucceeded', msg));
  }

  @EventPattern(subscriptionFor(Topics.buildFailed))
  buildFailed(@Message(Topics.buildFailed) msg: Envelope<BuildFailed>): void {
    this.stream.publish(msg.messageId, toProjectEvent('buildFailed', msg));
  }

  @EventPattern(subscriptionFor(Topics.trainingStarted))
  trainingStarted(@Message(Topics.trainingStarted) msg: Envelope<TrainingStarted>): void {
    this.stream.publish(msg.messageId, toProjectEvent('trainingStarted', msg));
  }

  @EventPattern(subscriptionFor(Topics.roundCompleted))
  roundCompleted(@Message(Topics.roundCompleted) msg: Envelope<RoundCompleted>): void {
    this.stream.publish(msg.messageId, toProjectEvent('roundCompleted', msg));
  }

  @EventPattern(subscriptionFor(Topics.trainingCompleted))
  trainingCompleted(@Message(Topics.trainingCompleted) msg: Envelope<TrainingCompleted>): void {
    this.stream.publish(msg.messageId, toProjectEvent('trainingCompleted', msg));
  }

  @EventPattern(subscriptionFor(Topics.trainingFailed))
  trainingFailed(@Message(Topics.trainingFailed) msg: Envelope<TrainingFailed>): void {
    this.stream.publish(msg.messageId, toProjectEvent('trainingFailed', msg));
  }
}
