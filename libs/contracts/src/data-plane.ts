import { IsInt, IsNumber, IsObject, IsOptional, Matches, Min } from 'class-validator';
import { IDENTIFIER } from './patterns';

// The aggregator's binary data plane (HTTP): learners download the global model and upload
// weights in the FLT1 tensor format (@flops/tensor-codec).

/** Route templates, as the aggregator's controller declares them (relative to its base URL). */
export const DATA_PLANE_ROUTES = {
  model: 'v1/models/:version',
  upload: 'v1/tasks/:taskId/uploads',
  /** SCAFFOLD: the correction c − c_i of the learner named by LEARNER_ID_HEADER, for a fit task. */
  correction: 'v1/tasks/:taskId/correction',
} as const;

/** The header naming the learner that uploads. */
export const LEARNER_ID_HEADER = 'x-flops-learner-id';

function fill(route: string, params: Record<string, string>): string {
  return route.replace(/:(\w+)/g, (_, name: string) => encodeURIComponent(params[name] ?? ''));
}

export function modelUrl(dataUrl: string, version: string): string {
  return `${dataUrl}/${fill(DATA_PLANE_ROUTES.model, { version })}`;
}

export function correctionUrl(dataUrl: string, taskId: string): string {
  return `${dataUrl}/${fill(DATA_PLANE_ROUTES.correction, { taskId })}`;
}

export function uploadUrl(dataUrl: string, taskId: string): string {
  return `${dataUrl}/${fill(DATA_PLANE_ROUTES.upload, { taskId })}`;
}

/** Why the data plane refused a request, with the HTTP status it answers. */
export const DATA_PLANE_ERRORS = {
  'missing-learner-id': 400,
  'invalid-update': 400,
  'upload-interrupted': 400,
  'not-selected': 409,
  'already-answered': 409,
  'takes-no-uploads': 409,
  'task-closed': 410,
  'model-not-current': 410,
  /** The update failed the aggregator's checks (layout, finite values, norm bound, sample count, strategy): counted, not aggregated. */
  'update-refused': 422,
  'upload-too-large': 413,
  'wrong-media-type': 415,
} as const;
export type DataPlaneErrorCode = keyof typeof DATA_PLANE_ERRORS;

/**
 * Refusals that mean the aggregator has moved past the task (it closed, a retried upload had
 * already arrived, the model was superseded): nothing is wrong with the learner.
 */
export const STALE_TASK_ERRORS: ReadonlySet<DataPlaneErrorCode> = new Set(['task-closed', 'already-answered', 'model-not-current']);

/** The body of every refusal: a machine-readable `code`, and a `message` for people. */
export interface DataPlaneErrorBody {
  statusCode: number;
  code: DataPlaneErrorCode;
  message: string;
  /** For `upload-too-large`: the most bytes the aggregator accepts for this upload. */
  limitBytes?: number;
}

export function isDataPlaneErrorBody(value: unknown): value is DataPlaneErrorBody {
  if (typeof value !== 'object' || value === null) return false;
  const { code, message } = value as Record<string, unknown>;
  return typeof code === 'string' && Object.hasOwn(DATA_PLANE_ERRORS, code) && typeof message === 'string';
}

// Metadata carried in the header of FLT1 payloads on the data plane.

/** What a learner's `fit` upload says about itself. */
export class UpdateMeta {
  @IsOptional() @Matches(IDENTIFIER) learnerId?: string;
  @IsOptional() @IsInt() @Min(0) round?: number;
  /** Training samples behind the update: its weight in the average. */
  @IsInt() @Min(1) numSamples!: number;
  /** The learner's training metrics; the aggregator keeps those that are finite numbers with valid names (cleanMetrics). */
  @IsOptional() @IsObject() metrics?: Record<string, unknown>;
  /** SCAFFOLD: the sum of the learning rates of the update's local steps (SCAFFOLD_STEP_SIZE_SUM_KEY). */
  @IsOptional() @IsNumber({ allowNaN: false, allowInfinity: false }) scaffoldStepSizeSum?: number;
}

/** What a learner's `init` upload (initial weights) says about itself. */
export class InitialWeightsMeta {
  @IsOptional() @Matches(IDENTIFIER) learnerId?: string;
}

/** What a global model served by the aggregator (and stored as the final model) says about itself. */
export class ModelMeta {
  @Matches(IDENTIFIER) projectId!: string;
  @IsInt() @Min(0) round!: number;
}
