import { Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import {
  LearnerTask,
  LearnerTaskKind,
  ModelMeta,
  RoundCompleted,
  RoundHistoryEntry,
  StoredModel,
  TrainingCompleted,
  TrainingConfig,
  UpdateMeta,
  cleanMetrics,
  modelUrl,
  uploadUrl,
  validatePayload,
} from '@flops/contracts';
import { NamedTensor, TensorCodecError, decodeTensors, encodeTensors, sameLayout, tensorLayoutOf, TensorLayout } from '@flops/tensor-codec';
import { AggregationError, WeightedAverage, weightedMean } from '../domain';
import { Signal, TrainingAbortedError } from './wait';
import { TrainingFailedError, UpdateRejectedError } from './training-errors';

/** What the round loop needs from the outside world. */
export interface TrainingPorts {
  publishTask(task: LearnerTask): Promise<void>;
  trainingStarted(learners: string[]): Promise<void>;
  roundCompleted(round: RoundCompleted): Promise<void>;
  trainingCompleted(result: TrainingCompleted): Promise<void>;
  trainingFailed(reason: string): Promise<void>;
  /** Stores the final model together with the history of every round (the artifact outlives any message). */
  storeModel(model: Buffer, info: StoredModelInfo): Promise<StoredModel>;
}

export interface StoredModelInfo {
  rounds: number;
  finalMetrics: Record<string, number>;
  history: RoundHistoryEntry[];
}

export interface TrainingRunSettings {
  projectId: string;
  config: TrainingConfig;
  joinTimeoutMs: number;
}

interface OpenTask {
  id: string;
  kind: LearnerTaskKind;
  round: number;
  selected: Set<string>;
  answered: Set<string>;
}

/** Room for an update's header and meta (numSamples, metrics) beyond the model's own encoded size. */
const UPLOAD_HEADER_MARGIN_BYTES = 64 * 1024;

interface FitResult {
  learnerId: string;
  numSamples: number;
  metrics: Record<string, number>;
}

/**
 * One project's federated training: waits for learners, gets initial weights from one of them,
 * then for each round sends the global model out, folds each update into a running weighted sum
 * as it arrives (memory stays O(model size)), has the new model evaluated, and finally stores it.
 */
export class TrainingRun {
  private readonly logger = new Logger(TrainingRun.name);
  private readonly signal = new Signal();
  private readonly abort = new AbortController();
  private readonly joined = new Set<string>();
  /** Learners that failed or went silent, with why: they are not asked again, and failures cite them. */
  private readonly dropped = new Map<string, string>();
  private task?: OpenTask;
  private layout?: TensorLayout;
  private sum?: WeightedAverage;
  private fitResults: FitResult[] = [];
  private evalResults: { learnerId: string; weight: number; metrics: Record<string, number> }[] = [];
  /** The current global model, encoded once and served to every learner. */
  private model?: { version: string; bytes: Buffer };
  /** Base URL learners reach the data plane at; known once the HTTP server listens. */
  private dataUrl = '';

  constructor(
    private readonly settings: TrainingRunSettings,
    private readonly ports: TrainingPorts,
  ) {}

  // ---- inputs -------------------------------------------------------------------------------

  learnerJoined(learnerId: string): void {
    if (this.dropped.has(learnerId) || this.joined.has(learnerId)) return;
    this.joined.add(learnerId);
    this.logger.log(`${learnerId} joined (${this.joined.size}/${this.settings.config.learners})`);
    this.signal.notify();
  }

  /**
   * A learner gave up: it is not asked again. A failure of a task that is no longer open is stale
   * (the learner may be doing the current one fine) and is ignored; one without a task (last will,
   * user code not loadable, idle exit) always counts.
   */
  learnerFailed(learnerId: string, taskId: string | undefined, reason: string): void {
    if (taskId !== undefined && taskId !== this.task?.id) {
      return this.logger.debug(`stale failure of task ${taskId} from ${learnerId}: ${reason}`);
    }
    this.logger.warn(`${learnerId} failed${taskId ? ` task ${taskId}` : ''}: ${reason}`);
    this.joined.delete(learnerId);
    if (!this.dropped.has(learnerId)) this.dropped.set(learnerId, reason);
    this.task?.selected.delete(learnerId);
    this.signal.notify();
  }

  learnerEvaluated(taskId: string, learnerId: string, numSamples: number, metrics: Record<string, number>): void {
    const task = this.task;
    if (!task || task.id !== taskId || task.kind !== 'evaluate') return this.logger.debug(`stale evaluation from ${learnerId}`);
    if (!task.selected.has(learnerId) || task.answered.has(learnerId)) return;
    task.answered.add(learnerId);
    this.evalResults.push({ learnerId, weight: numSamples, metrics });
    this.signal.notify();
  }

  /** The model learners download; only the current version is kept. */
  modelBytes(version: string): Buffer {
    if (!this.model || this.model.version !== version) {
      throw new UpdateRejectedError('model-not-current', `model ${version} is not the current model (${this.model?.version ?? 'none yet'})`);
    }
    return this.model.bytes;
  }

  /**
   * Whether an upload can be accepted at all, checked before its body is read: throws the
   * UpdateRejectedError `receiveUpload` would. Returns the most bytes an update can have when that
   * is known (a fit update is the current model plus its meta), undefined for initial weights.
   */
  checkUpload(taskId: string, learnerId: string): number | undefined {
    const task = this.task;
    if (!task || task.id !== taskId) throw new UpdateRejectedError('task-closed', `task ${taskId} is not open`);
    if (task.kind !== 'init' && task.kind !== 'fit') throw new UpdateRejectedError('takes-no-uploads', `task ${taskId} takes no uploads`);
    if (!task.selected.has(learnerId)) throw new UpdateRejectedError('not-selected', `${learnerId} was not selected for task ${taskId}`);
    if (task.answered.has(learnerId)) throw new UpdateRejectedError('already-answered', `${learnerId} already answered task ${taskId}`);
    return task.kind === 'fit' && this.model ? this.model.bytes.length + UPLOAD_HEADER_MARGIN_BYTES : undefined;
  }

  /** An upload from the data plane: initial weights (`init`) or an update (`fit`). */
  receiveUpload(taskId: string, learnerId: string, bytes: Buffer): void {
    this.checkUpload(taskId, learnerId);
    const task = this.task!;
    let tensors: NamedTensor[];
    let meta: Record<string, unknown>;
    try {
      ({ tensors, meta } = decodeTensors(bytes));
    } catch (error) {
      throw new UpdateRejectedError('invalid-update', error instanceof TensorCodecError ? error.message : String(error));
    }
    if (task.kind === 'init') {
      const sum = new WeightedAverage(tensorLayoutOf(tensors));
      try {
        sum.add(tensors, 1); // the checks every update gets: a usable layout, no NaN or Infinity
      } catch (error) {
        throw new UpdateRejectedError('invalid-update', error instanceof AggregationError ? error.message : String(error));
      }
      sum.reset();
      this.layout = sum.layout;
      this.sum = sum;
      this.model = { version: 'r0', bytes: encodeTensors(tensors, { ...this.modelMeta(0) }) };
    } else {
      const { numSamples, metrics } = this.updateMeta(meta, learnerId, task.round);
      if (!this.layout || !sameLayout(this.layout, tensorLayoutOf(tensors))) {
        throw new UpdateRejectedError('invalid-update', 'the update does not have the layout of the global model');
      }
      try {
        this.sum!.add(tensors, numSamples);
      } catch (error) {
        throw new UpdateRejectedError('invalid-update', error instanceof AggregationError ? error.message : String(error));
      }
      this.fitResults.push({ learnerId, numSamples, metrics: cleanMetrics(metrics) });
    }
    task.answered.add(learnerId);
    this.signal.notify();
  }

  stop(): void {
    this.abort.abort();
  }

  /** The update's FLT1 metadata, checked against the contract: it must be about this learner and round. */
  private updateMeta(meta: Record<string, unknown>, learnerId: string, round: number): UpdateMeta {
    const { value, problems } = validatePayload(UpdateMeta, meta);
    if (!value) throw new UpdateRejectedError('invalid-update', `invalid update metadata: ${problems.map((p) => `meta.${p}`).join('; ')}`);
    if (value.learnerId !== undefined && value.learnerId !== learnerId) {
      throw new UpdateRejectedError('invalid-update', `the update is from ${value.learnerId}, not ${learnerId}`);
    }
    if (value.round !== undefined && value.round !== round) {
      throw new UpdateRejectedError('invalid-update', `the update is for round ${value.round}, not ${round}`);
    }
    return value;
  }

  private modelMeta(round: number): ModelMeta {
    return { projectId: this.settings.projectId, round };
  }

  // ---- the loop -----------------------------------------------------------------------------

  /**
   * Runs to the end and reports success or failure itself. Resolves whether the outcome is
   * accounted for: completed, failure reported, or aborted by stop() (whoever stopped us knows);
   * false only when a failure could not be reported, so the process can say so by its exit code.
   */
  async run(dataUrl: string): Promise<boolean> {
    this.dataUrl = dataUrl;
    try {
      await this.train();
      return true;
    } catch (error) {
      if (error instanceof TrainingAbortedError) {
        this.logger.warn('training aborted');
        return true;
      }
      const reason = error instanceof Error ? error.message : String(error);
      this.logger.error(`training failed: ${reason}`);
      try {
        await this.ports.trainingFailed(reason);
        return true;
      } catch (e) {
        this.logger.error(`could not report the failure: ${String(e)}`);
        return false;
      }
    } finally {
      await this.ports
        .publishTask({ taskId: randomUUID(), kind: 'stop', round: 0, learnerIds: [...this.joined, ...this.dropped.keys()] })
        .catch(() => undefined);
    }
  }

  private async train(): Promise<void> {
    const { config } = this.settings;
    const all = config.learners;
    // Every learner has either joined or failed, or the join timeout passed.
    await this.signal.until(() => this.joined.size + this.dropped.size >= all, this.settings.joinTimeoutMs, this.abort.signal);
    if (this.joined.size < config.minLearnersPerRound) {
      throw new TrainingFailedError(
        `only ${this.joined.size} of ${config.minLearnersPerRound} required learners joined${this.droppedReasons()}`,
      );
    }
    await this.ports.trainingStarted([...this.joined].sort());
    await this.initialise();

    let evalMetrics: Record<string, number> = {};
    const history: RoundHistoryEntry[] = [];
    for (let round = 1; round <= config.rounds; round++) {
      const started = Date.now();
      const fit = await this.fitRound(round);
      evalMetrics = await this.evaluateRound(round);
      const learnerMetrics = Object.fromEntries(this.evalResults.map((r) => [r.learnerId, { ...r.metrics }]));
      const completed: RoundCompleted = {
        round,
        learners: fit.length,
        samples: fit.reduce((n, r) => n + r.numSamples, 0),
        trainMetrics: weightedMean(fit.map((r) => ({ weight: r.numSamples, metrics: r.metrics }))),
        evalMetrics,
        learnerMetrics,
        durationMs: Date.now() - started,
      };
      history.push({ ...completed, at: new Date().toISOString() });
      await this.ports.roundCompleted(completed);
      this.logger.log(`round ${round}/${config.rounds} done: ${JSON.stringify(evalMetrics)}`);
    }
    const stored = await this.ports.storeModel(this.model!.bytes, { rounds: config.rounds, finalMetrics: evalMetrics, history });
    await this.ports.trainingCompleted({ rounds: config.rounds, finalMetrics: evalMetrics, model: stored });
  }

  /** Initial weights come from one learner, so that every learner starts from the same model. */
  private async initialise(): Promise<void> {
    for (const learnerId of [...this.joined].sort()) {
      if (!this.joined.has(learnerId)) continue; // dropped while an earlier one was asked
      const task = await this.open('init', 0, [learnerId], { uploadUrl: true });
      await this.signal.until(() => this.allAnswered(task), this.roundTimeoutMs(), this.abort.signal);
      if (task.answered.has(learnerId)) return;
      // A slow learner may still be fine for training rounds: ask the next one, drop nobody.
      this.logger.warn(`${learnerId} sent no initial weights in time; asking another learner`);
    }
    throw new TrainingFailedError(`no learner sent initial weights${this.droppedReasons()}`);
  }

  private async fitRound(round: number): Promise<FitResult[]> {
    this.sum!.reset();
    this.fitResults = [];
    const task = await this.open('fit', round, [...this.joined], { modelUrl: true, uploadUrl: true });
    await this.signal.until(() => this.allAnswered(task), this.roundTimeoutMs(), this.abort.signal);
    if (this.sum!.count < this.settings.config.minLearnersPerRound) {
      throw new TrainingFailedError(
        `round ${round}: ${this.sum!.count} update(s) arrived, ${this.settings.config.minLearnersPerRound} required${this.droppedReasons()}`,
      );
    }
    this.dropSilent(task);
    this.model = {
      version: `r${round}`,
      bytes: encodeTensors(this.sum!.result(), { ...this.modelMeta(round) }),
    };
    return this.fitResults;
  }

  private async evaluateRound(round: number): Promise<Record<string, number>> {
    this.evalResults = [];
    const task = await this.open('evaluate', round, [...this.joined], { modelUrl: true });
    await this.signal.until(() => this.allAnswered(task), this.roundTimeoutMs(), this.abort.signal);
    if (this.evalResults.length === 0) throw new TrainingFailedError(`round ${round}: no learner evaluated the model${this.droppedReasons()}`);
    return weightedMean(this.evalResults);
  }

  private async open(kind: LearnerTaskKind, round: number, learners: string[], urls: { modelUrl?: boolean; uploadUrl?: boolean }): Promise<OpenTask> {
    const task: OpenTask = { id: randomUUID(), kind, round, selected: new Set(learners), answered: new Set() };
    this.task = task;
    const base = this.dataUrl;
    await this.ports.publishTask({
      taskId: task.id,
      kind,
      round,
      learnerIds: learners,
      ...(urls.modelUrl ? { modelUrl: modelUrl(base, this.model!.version) } : {}),
      ...(urls.uploadUrl ? { uploadUrl: uploadUrl(base, task.id) } : {}),
      hyperparameters: this.settings.config.hyperparameters,
    });
    return task;
  }

  /** `; learner-1: <why>, …` so a failure names what went wrong on the learners. */
  private droppedReasons(): string {
    if (this.dropped.size === 0) return '';
    return `; ${[...this.dropped].map(([id, why]) => `${id}: ${why}`).join('; ')}`;
  }

  private allAnswered(task: OpenTask): boolean {
    return [...task.selected].every((id) => task.answered.has(id));
  }

  /** Learners that missed a round's deadline are not waited for again. */
  private dropSilent(task: OpenTask): void {
    for (const id of task.selected) {
      if (!task.answered.has(id)) this.learnerFailed(id, task.id, 'no answer before the round timeout');
    }
  }

  private roundTimeoutMs(): number {
    return this.settings.config.roundTimeoutSeconds * 1000;
  }
}
