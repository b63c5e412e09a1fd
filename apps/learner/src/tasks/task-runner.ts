import { Logger } from '@nestjs/common';
import { FitStrategyInputs, InitialWeightsMeta, LearnerTask, MAX_REASON_LENGTH, ModelManager, NamedTensorLike, UpdateMeta, cleanMetrics } from '@flops/contracts';
import { decodeTensors, encodeTensors } from '@flops/tensor-codec';
import { LearnerRole } from './learner-role';
import { DataPlaneClient, StaleTaskError, UpdateRefusedError } from './data-plane.client';

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
 * manager. A task that fails is reported and the learner goes on with the next one; a task the
 * aggregator has already moved past is only logged. With no task to do and no word from the
 * aggregator for the idle timeout, the learner reports that it leaves, and leaves.
 */
export class TaskRunner extends LearnerRole {
  private readonly logger = new Logger(TaskRunner.name);
  private queue: Promise<void> = Promise.resolve();
  private joinTimer?: NodeJS.Timeout;
  private idleTimer?: NodeJS.Timeout;
  private assigned = false;
  /** Tasks queued or running: the idle timer is off meanwhile (a fit may take longer than the timeout). */
  private busy = 0;
  private ended = false;

  constructor(
    private readonly learnerId: string,
    private readonly manager: ModelManager,
    private readonly dataPlane: DataPlaneClient,
    private readonly ports: LearnerPorts,
    private readonly timing: { joinRetryMs: number; idleTimeoutMs: number },
  ) {
    super();
  }

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
    this.busy++;
    this.touch();
    this.queue = this.queue
      .then(() => this.perform(task))
      .finally(() => {
        this.busy--;
        this.touch(); // the idle time counts from the end of our last task
      });
  }

  close(): void {
    this.ended = true;
    this.stopJoining();
    if (this.idleTimer) clearTimeout(this.idleTimer);
  }

  private async perform(task: LearnerTask): Promise<void> {
    const started = Date.now();
    try {
      switch (task.kind) {
        case 'init': {
          const weights = await this.manager.getWeights();
          const meta: InitialWeightsMeta = { learnerId: this.learnerId };
          await this.dataPlane.upload(required(task.uploadUrl, 'uploadUrl'), encodeTensors(weights, { ...meta }));
          break;
        }
        case 'fit': {
          const global = await this.loadModel(required(task.modelUrl, 'modelUrl'));
          const strategy = await this.strategyInputs(task, global);
          const { numSamples, metrics, scaffoldStepSizeSum } = await this.manager.fit({
            round: task.round,
            hyperparameters: task.hyperparameters ?? {},
            ...(strategy ? { strategy } : {}),
          });
          if (strategy?.scaffoldCorrection && !(typeof scaffoldStepSizeSum === 'number' && Number.isFinite(scaffoldStepSizeSum) && scaffoldStepSizeSum > 0)) {
            throw new Error(`the strategy is SCAFFOLD: fit() must return scaffoldStepSizeSum, the sum of its local learning rates (> 0), got ${String(scaffoldStepSizeSum)}`);
          }
          const weights = await this.manager.getWeights();
          const meta: UpdateMeta = {
            learnerId: this.learnerId,
            round: task.round,
            numSamples,
            metrics: this.wireMetrics('fit', metrics),
            ...(strategy?.scaffoldCorrection ? { scaffoldStepSizeSum } : {}),
          };
          const update = encodeTensors(weights, { ...meta });
          await this.dataPlane.upload(required(task.uploadUrl, 'uploadUrl'), update);
          break;
        }
        case 'evaluate': {
          await this.loadModel(required(task.modelUrl, 'modelUrl'));
          const { numSamples, ...metrics } = await this.manager.evaluate();
          await this.ports.evaluated(task.taskId, task.round, numSamples, this.wireMetrics('evaluate', metrics));
          break;
        }
        case 'stop':
          this.finish('the aggregator ended training');
          return;
      }
      this.logger.log(`${task.kind} round ${task.round} done in ${Date.now() - started} ms`);
    } catch (error) {
      if (error instanceof UpdateRefusedError) {
        // Counted by the aggregator, which goes on without this update: the learner stays in.
        this.logger.warn(`${task.kind} round ${task.round}: ${error.message}`);
        return;
      }
      if (error instanceof StaleTaskError) {
        this.logger.warn(`${task.kind} round ${task.round}: the aggregator has moved on (${error.message})`);
        return;
      }
      const reason = error instanceof Error ? error.message : String(error);
      this.logger.error(`${task.kind} round ${task.round} failed: ${reason}`);
      await this.ports.failed(task.taskId, reason.slice(0, MAX_REASON_LENGTH)).catch(() => undefined);
    }
  }

  /** Loads the task's model into the user's code; returns it (read only: a view of the cached download). */
  private async loadModel(url: string): Promise<NamedTensorLike[]> {
    const { tensors } = decodeTensors(await this.dataPlane.download(url));
    await this.manager.setWeights(tensors);
    return tensors;
  }

  /** The strategy's part of a fit: FedProx's μ and the global model, SCAFFOLD's correction c − c_i. */
  private async strategyInputs(task: LearnerTask, global: NamedTensorLike[]): Promise<FitStrategyInputs | undefined> {
    const { proximalMu, scaffoldCorrectionUrl } = task.strategy ?? {};
    if (proximalMu === undefined && scaffoldCorrectionUrl === undefined) return undefined;
    return {
      ...(proximalMu !== undefined ? { proximalMu, globalWeights: global } : {}),
      ...(scaffoldCorrectionUrl !== undefined ? { scaffoldCorrection: decodeTensors(await this.dataPlane.downloadOwn(scaffoldCorrectionUrl)).tensors } : {}),
    };
  }

  private stopJoining(): void {
    if (this.joinTimer) clearInterval(this.joinTimer);
    this.joinTimer = undefined;
  }

  /**
   * Only metrics the wire takes (finite numbers with valid names): one bad value from the user's
   * code would otherwise make the message invalid and the learner be dropped. The rest are logged.
   */
  private wireMetrics(kind: string, metrics: unknown): Record<string, number> {
    const clean = cleanMetrics(metrics);
    const dropped = typeof metrics === 'object' && metrics !== null ? Object.keys(metrics).filter((name) => !Object.hasOwn(clean, name)) : [];
    if (dropped.length) this.logger.warn(`${kind}: dropped metrics that are not finite numbers with valid names: ${dropped.join(', ')}`);
    return clean;
  }

  private finish(reason: string): void {
    this.ended = true;
    this.ports.finished(reason);
  }

  /** (Re)starts the idle timer, unless a task is queued or running or the learner is done. */
  private touch(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    if (this.busy > 0 || this.ended) return;
    this.idleTimer = setTimeout(() => void this.leaveIdle(), this.timing.idleTimeoutMs);
    this.idleTimer.unref();
  }

  /** The aggregator seems gone: say so (it may just be slow, then it stops waiting for us), then leave. */
  private async leaveIdle(): Promise<void> {
    const reason = `no word from the aggregator for ${this.timing.idleTimeoutMs / 1000} s`;
    this.ended = true;
    this.logger.warn(`${reason}; leaving`);
    await this.ports.failed(undefined, reason).catch((e) => this.logger.warn(`could not report leaving: ${String(e)}`));
    this.finish(reason);
  }
}

function required(value: string | undefined, name: string): string {
  if (!value) throw new Error(`task has no ${name}`);
  return value;
}
