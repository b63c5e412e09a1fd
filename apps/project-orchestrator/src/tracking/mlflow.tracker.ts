import { ExperimentTracker, RunRef, RunStatus, TrackedMetric } from './experiment-tracker';

/** What MLflow answered when it refused a call. */
export class MlflowError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: string,
    message: string,
  ) {
    super(message);
    this.name = 'MlflowError';
  }
}

// Limits of MLflow's REST API (runs/log-batch), and of a param's value.
const MAX_METRICS_PER_BATCH = 1000;
const MAX_PARAMS_PER_BATCH = 100;
const MAX_PARAM_VALUE = 6000;
/** The run tag that ties a run to its FLOps project (how a retried `ensureRun` finds it). */
export const PROJECT_TAG = 'flops.project_id';

/** MLflow's tracking server through its REST API (`/api/2.0/mlflow/…`, artifacts proxied by the server). */
export class MlflowTracker extends ExperimentTracker {
  private readonly url: string;

  constructor(
    url: string,
    private readonly timeoutMs = 10_000,
  ) {
    super();
    this.url = url.replace(/\/+$/, '');
  }

  async ensureRun(experimentName: string, projectId: string, runName: string, startTime: number, tags: Record<string, string>): Promise<RunRef> {
    const experimentId = await this.ensureExperiment(experimentName);
    const found = await this.call<{ runs?: { info: { run_id: string; artifact_uri: string } }[] }>('POST', 'runs/search', {
      experiment_ids: [experimentId],
      filter: `tags.\`${PROJECT_TAG}\` = '${projectId}'`,
      max_results: 1,
    });
    const existing = found.runs?.[0]?.info;
    if (existing) return { experimentId, runId: existing.run_id, artifactUri: existing.artifact_uri };
    const created = await this.call<{ run: { info: { run_id: string; artifact_uri: string } } }>('POST', 'runs/create', {
      experiment_id: experimentId,
      run_name: runName,
      start_time: startTime,
      tags: toPairs({ ...tags, [PROJECT_TAG]: projectId }),
    });
    return { experimentId, runId: created.run.info.run_id, artifactUri: created.run.info.artifact_uri };
  }

  async logParams(run: RunRef, params: Record<string, string>): Promise<void> {
    const pairs = Object.entries(params).map(([key, value]) => ({ key, value: value.slice(0, MAX_PARAM_VALUE) }));
    for (let i = 0; i < pairs.length; i += MAX_PARAMS_PER_BATCH) {
      await this.call('POST', 'runs/log-batch', { run_id: run.runId, params: pairs.slice(i, i + MAX_PARAMS_PER_BATCH) });
    }
  }

  async setTags(run: RunRef, tags: Record<string, string>): Promise<void> {
    await this.call('POST', 'runs/log-batch', { run_id: run.runId, tags: toPairs(tags) });
  }

  async logMetrics(run: RunRef, metrics: TrackedMetric[]): Promise<void> {
    for (let i = 0; i < metrics.length; i += MAX_METRICS_PER_BATCH) {
      await this.call('POST', 'runs/log-batch', { run_id: run.runId, metrics: metrics.slice(i, i + MAX_METRICS_PER_BATCH) });
    }
  }

  async logArtifact(run: RunRef, path: string, bytes: Uint8Array): Promise<void> {
    const url = `${this.url}/api/2.0/mlflow-artifacts/artifacts/${this.artifactPath(run)}/${path.split('/').map(encodeURIComponent).join('/')}`;
    const res = await this.fetch(url, { method: 'PUT', body: bytes, headers: { 'Content-Type': 'application/octet-stream' } }, Math.max(this.timeoutMs, 120_000));
    if (!res.ok) throw await errorOf('PUT', url, res);
    await res.arrayBuffer();
  }

  async registerModel(run: RunRef, modelName: string, path: string, description: string): Promise<string> {
    try {
      await this.call('POST', 'registered-models/create', { name: modelName, description });
    } catch (error) {
      if (!(error instanceof MlflowError && error.errorCode === 'RESOURCE_ALREADY_EXISTS')) throw error;
    }
    const filter = encodeURIComponent(`name='${modelName}' and run_id='${run.runId}'`);
    const found = await this.call<{ model_versions?: { version: string }[] }>('GET', `model-versions/search?filter=${filter}`);
    if (found.model_versions?.[0]) return found.model_versions[0].version;
    const created = await this.call<{ model_version: { version: string } }>('POST', 'model-versions/create', {
      name: modelName,
      source: `${run.artifactUri}/${path}`,
      run_id: run.runId,
      description,
    });
    return created.model_version.version;
  }

  async endRun(run: RunRef, status: RunStatus, endTime: number): Promise<void> {
    await this.call('POST', 'runs/update', { run_id: run.runId, status, end_time: endTime });
  }

  runUrl(run: Pick<RunRef, 'experimentId' | 'runId'>): string {
    return `${this.url}/#/experiments/${run.experimentId}/runs/${run.runId}`;
  }

  private async ensureExperiment(name: string): Promise<string> {
    const existing = await this.experimentByName(name);
    if (existing) return existing;
    try {
      return (await this.call<{ experiment_id: string }>('POST', 'experiments/create', { name })).experiment_id;
    } catch (error) {
      // Created meanwhile by another orchestrator: use theirs.
      if (error instanceof MlflowError && error.errorCode === 'RESOURCE_ALREADY_EXISTS') {
        const raced = await this.experimentByName(name);
        if (raced) return raced;
      }
      throw error;
    }
  }

  private async experimentByName(name: string): Promise<string | null> {
    try {
      const found = await this.call<{ experiment: { experiment_id: string } }>('GET', `experiments/get-by-name?experiment_name=${encodeURIComponent(name)}`);
      return found.experiment.experiment_id;
    } catch (error) {
      if (error instanceof MlflowError && error.errorCode === 'RESOURCE_DOES_NOT_EXIST') return null;
      throw error;
    }
  }

  /** `<experiment>/<run>/artifacts` of a run served by the tracking server (`mlflow-artifacts:` URIs). */
  private artifactPath(run: RunRef): string {
    const match = /^mlflow-artifacts:(?:\/\/[^/]*)?\/(.+)$/.exec(run.artifactUri);
    if (!match) throw new Error(`the run's artifact store ${run.artifactUri} is not served by the tracking server (start it with --serve-artifacts)`);
    return match[1].replace(/\/+$/, '');
  }

  private async call<T = unknown>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const url = `${this.url}/api/2.0/mlflow/${path}`;
    const res = await this.fetch(url, {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } }),
    });
    if (!res.ok) throw await errorOf(method, url, res);
    return (await res.json()) as T;
  }

  private async fetch(url: string, init: RequestInit, timeoutMs = this.timeoutMs): Promise<Response> {
    try {
      return await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    } catch (error) {
      throw new Error(`MLflow at ${this.url} unreachable: ${error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error)}`);
    }
  }
}

function toPairs(record: Record<string, string>): { key: string; value: string }[] {
  return Object.entries(record).map(([key, value]) => ({ key, value }));
}

async function errorOf(method: string, url: string, res: Response): Promise<MlflowError> {
  const text = await res.text().catch(() => '');
  let code = `HTTP_${res.status}`;
  let message = text.slice(0, 300);
  try {
    const body = JSON.parse(text) as { error_code?: string; message?: string };
    code = body.error_code ?? code;
    message = body.message ?? message;
  } catch {
    // not JSON: keep the text
  }
  return new MlflowError(res.status, code, `${method} ${url.replace(/\?.*$/, '')}: ${res.status} ${code}: ${message}`);
}
