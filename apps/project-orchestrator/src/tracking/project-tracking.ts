import { Logger } from '@nestjs/common';
import { ProjectState, isTerminal } from '@flops/lifecycle';
import { withProject } from '@flops/messaging';
import { ProjectRecord, ProjectStore, TrackingRecord, TrackingStore } from '@flops/models';
import { RegistryClient, parseImageReference, pullArtifact } from '@flops/oci-registry';
import { Metrics } from '@flops/service-kit';
import { ExperimentTracker, RunRef, RunStatus, TrackedMetric } from './experiment-tracker';

const RUN_STATUS: Partial<Record<ProjectState, RunStatus>> = {
  [ProjectState.COMPLETED]: 'FINISHED',
  [ProjectState.FAILED]: 'FAILED',
  [ProjectState.CANCELLED]: 'KILLED',
};

/** Where the model goes among the run's artifacts (and what the registered version points at). */
export const MODEL_ARTIFACT_DIR = 'model';
export const MODEL_FILE = 'model.flt';

export interface TrackingOptions {
  /** Backoff after a failed sync: doubles per attempt from `retryMs`, capped at `maxRetryMs`. */
  retryMs: number;
  maxRetryMs: number;
}

/**
 * Brings each project's run in the experiment tracker up to date with the project record: run
 * with params and tags, one metric step per round, the final model as an artifact and a
 * registered model version, the run's end. Never in the way of training: every failure is
 * logged, remembered in the tracking outbox (TrackingStore) and retried with backoff by
 * `retryDue`, also after a restart; each step is idempotent, so a retry repeats nothing.
 */
export class ProjectTracking {
  private readonly logger = new Logger(ProjectTracking.name);
  /** One sync per project at a time; a change arriving meanwhile asks for one more. */
  private readonly running = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();

