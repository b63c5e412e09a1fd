import { Logger } from '@nestjs/common';
import { LearnerTask, ModelManager } from '@flops/contracts';
import { decodeTensors, encodeTensors } from '@flops/tensor-codec';
import { DataPlaneClient } from './data-plane.client';

/** What the runner needs besides the user's model manager. */
export interface LearnerPorts {
  join(): Promise<void>;
  evaluated(taskId: string, round: number, numSamples: number, metrics: Record<string, number>): Promise<void>;
  failed(taskId: string | undefined, reason: string): Promise<void>;
  /** Called once a `stop` task arrives or the learner gave up; the process then ends. */
  finished(reason: string): void;
}

/**
 * Carries out the aggregator's tasks one at a time, in arrival order, with the user's model
 * manager. A task that fails is reported and the learner goes on with the next one.
 */
export class TaskRunner {
  private readonly logger = new Logger(TaskRunner.name);
  private queue: Promise<void> = Promise.resolve();
  private joinTimer?: NodeJS.Timeout;
  private idleTimer?: NodeJS.Timeout;
  private assigned = false;

  constructor(
    private readonly learnerId: string,
    private readonly manager: ModelManager,
    private readonly dataPlane: DataPlaneClient,
    private readonly ports: LearnerPorts,
    private readonly timing: { joinRetryMs: number; idleTimeoutMs: number },
  ) {}

  /** The aggregator is up: join, and repeat the join until it hands us work. */
  aggregatorReady(): void {
    this.touch();
    if (this.joinTimer) return;
    const join = (): void => void this.ports.join().catch((e) => this.logger.warn(`join failed: ${String(e)}`));
    join();
    this.joinTimer = setInterval(() => (this.assigned ? this.stopJoining() : join()), this.timing.joinRetryMs);
  }

  task(task: LearnerTask): void {
    if (!task.learnerIds.includes(this.learnerId)) return;
    this.assigned = true;
    this.stopJoining();
    this.touch();
    this.queue = this.queue.then(() => this.perform(task));
  }

  /** Resolves when the queued tasks are done (for tests and shutdown). */
  drained(): Promise<void> {
    return this.queue;
  }

  close(): void {
    this.stopJoining();
    if (this.idleTimer) clearTimeout(this.idleTimer);
  }

  private async perform(task: LearnerTask): Promise<void> {
    const started = Date.now();
    try {
      switch (task.kind) {
        case 'init': {
          const weights = await this.manager.getWeights();
          await this.dataPlane.upload(required(task.uploadUrl, 'uploadUrl'), encodeTensors(weights, { learnerId: this.learnerId }));
          break;
        }
        case 'fit': {
          await this.loadModel(required(task.modelUrl, 'modelUrl'));
          const { numSamples, metrics } = await this.manager.fit({ round: task.round, hyperparameters: task.hyperparameters ?? {} });
          const weights = await this.manager.getWeights();
          const update = encodeTensors(weights, { learnerId: this.learnerId, round: task.round, numSamples, metrics });
          await this.dataPlane.upload(required(task.uploadUrl, 'uploadUrl'), update);
          break;
        }
        case 'evaluate': {
          await this.loadModel(required(task.modelUrl, 'modelUrl'));
          const { numSamples, ...metrics } = await this.manager.evaluate();
          await this.ports.evaluated(task.taskId, task.round, numSamples, metrics);
          break;
        }
        case 'stop':
          this.ports.finished('the aggregator ended training');
          return;
      }
      this.logger.log(`${task.kind} round ${task.round} done in ${Date.now() - started} ms`);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      this.logger.error(`${task.kind} round ${task.round} failed: ${reason}`);
      await this.ports.failed(task.taskId, reason.slice(0, 4000)).catch(() => undefined);
    }
  }

  private async loadModel(url: string): Promise<void> {
    const { tensors } = decodeTensors(await this.dataPlane.download(url));
    await this.manager.setWeights(tensors);
  }

  private stopJoining(): void {
    if (this.joinTimer) clearInterval(this.joinTimer);
    this.joinTimer = undefined;
  }

  private touch(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.ports.finished('no word from the aggregator for too long'), this.timing.idleTimeoutMs);
    this.idleTimer.unref();
  }
}

function required(value: string | undefined, name: string): string {
  if (!value) throw new Error(`task has no ${name}`);
  return value;
}
