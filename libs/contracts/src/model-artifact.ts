import { cleanMetrics } from './patterns';

/**
 * How a trained model is stored: an OCI artifact `<modelRepository>:final` whose one blob is the
 * model in the FLT1 tensor format and whose annotations say what it is. The aggregator writes
 * it; the orchestrator can read it back if the completion message was lost.
 */
export const MODEL_ARTIFACT_TYPE = 'application/vnd.flops.model.v1';
export const FINAL_MODEL_TAG = 'final';

const KEYS = { project: 'dev.flops.project', rounds: 'dev.flops.rounds', metrics: 'dev.flops.metrics' } as const;

export interface ModelArtifactInfo {
  projectId: string;
  rounds: number;
  finalMetrics: Record<string, number>;
}

export function modelAnnotations(info: ModelArtifactInfo): Record<string, string> {
  return { [KEYS.project]: info.projectId, [KEYS.rounds]: String(info.rounds), [KEYS.metrics]: JSON.stringify(info.finalMetrics) };
}

/** The info in a model artifact's annotations, or null if they are not FLOps's. */
export function readModelAnnotations(annotations: Record<string, string> | undefined): ModelArtifactInfo | null {
  const rounds = Number(annotations?.[KEYS.rounds]);
  if (!annotations?.[KEYS.project] || !Number.isInteger(rounds) || rounds < 1) return null;
  let metrics: unknown;
  try {
    metrics = JSON.parse(annotations[KEYS.metrics] ?? '{}');
  } catch {
    return null;
  }
  return { projectId: annotations[KEYS.project], rounds, finalMetrics: cleanMetrics(metrics) };
}