  constructor(
    private readonly tracker: ExperimentTracker,
    private readonly outbox: TrackingStore,
    private readonly projects: ProjectStore,
    private readonly registry: RegistryClient,
    private readonly options: TrackingOptions,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /**
   * The project changed: remember that the tracker is owed an update, then try to deliver it.
   * Never throws and never waits for the tracker: the caller is the lifecycle.
   */
  changed(project: ProjectRecord): void {
    void this.outbox
      .markPending(project._id, this.now())
      .then(() => this.sync(project._id))
      .catch((error: unknown) => this.logger.warn(`${project._id}: tracking not recorded: ${message(error)}`));
  }

  /** Retry every project whose tracking is owed and due (the sweeper calls this). */
  async retryDue(): Promise<void> {
    for (const record of await this.outbox.due(this.now())) await this.sync(record._id);
  }

  /** Sync one project now, after any sync of it already running. Resolves when done (or failed and scheduled). */
  sync(projectId: string): Promise<void> {
    const current = this.running.get(projectId);
    if (current) {
      this.again.add(projectId);
      return current;
    }
    const run = withProject(projectId, () => this.syncLoop(projectId)).finally(() => this.running.delete(projectId));
    this.running.set(projectId, run);
    return run;
  }

  private async syncLoop(projectId: string): Promise<void> {
    do {
      this.again.delete(projectId);
      await this.syncOnce(projectId);
    } while (this.again.has(projectId));
  }

  private async syncOnce(projectId: string): Promise<void> {
    const startedAt = this.now();
    let cursor: TrackingRecord | null = null;
    try {
      cursor = await this.outbox.get(projectId);
      const project = await this.projects.get(projectId);
      if (!cursor || !project) return;
      await this.deliver(project, cursor);
      await this.outbox.done(projectId, startedAt);
    } catch (error) {
      Metrics.trackingFailures.inc();
      const attempts = (cursor?.attempts ?? 0) + 1;
      const delay = Math.min(this.options.maxRetryMs, this.options.retryMs * 2 ** Math.min(attempts - 1, 20));
      this.logger.warn(`${projectId}: tracking failed (attempt ${attempts}, retry in ${Math.round(delay / 1000)} s): ${message(error)}`);
      await this.outbox.failed(projectId, message(error).slice(0, 1000), new Date(this.now().getTime() + delay)).catch(() => undefined);
    }
  }

  /** Everything the record says that the tracker has not been told yet, in order. */
  private async deliver(project: ProjectRecord, cursor: TrackingRecord): Promise<void> {
    const id = project._id;
    const run: RunRef =
      cursor.runId && cursor.experimentId && cursor.runUrl
        ? { experimentId: cursor.experimentId, runId: cursor.runId, artifactUri: cursor.artifactUri ?? '' }
        : await this.startRun(project);
    if (!cursor.paramsLogged) {
      await this.tracker.logParams(run, trainingParams(project));
      await this.outbox.progress(id, { paramsLogged: true });
    }
    if (project.image && !cursor.imageLogged) {
      await this.tracker.logParams(run, { 'image.digest': project.image.digest, 'image.reference': project.image.reference });
      await this.tracker.setTags(run, { 'flops.revision': project.image.sourceRevision, 'flops.image_cache_hit': String(project.image.cacheHit) });
      await this.outbox.progress(id, { imageLogged: true });
    }
    const newRounds = project.rounds.filter((r) => r.round > cursor.roundsLogged).sort((a, b) => a.round - b.round);
    if (newRounds.length) {
      await this.tracker.logMetrics(run, newRounds.flatMap(roundMetrics));
      await this.outbox.progress(id, { roundsLogged: newRounds[newRounds.length - 1].round });
    }
    if (project.model && project.state === ProjectState.COMPLETED && !cursor.modelVersion) {
      const bytes = await this.modelBytes(project.model.reference);
      await this.tracker.logArtifact(run, `${MODEL_ARTIFACT_DIR}/${MODEL_FILE}`, bytes);
      if (project.finalMetrics) {
        const at = project.history[project.history.length - 1]?.at ?? project.updatedAt;
        const step = project.rounds.length ? Math.max(...project.rounds.map((r) => r.round)) : 0;
        await this.tracker.logMetrics(run, metricsOf('final', project.finalMetrics, step, new Date(at).getTime()));
      }
      const version = await this.tracker.registerModel(run, registeredModelName(project), MODEL_ARTIFACT_DIR, `FLOps project ${id}: ${project.model.reference}`);
      await this.outbox.progress(id, { modelVersion: version });
    }
    const status = RUN_STATUS[project.state];
    if (status && isTerminal(project.state) && cursor.endedStatus !== status) {
      if (project.failure) await this.tracker.setTags(run, { 'flops.failure': `${project.failure.stage}: ${project.failure.reason}`.slice(0, 5000) });
      const end = project.history[project.history.length - 1]?.at ?? project.updatedAt;
      await this.tracker.endRun(run, status, new Date(end).getTime());
      await this.outbox.progress(id, { endedStatus: status });
    }
  }

  private async startRun(project: ProjectRecord): Promise<RunRef> {
    const run = await this.tracker.ensureRun(project.name, project._id, project._id, new Date(project.createdAt).getTime(), {
      'flops.repo': project.repo.url,
      ...(project.repo.ref ? { 'flops.ref': project.repo.ref } : {}),
      'flops.strategy': project.training.strategy,
    });
    await this.outbox.progress(project._id, {
      experimentId: run.experimentId,
      runId: run.runId,
      artifactUri: run.artifactUri,
      runUrl: this.tracker.runUrl(run),
    });
    this.logger.log(`${project._id}: tracked as run ${run.runId} of experiment ${project.name} (${this.tracker.runUrl(run)})`);
    return run;
  }

  /** The model's bytes from the registry: the one payload blob of the model artifact. */
  private async modelBytes(reference: string): Promise<Buffer> {
    const ref = parseImageReference(reference);
    const artifact = await pullArtifact(this.registry, ref.repository, ref.digest ?? ref.tag ?? 'latest');
    if (artifact.blobs.length !== 1) throw new Error(`model artifact ${reference} has ${artifact.blobs.length} payload blobs, expected 1`);
    return artifact.blobs[0];
  }
}

/** The model registry's name for a project's models: one registered model per project name. */
export function registeredModelName(project: Pick<ProjectRecord, 'name'>): string {
  return `flops-${project.name}`;
}

/** The training configuration and resources as flat params (`training.rounds`, `training.hyperparameters.epochs`, …). */
export function trainingParams(project: Pick<ProjectRecord, 'training' | 'resources'>): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (value: unknown, key: string): void => {
    if (value === undefined || value === null) return;
    if (Array.isArray(value)) out[key] = JSON.stringify(value);
    else if (typeof value === 'object') for (const [k, v] of Object.entries(value as Record<string, unknown>)) walk(v, `${key}.${k}`);
    else out[key] = typeof value === 'string' ? value : JSON.stringify(value);
  };
  walk(project.training, 'training');
  walk(project.resources ?? {}, 'resources');
  return out;
}

/** One round as metrics at step = round: global train/eval means, round facts (refusals, privacy spent), per learner where known. */
export function roundMetrics(round: ProjectRecord['rounds'][number]): TrackedMetric[] {
  const t = new Date(round.at).getTime();
  const metrics = [
    ...metricsOf('train', round.trainMetrics, round.round, t),
    ...metricsOf('eval', round.evalMetrics, round.round, t),
    { key: 'round/duration_seconds', value: round.durationMs / 1000, step: round.round, timestamp: t },
    { key: 'round/learners', value: round.learners, step: round.round, timestamp: t },
    { key: 'round/samples', value: round.samples, step: round.round, timestamp: t },
  ];
  const optional: [string, number | null | undefined][] = [
    ['round/evaluators', round.evaluators],
    ['round/refused', round.refused],
    ['privacy/epsilon', round.privacy?.epsilon],
    ['privacy/clip_norm', round.privacy?.clipNorm],
    ['privacy/noise_stddev', round.privacy?.noiseStddev],
  ];
  for (const [key, value] of optional) if (typeof value === 'number' && Number.isFinite(value)) metrics.push({ key, value, step: round.round, timestamp: t });
  for (const [learner, m] of Object.entries(round.learnerMetrics ?? {})) {
    metrics.push(...metricsOf(`learner/${learner}/eval`, m, round.round, t));
  }
  return metrics;
}

function metricsOf(prefix: string, values: Record<string, number>, step: number, timestamp: number): TrackedMetric[] {
  return Object.entries(values)
    .filter(([, v]) => Number.isFinite(v))
    .map(([k, value]) => ({ key: `${prefix}/${k}`, value, step, timestamp }));
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
