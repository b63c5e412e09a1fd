/** A run in the tracker, as the rest of FLOps refers to it. */
export interface RunRef {
  experimentId: string;
  runId: string;
  /** Where the run's artifacts go (e.g. `mlflow-artifacts:/1/<run>/artifacts`). */
  artifactUri: string;
}

export interface TrackedMetric {
  key: string;
  value: number;
  step: number;
  /** Milliseconds since the epoch: the same for every retry, so a repeat is recognised. */
  timestamp: number;
}

export type RunStatus = 'FINISHED' | 'FAILED' | 'KILLED';

/**
 * Experiment tracking, behind a port: MLflow today (MlflowTracker), another tracker would be
 * another class. Every method is idempotent, since a failed sync is retried from the start.
 */
export abstract class ExperimentTracker {
  /** The run of a project in the experiment `experimentName`, found by its project tag or created. */
  abstract ensureRun(experimentName: string, projectId: string, runName: string, startTime: number, tags: Record<string, string>): Promise<RunRef>;
  abstract logParams(run: RunRef, params: Record<string, string>): Promise<void>;
  abstract setTags(run: RunRef, tags: Record<string, string>): Promise<void>;
  abstract logMetrics(run: RunRef, metrics: TrackedMetric[]): Promise<void>;
  /** Stores a file among the run's artifacts, at `path` (e.g. `model/model.flt1`). */
  abstract logArtifact(run: RunRef, path: string, bytes: Uint8Array): Promise<void>;
  /** Registers the run's artifact folder `path` as a version of `modelName`; answers the version. */
  abstract registerModel(run: RunRef, modelName: string, path: string, description: string): Promise<string>;
  abstract endRun(run: RunRef, status: RunStatus, endTime: number): Promise<void>;
  /** Where a person sees the run. */
  abstract runUrl(run: Pick<RunRef, 'experimentId' | 'runId'>): string;
}
