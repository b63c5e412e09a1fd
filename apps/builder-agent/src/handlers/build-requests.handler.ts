import { Logger, OnApplicationBootstrap } from '@nestjs/common';
import { EventPattern } from '@nestjs/microservices';
import { setTimeout as sleep } from 'node:timers/promises';
import { BuildRequested, Envelope, MAX_REASON_LENGTH, Topics, injectedFault, sharedSubscriptionFor } from '@flops/contracts';
import { Message, MqttBus, MqttHandlers } from '@flops/messaging';
import { Metrics } from '@flops/service-kit';
import { BuildError } from '../build/build-errors';
import { BuildJournal } from '../build/build-journal';
import { BuildLog } from '../build/build-log';
import { ImageBuilder } from '../build/image-builder';

export const BUILDER_GROUP = process.env.FLOPS_BUILDER_GROUP || 'flops-builders';

/** A build the builder died in this often is failed rather than begun again (it may be what kills it). */
export const MAX_BUILD_ATTEMPTS = 3;

/**
 * One build per request; every outcome is reported, a failure never escapes as a crash. Each
 * request is journalled until answered, so a builder killed mid-build finishes it after a restart.
 */
@MqttHandlers()
export class BuildRequestsHandler implements OnApplicationBootstrap {
  private readonly logger = new Logger(BuildRequestsHandler.name);

  constructor(
    private readonly builder: ImageBuilder,
    private readonly bus: MqttBus,
    private readonly journal: BuildJournal,
    private readonly buildLog: BuildLog,
  ) {}

  /** Carry on with the builds an earlier run of this builder took and never answered. */
  onApplicationBootstrap(): void {
    const pending = this.journal.pending();
    if (pending.length) this.logger.log(`resuming ${pending.length} build(s) interrupted by a restart`);
    // Not awaited: the builder must come up (and take new requests) while these run.
    for (const { request } of pending) void this.build(request);
  }

  // Shared subscription: with several builders running, each request is built by one of them.
  @EventPattern(sharedSubscriptionFor(Topics.buildRequested, BUILDER_GROUP))
  async buildRequested(@Message(Topics.buildRequested) msg: Envelope<BuildRequested>): Promise<void> {
    await this.build(msg);
  }

  private async build(msg: Envelope<BuildRequested>): Promise<void> {
    const { projectId, messageId } = msg;
    const attempt = this.journal.begin(msg);
    this.logger.log(
      `${projectId}: build requested for ${msg.payload.repoUrl}${msg.payload.ref ? `@${msg.payload.ref}` : ''}${attempt > 1 ? ` (attempt ${attempt})` : ''}`,
    );
    const step = (line: string): void => void this.buildLog.append(projectId, line);
    try {
      if (attempt > MAX_BUILD_ATTEMPTS) {
        throw new BuildError('build', `the builder stopped ${attempt - 1} times during this build; giving up`);
      }
      const result = await this.builder.build(msg.payload, {
        started: async (image, sourceRevision, reason) => {
          await this.bus.publish(Topics.buildStarted, projectId, { image, sourceRevision, ...(reason ? { reason: reason.slice(0, MAX_REASON_LENGTH) } : {}) }, messageId);
          const delay = Number(injectedFault('builder-build-delay-ms') ?? 0); // crash tests only: a slow build
          if (delay > 0) await sleep(delay);
        },
        step,
      });
      step(`built ${result.image} (${result.digest})${result.cacheHit ? ', from the cache' : ''}`);
      Metrics.imageCache.inc({ result: result.cacheHit ? 'hit' : 'miss' });
      for (const [phase, ms] of [['fetch', result.durations.fetchMs], ['check', result.durations.checkMs], ['build', result.durations.buildMs], ['push', result.durations.pushMs]] as const) {
        Metrics.buildDuration.observe({ phase }, ms / 1000);
      }
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
    // Answered: only now may the request be forgotten (a failed publish leaves it for the next start).
    this.journal.done(messageId);
  }
}
