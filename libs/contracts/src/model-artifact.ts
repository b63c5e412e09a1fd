import { validatePayload } from './messages';
import { cleanMetrics } from './patterns';
import { RoundHistory, RoundHistoryEntry } from './payloads/training';

/**
 * How a trained model is stored: an OCI artifact `<modelRepository>:final` whose one blob is the
 * model in the FLT1 tensor format and whose annotations say what it is. The aggregator writes
 * it; the orchestrator can read it back if the completion message was lost. A second blob holds
 * the round history, so that the rounds are as safe as the model (see RoundHistory).
 */
export const MODEL_ARTIFACT_TYPE = 'application/vnd.flops.model.v1';
export const ROUND_HISTORY_MEDIA_TYPE = 'application/vnd.flops.round-history.v1+json';
export const FINAL_MODEL_TAG = 'final';

/** The registry repository a project's models are stored in. */
export function modelRepository(registryNamespace: string, projectId: string): string {
  return `${registryNamespace}/models/${projectId.toLowerCase()}`;
}

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

export function encodeRoundHistory(rounds: RoundHistoryEntry[]): Buffer {
  return Buffer.from(JSON.stringify({ rounds }), 'utf8');
}

/** The rounds of a round-history blob; throws if the blob is not one. */
export function decodeRoundHistory(data: Buffer): RoundHistoryEntry[] {
  let plain: unknown;
  try {
    plain = JSON.parse(data.toString('utf8'));
  } catch {
    throw new Error('round history is not JSON');
  }
  const { value, problems } = validatePayload(RoundHistory, plain);
  if (!value) throw new Error(`invalid round history: ${problems.slice(0, 5).join('; ')}`);
  return value.rounds;
}
