import { Inject } from '@nestjs/common';
import { EventPattern } from '@nestjs/microservices';
import { AggregatorReady, Envelope, LearnerTask, Topics, subscriptionFor } from '@flops/contracts';
import { Message, MqttHandlers } from '@flops/messaging';
import { LearnerRole } from '../tasks/learner-role';

export const PROJECT_ID = Symbol('project-id');

@MqttHandlers()
export class AggregatorEventsHandler {
  constructor(
    private readonly runner: LearnerRole,
    @Inject(PROJECT_ID) private readonly projectId: string,
  ) {}

  @EventPattern(subscriptionFor(Topics.aggregatorReady))
  ready(@Message(Topics.aggregatorReady) msg: Envelope<AggregatorReady>): void {
    if (msg.projectId === this.projectId) this.runner.aggregatorReady();
  }

  @EventPattern(subscriptionFor(Topics.learnerTask))
  task(@Message(Topics.learnerTask) msg: Envelope<LearnerTask>): void {
    if (msg.projectId === this.projectId) this.runner.task(msg.payload);
  }
}
