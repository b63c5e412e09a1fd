import { Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import {
  FitInstructions,
  LearnerRefusalCount,
  LearnerTask,
  LearnerTaskKind,
  ModelMeta,
  RoundCompleted,
  RoundHistoryEntry,
  RoundPrivacy,
  SCAFFOLD_STEP_SIZE_SUM_KEY,
  StoredModel,
  StrategyChoice,
  TrainingCompleted,
  TrainingConfig,
  UpdateMeta,
  cleanMetrics,
  correctionUrl,
  modelUrl,
  strategyOf,
  uploadUrl,
  validatePayload,
} from '@flops/contracts';
import { AggregationEngine, EngineRound, InsufficientUpdatesError, KernelBuffer, RoundReport, UpdateRefusedError } from '@flops/fl-engine';
import { NamedTensor, TensorCodecError, decodeTensors, encodeTensors, tensorLayoutOf } from '@flops/tensor-codec';
import { weightedMean } from '../domain';
import { sampleLearners } from './sampling';
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
  private readonly strategy: StrategyChoice;
  /** The FL engine (strategy, update checks, central DP), created once the model's layout is known. */
  private engine?: AggregationEngine;
  /** The current global model as one flat vector (the engine's view of it). */
  private global?: Float32Array;
  private engineRound?: EngineRound;
  private refusedThisRound = 0;
  private fitResults: FitResult[] = [];
  private evalResults: { learnerId: string; weight: number; metrics: Record<string, number> }[] = [];
  /** The current global model, encoded once and served to every learner. */
  private model?: { version: string; bytes: Buffer };
  /** Base URL learners reach the data plane at; known once the HTTP server listens. */
  private dataUrl = '';

  constructor(
    private readonly settings: TrainingRunSettings,
    private readonly ports: TrainingPorts,
  ) {
    this.strategy = strategyOf(settings.config);
  }

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

  /**
   * A buffer in the fold kernel's memory to read a fit upload into (readInto): the update is then checked and
   * folded where it lies. Undefined before the engine exists (initial weights are read into a plain buffer).
   */
  uploadBuffer(byteLength: number): KernelBuffer | undefined {
    return this.engine?.kernel.buffer(byteLength);
  }

  /**
   * SCAFFOLD: the learner's correction c − c_i for the open fit task, as FLT1 bytes. Throws UpdateRejectedError
   * when the task is not open, not a fit task, or the learner was not asked.
   */
  correctionBytes(taskId: string, learnerId: string): Buffer {
    const task = this.task;
    if (!task || task.id !== taskId) throw new UpdateRejectedError('task-closed', `task ${taskId} is not open`);
    if (task.kind !== 'fit' || !task.selected.has(learnerId)) throw new UpdateRejectedError('not-selected', `${learnerId} has no correction for task ${taskId}`);
    const correction = this.engine?.correction(learnerId);
    if (!correction) throw new UpdateRejectedError('takes-no-uploads', `the strategy ${this.strategy.name} has no corrections`);
    return encodeTensors(correction, { ...this.modelMeta(task.round) });
  }

  /**
   * An upload from the data plane: initial weights (`init`) or an update (`fit`). A fit update that fails the
   * engine's checks (layout, finite values, sample count, norm bound, strategy) is refused with
   * `update-refused`, counted against the learner, and counts as its answer: the round does not wait for it.
   */
  receiveUpload(taskId: string, learnerId: string, bytes: Uint8Array): void {
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
      this.initialWeights(tensors);
    } else {
      const { numSamples, metrics, scaffoldStepSizeSum } = this.updateMeta(meta, learnerId, task.round);
      try {
        this.engineRound!.offer({
          learnerId,
          numSamples,
          tensors,
          metrics: cleanMetrics(metrics),
          meta: scaffoldStepSizeSum === undefined ? {} : { [SCAFFOLD_STEP_SIZE_SUM_KEY]: scaffoldStepSizeSum },
        });
      } catch (error) {
        if (!(error instanceof UpdateRefusedError)) throw error;
        this.refusedThisRound += 1;
        task.answered.add(learnerId);
        this.signal.notify();
        this.logger.warn(`round ${task.round}: refused the update of ${learnerId} (${error.reason}): ${error.message}`);
        throw new UpdateRejectedError('update-refused', `update refused (${error.reason}): ${error.message}`);
      }
      this.fitResults.push({ learnerId, numSamples, metrics: cleanMetrics(metrics) });
    }
    task.answered.add(learnerId);
    this.signal.notify();
  }

  /** The first model: its layout sets up the engine, and it must be usable (a valid layout, finite values). */
  private initialWeights(tensors: NamedTensor[]): void {
    const { config } = this.settings;
    let engine: AggregationEngine;
    let global: Float32Array;
    try {
      engine = new AggregationEngine({
        layout: tensorLayoutOf(tensors),
        strategy: this.strategy,
        learners: config.learners,
        guard: config.maxUpdateNorm === undefined ? {} : { maxUpdateNorm: config.maxUpdateNorm },
        ...(config.privacy?.centralDp ? { centralDp: config.privacy.centralDp } : {}),
      });
      global = engine.shape.flatten(tensors);
    } catch (error) {
      throw new UpdateRejectedError('invalid-update', `unusable initial weights: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (!Number.isFinite(engine.kernel.sumOfSquares(global))) throw new UpdateRejectedError('invalid-update', 'the initial weights have NaN or infinite values');
    this.engine = engine;
    this.global = global;
    this.model = { version: 'r0', bytes: encodeTensors(tensors, { ...this.modelMeta(0) }) };
  }

  stop(): void {
    this.abort.abort();
  }

  /**
   * The update's FLT1 metadata, checked against the contract: it must be about this learner and round. The
   * sample count is left to the engine's checks, so an absurd one is a counted refusal like any bad update.
   */
  private updateMeta(meta: Record<string, unknown>, learnerId: string, round: number): Omit<UpdateMeta, 'numSamples'> & { numSamples: number } {
    const { numSamples, ...rest } = meta;
    const { value, problems } = validatePayload(UpdateMeta, { ...rest, numSamples: 1 });
    if (!value) throw new UpdateRejectedError('invalid-update', `invalid update metadata: ${problems.map((p) => `meta.${p}`).join('; ')}`);
    if (value.learnerId !== undefined && value.learnerId !== learnerId) {
      throw new UpdateRejectedError('invalid-update', `the update is from ${value.learnerId}, not ${learnerId}`);
    }
    if (value.round !== undefined && value.round !== round) {
      throw new UpdateRejectedError('invalid-update', `the update is for round ${value.round}, not ${round}`);
    }
    return { ...value, numSamples: numSamples as number };
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
      const refusedBefore = this.engine!.refusals.total;
      const { fit, report } = await this.fitRound(round);
      const evaluation = await this.evaluateRound(round);
      evalMetrics = evaluation.metrics;
      const learnerMetrics = Object.fromEntries(this.evalResults.map((r) => [r.learnerId, { ...r.metrics }]));
      const privacy = privacyOf(report);
      const completed: RoundCompleted = {
        round,
        learners: fit.length,
        samples: fit.reduce((n, r) => n + r.numSamples, 0),
        trainMetrics: weightedMean(fit.map((r) => ({ weight: r.numSamples, metrics: r.metrics }))),
        evalMetrics,
        learnerMetrics,
        durationMs: Date.now() - started,
        evaluators: evaluation.evaluators,
        refused: this.engine!.refusals.total - refusedBefore,
        refusals: this.refusalCounts(),
        ...(privacy ? { privacy } : {}),
      };
      history.push({ ...completed, at: new Date().toISOString() });
      await this.ports.roundCompleted(completed);
      this.logger.log(`round ${round}/${config.rounds} done: ${JSON.stringify(evalMetrics)}${privacy ? `, ε ${privacy.epsilon?.toPrecision(4) ?? '∞'}` : ''}`);
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

  private async fitRound(round: number): Promise<{ fit: FitResult[]; report: RoundReport }> {
    const { config } = this.settings;
    this.fitResults = [];
    this.refusedThisRound = 0;
    // The round is open before the task goes out: an update can arrive as soon as the task is published.
    this.engineRound = this.engine!.beginRound(round, this.global!);
    const selected = sampleLearners([...this.joined], config.fractionFit ?? 1, config.minLearnersPerRound, config.seed, round);
    const task = await this.open('fit', round, selected, { modelUrl: true, uploadUrl: true, strategy: (id) => this.fitInstructions(id) });
    await this.signal.until(() => this.allAnswered(task), this.roundTimeoutMs(), this.abort.signal);
    const accepted = this.engineRound.count;
    if (accepted < config.minLearnersPerRound) {
      throw new TrainingFailedError(
        `round ${round}: ${accepted} update(s) accepted (${this.refusedThisRound} refused), ${config.minLearnersPerRound} required${this.droppedReasons()}`,
      );
    }
    this.dropSilent(task);
    let outcome;
    try {
      outcome = this.engineRound.finish();
    } catch (error) {
      if (error instanceof InsufficientUpdatesError) throw new TrainingFailedError(`round ${round}: ${error.message}`);
      throw error;
    }
    this.global = outcome.model;
    this.model = { version: `r${round}`, bytes: encodeTensors(outcome.tensors, { ...this.modelMeta(round) }) };
    return { fit: this.fitResults, report: outcome.report };
  }

  /** What the strategy asks of the learners' training (the same for every learner of a task). */
  private fitInstructions(taskId: string): FitInstructions | undefined {
    const hints = this.engine!.fitHints('');
    const instructions: FitInstructions = {
      ...(hints.proximalMu !== undefined ? { proximalMu: hints.proximalMu } : {}),
      ...(hints.scaffoldCorrection ? { scaffoldCorrectionUrl: correctionUrl(this.dataUrl, taskId) } : {}),
    };
    return Object.keys(instructions).length ? instructions : undefined;
  }

  private refusalCounts(): LearnerRefusalCount[] {
    return Object.entries(this.engine!.refusals.snapshot()).map(([learnerId, r]) => ({
      learnerId,
      total: r.total,
      byReason: { ...r.byReason },
      lastReason: r.last.reason,
      lastRound: r.last.round,
      lastMessage: r.last.message,
    }));
  }

  private async evaluateRound(round: number): Promise<{ metrics: Record<string, number>; evaluators: number }> {
    this.evalResults = [];
    const { config } = this.settings;
    const selected = sampleLearners([...this.joined], config.fractionEvaluate ?? 1, 1, config.seed + 1, round);
    const task = await this.open('evaluate', round, selected, { modelUrl: true });
    await this.signal.until(() => this.allAnswered(task), this.roundTimeoutMs(), this.abort.signal);
    if (this.evalResults.length === 0) throw new TrainingFailedError(`round ${round}: no learner evaluated the model${this.droppedReasons()}`);
    return { metrics: weightedMean(this.evalResults), evaluators: this.evalResults.length };
  }

  private async open(
    kind: LearnerTaskKind,
    round: number,
    learners: string[],
    urls: { modelUrl?: boolean; uploadUrl?: boolean; strategy?: (taskId: string) => FitInstructions | undefined },
  ): Promise<OpenTask> {
    const task: OpenTask = { id: randomUUID(), kind, round, selected: new Set(learners), answered: new Set() };
    this.task = task;
    const base = this.dataUrl;
    const strategy = urls.strategy?.(task.id);
    await this.ports.publishTask({
      taskId: task.id,
      kind,
      round,
      learnerIds: learners,
      ...(urls.modelUrl ? { modelUrl: modelUrl(base, this.model!.version) } : {}),
      ...(urls.uploadUrl ? { uploadUrl: uploadUrl(base, task.id) } : {}),
      hyperparameters: this.settings.config.hyperparameters,
      ...(strategy ? { strategy } : {}),
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

/** Central DP's figures from a round's report, when the engine ran it under central DP. */
function privacyOf(report: RoundReport): RoundPrivacy | undefined {
  const { epsilonTotal, epsilonRound, delta, clipNorm, noiseStddev } = report;
  if (typeof epsilonTotal !== 'number') return undefined;
  const finite = (value: unknown): number | null => (typeof value === 'number' && Number.isFinite(value) ? value : null);
  return { epsilon: finite(epsilonTotal), epsilonRound: finite(epsilonRound), delta: Number(delta), clipNorm: Number(clipNorm), noiseStddev: Number(noiseStddev) };
}
