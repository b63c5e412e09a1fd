import { Logger } from '@nestjs/common';
import { EventPattern } from '@nestjs/microservices';
import { BuildRequested, Envelope, MAX_REASON_LENGTH, Topics, sharedSubscriptionFor } from '@flops/contracts';
import { Message, MqttBus, MqttHandlers } from '@flops/messaging';
import { BuildError } from '../build/build-errors';
import { BuildLog } from '../build/build-log';
import { ImageBuilder } from '../build/image-builder';

export const BUILDER_GROUP = process.env.FLOPS_BUILDER_GROUP || 'flops-builders';

/** One build per request; every outcome is reported, a failure never escapes as a crash. */
@MqttHandlers()
export class BuildRequestsHandler {
  private readonly logger = new Logger(BuildRequestsHandler.name);

  constructor(
    private readonly builder: ImageBuilder,
    private readonly bus: MqttBus,
    private readonly buildLog: BuildLog,
  ) {}

  // Shared subscription: with several builders running, each request is built by one of them.
  @EventPattern(sharedSubscriptionFor(Topics.buildRequested, BUILDER_GROUP))
  async buildRequested(@Message(Topics.buildRequested) msg: Envelope<BuildRequested>): Promise<void> {
    const { projectId, messageId } = msg;
    this.logger.log(`${projectId}: build requested for ${msg.payload.repoUrl}${msg.payload.ref ? `@${msg.payload.ref}` : ''}`);
    const step = (line: string): void => void this.buildLog.append(projectId, line);
    try {
      const result = await this.builder.build(msg.payload, {
        started: (image, sourceRevision, reason) =>
          this.bus.publish(Topics.buildStarted, projectId, { image, sourceRevision, ...(reason ? { reason: reason.slice(0, MAX_REASON_LENGTH) } : {}) }, messageId),
        step,
      });
      step(`built ${result.image} (${result.digest})${result.cacheHit ? ', from the cache' : ''}`);
      await this.bus.publish(Topics.buildSucceeded, projectId, result, messageId);
    } catch (error) {
      const failure =
        error instanceof BuildError
          ? { phase: error.phase, reason: error.message }
          : { phase: 'build' as const, reason: error instanceof Error ? error.message : String(error) };
      this.logger.warn(`${projectId}: build failed in ${failure.phase}: ${failure.reason}`);
      step(`build failed in ${failure.phase}: ${failure.reason}`);
      await this.bus.publish(Topics.buildFailed, projectId, { ...failure, reason: failure.reason.slice(0, MAX_REASON_LENGTH) || 'unknown error' }, messageId);
    }
  }
}
