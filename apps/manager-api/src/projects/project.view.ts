import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { DATA_TAG, Hyperparameters, LearnerRefusalCount, RoundPrivacy, STRATEGIES, StrategyName, UPDATE_REFUSAL_REASONS, UpdateRefusalReason } from '@flops/contracts';
import { PROJECT_STAGES, ProjectStage, ProjectState } from '@flops/lifecycle';
import type { DeploymentRecord, HistoryEntry, ProjectRecord, RoundRecord, TrackingRecord } from '@flops/models';
import { DEPLOYMENT_STATUSES, DeploymentStatus } from '@flops/models';

// The API's answers, as classes the OpenAPI document is generated from, and the mappers that
// build them from stored records field by field: nothing internal is passed through.

const METRICS = { type: 'object', additionalProperties: { type: 'number' }, example: { accuracy: 0.91, loss: 0.28 } } as const;
const DATE_TIME = { type: 'string', format: 'date-time' } as const;
const STATES = Object.values(ProjectState);

export class RepoView {
  @ApiProperty({ example: 'https://github.com/you/digits.git' }) url!: string;
  @ApiPropertyOptional({ example: 'main' }) ref?: string;
}

export class TrainingView {
  @ApiProperty({ type: 'integer', minimum: 1 }) rounds!: number;
  @ApiProperty({ type: 'integer', minimum: 1 }) learners!: number;
  @ApiProperty({ type: 'integer', minimum: 1 }) minLearnersPerRound!: number;
  @ApiProperty({ enum: STRATEGIES }) strategy!: StrategyName;
  @ApiProperty({ type: 'object', additionalProperties: { oneOf: [{ type: 'number' }, { type: 'string' }] }, description: 'The strategy’s parameters, defaults filled in' })
  strategyParams!: Record<string, number | string>;
  @ApiProperty({ type: 'number' }) fractionFit!: number;
  @ApiProperty({ type: 'number' }) fractionEvaluate!: number;
  @ApiPropertyOptional({ type: 'number' }) maxUpdateNorm?: number;
  @ApiPropertyOptional({ type: 'object', additionalProperties: true, description: 'Privacy options (central DP), defaults filled in', example: { centralDp: { noiseMultiplier: 0.5, clipping: 'fixed', clipNorm: 5 } } })
  privacy?: Record<string, unknown>;
  @ApiProperty({ type: 'object', additionalProperties: { oneOf: [{ type: 'number' }, { type: 'string' }, { type: 'boolean' }] } })
  hyperparameters!: Hyperparameters;
  @ApiProperty({ type: 'string', isArray: true, pattern: DATA_TAG.source }) dataTags!: string[];
  @ApiProperty({ type: 'integer' }) roundTimeoutSeconds!: number;
  @ApiProperty({ type: 'integer' }) seed!: number;
}

export class ResourcesView {
  @ApiPropertyOptional({ type: 'number' }) cpus?: number;
  @ApiPropertyOptional({ type: 'integer' }) memoryMiB?: number;
}

export class BuildDurationsView {
  @ApiProperty({ type: 'integer' }) fetchMs!: number;
  @ApiProperty({ type: 'integer' }) checkMs!: number;
  @ApiProperty({ type: 'integer' }) buildMs!: number;
  @ApiProperty({ type: 'integer' }) pushMs!: number;
}

export class ImageView {
  @ApiProperty({ description: 'Image reference with its tag', example: '127.0.0.1:5000/flops/learners/digits:3f2a-tfjs-4' }) reference!: string;
  @ApiProperty({ pattern: '^sha256:[a-f0-9]{64}$' }) digest!: string;
  @ApiProperty({ description: 'Git commit, or content-<digest> for a plain directory' }) sourceRevision!: string;
  @ApiProperty({ description: 'Found in the registry instead of built' }) cacheHit!: boolean;
  @ApiProperty({ type: BuildDurationsView }) durations!: BuildDurationsView;
}

export class LearnerRefusalView {
  @ApiProperty() learnerId!: string;
  @ApiProperty({ type: 'integer', minimum: 1, description: 'Updates of this learner refused so far' }) total!: number;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'integer' }, description: `Refusals per reason (${UPDATE_REFUSAL_REASONS.join(', ')})` })
  byReason!: Partial<Record<UpdateRefusalReason, number>>;
  @ApiProperty({ enum: UPDATE_REFUSAL_REASONS }) lastReason!: UpdateRefusalReason;
  @ApiProperty({ type: 'integer' }) lastRound!: number;
  @ApiProperty() lastMessage!: string;
}

export class RoundPrivacyView {
  @ApiProperty({ type: 'number', nullable: true, description: 'ε spent by all rounds so far, at delta (RDP accountant); null: unbounded (no noise)' })
  epsilon!: number | null;
  @ApiProperty({ type: 'number', nullable: true, description: 'ε of this round alone' }) epsilonRound!: number | null;
  @ApiProperty({ type: 'number' }) delta!: number;
  @ApiProperty({ type: 'number', description: 'Clipping norm used this round' }) clipNorm!: number;
  @ApiProperty({ type: 'number', description: 'Standard deviation of the noise added to the sum of clipped updates' }) noiseStddev!: number;
}

export class PrivacySpentView {
  @ApiProperty({ type: 'number', nullable: true, description: 'ε spent so far (all finished rounds), at delta; null: unbounded (no noise)' })
  epsilon!: number | null;
  @ApiProperty({ type: 'number' }) delta!: number;
  @ApiProperty({ type: 'integer', description: 'Rounds accounted' }) rounds!: number;
}

export class RoundView {
  @ApiProperty({ type: 'integer', minimum: 1 }) round!: number;
  @ApiProperty({ type: 'integer', description: 'Learners whose updates were averaged' }) learners!: number;
  @ApiProperty({ type: 'integer' }) samples!: number;
  @ApiProperty({ ...METRICS, description: 'Sample-weighted mean of the learners’ training metrics' }) trainMetrics!: Record<string, number>;
  @ApiProperty({ ...METRICS, description: 'Sample-weighted mean of the learners’ evaluation of the new model' }) evalMetrics!: Record<string, number>;
  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: METRICS,
    description: 'Each learner’s evaluation of the new model, by learner id (where the aggregator reported it)',
    example: { 'learner-0': { accuracy: 0.9, loss: 0.3 } },
  })
  learnerMetrics?: Record<string, Record<string, number>>;
  @ApiProperty({ type: 'integer' }) durationMs!: number;
  @ApiPropertyOptional({ type: 'integer', description: 'Learners that evaluated the new model' }) evaluators?: number;
  @ApiPropertyOptional({ type: 'integer', description: 'Updates refused by the aggregator’s checks this round' }) refused?: number;
  @ApiPropertyOptional({ type: RoundPrivacyView, description: 'Central DP: the privacy spent' }) privacy?: RoundPrivacyView;
  @ApiProperty(DATE_TIME) at!: string;
}

export const MODEL_AVAILABILITY = ['stored', 'missing', 'unknown'] as const;
export type ModelAvailability = (typeof MODEL_AVAILABILITY)[number];

export class ModelView {
  @ApiProperty({ description: 'OCI reference of the model artifact, by digest' }) reference!: string;
  @ApiProperty({ pattern: '^sha256:[a-f0-9]{64}$' }) digest!: string;
  @ApiProperty({ type: 'integer' }) sizeBytes!: number;
  @ApiPropertyOptional({
    enum: MODEL_AVAILABILITY,
    description: 'Only when one project is fetched: whether the artifact is still in the registry (unknown: the registry did not answer)',
  })
  availability?: ModelAvailability;
}

export const TRACKING_STATUSES = ['synced', 'pending'] as const;
export type TrackingStatus = (typeof TRACKING_STATUSES)[number];

export class TrackingView {
  @ApiPropertyOptional({ description: 'The project’s run in the MLflow UI', example: 'http://127.0.0.1:5500/#/experiments/1/runs/0f3c…' })
  runUrl?: string;
  @ApiPropertyOptional({ description: 'MLflow experiment id (one experiment per project name)' }) experimentId?: string;
  @ApiPropertyOptional({ description: 'MLflow run id (one run per project)' }) runId?: string;
  @ApiPropertyOptional({ description: 'Version of the trained model in MLflow’s Model Registry' }) modelVersion?: string;
  @ApiProperty({ enum: TRACKING_STATUSES, description: 'pending: MLflow has not been told everything yet (it is retried)' })
  status!: TrackingStatus;
  @ApiPropertyOptional({ description: 'Why the last attempt to update MLflow failed' }) lastError?: string;
}

export class FailureView {
  @ApiProperty({ enum: PROJECT_STAGES }) stage!: ProjectStage;
  @ApiProperty() reason!: string;
  @ApiProperty(DATE_TIME) at!: string;
}

export class HistoryEntryView {
  @ApiProperty({ type: 'string', enum: [...STATES, null], nullable: true, description: 'null for the submission' }) from!: ProjectState | null;
  @ApiProperty({ enum: STATES }) to!: ProjectState;
  @ApiProperty(DATE_TIME) at!: string;
  @ApiProperty({ description: 'What caused the change', example: 'build-succeeded' }) event!: string;
  @ApiPropertyOptional() reason?: string;
}

/** A project as the API shows it. */
export class ProjectView {
  @ApiProperty() id!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ enum: STATES }) state!: ProjectState;
  @ApiProperty({ type: 'integer', description: 'Increments on every change' }) version!: number;
  @ApiProperty({ type: RepoView }) repo!: RepoView;
  @ApiProperty({ type: TrainingView }) training!: TrainingView;
  @ApiProperty({ type: ResourcesView }) resources!: ResourcesView;
  @ApiPropertyOptional({ type: ImageView, description: 'The learner image in the registry' }) image?: ImageView;
  @ApiProperty({ type: RoundView, isArray: true, description: 'Metrics of every finished round' }) rounds!: RoundView[];
  @ApiProperty({ type: LearnerRefusalView, isArray: true, description: 'Updates refused per learner (as of the last finished round); learners with none are absent' })
  refusals!: LearnerRefusalView[];
  @ApiPropertyOptional({ type: PrivacySpentView, description: 'Central DP: the privacy spent so far' }) privacy?: PrivacySpentView;
  @ApiPropertyOptional({ ...METRICS, description: 'Metrics of the final model' }) finalMetrics?: Record<string, number>;
  @ApiPropertyOptional({ type: ModelView, description: 'Where the trained model is stored' }) model?: ModelView;
  @ApiPropertyOptional({ type: FailureView, description: 'Stage and reason of a failure' }) failure?: FailureView;
  @ApiPropertyOptional({ type: TrackingView, description: 'Only when one project is fetched, and MLflow tracking is on: the project’s MLflow run' })
  tracking?: TrackingView;
  @ApiProperty({ type: HistoryEntryView, isArray: true, description: 'Every state change, oldest first' }) history!: HistoryEntryView[];
  @ApiProperty({ ...DATE_TIME, nullable: true, description: 'When the current state times out; null once the project ended' })
  deadlineAt!: string | null;
  @ApiProperty(DATE_TIME) createdAt!: string;
  @ApiProperty(DATE_TIME) updatedAt!: string;
}

/** One component deployed for a project (aggregator or learner). */
export class ComponentView {
  @ApiProperty({ example: 'learner-0' }) component!: string;
  @ApiProperty({ enum: DEPLOYMENT_STATUSES }) status!: DeploymentStatus;
  @ApiProperty({ example: 'local' }) driver!: string;
  @ApiProperty() image!: string;
  @ApiPropertyOptional({ description: 'Where the driver keeps its log' }) logFile?: string;
  @ApiPropertyOptional({ type: 'integer', nullable: true }) exitCode?: number | null;
  @ApiProperty(DATE_TIME) startedAt!: string;
  @ApiPropertyOptional(DATE_TIME) endedAt?: string;
}

export class ProjectDetailView extends ProjectView {
  @ApiProperty({ type: ComponentView, isArray: true }) components!: ComponentView[];
}

export class ProjectListView {
  @ApiProperty({ type: ProjectView, isArray: true }) items!: ProjectView[];
  @ApiProperty({ type: 'integer', description: 'Projects matching the filter, over all pages' }) total!: number;
}

export class ComponentLogView {
  @ApiProperty({ example: 'learner-0', description: '`builder`, `aggregator` or a learner' }) component!: string;
  @ApiProperty({ type: 'integer' }) sizeBytes!: number;
  @ApiProperty(DATE_TIME) updatedAt!: string;
}

export class ProjectLogsView {
  @ApiProperty({ type: ComponentLogView, isArray: true, description: 'Components with a log, by name' }) components!: ComponentLogView[];
}

export class LogChunkView {
  @ApiProperty() component!: string;
  @ApiProperty({ type: 'integer', description: 'Byte offset of the first line' }) offset!: number;
  @ApiProperty({ type: 'integer', description: 'Offset to ask from next (after the last complete line)' }) nextOffset!: number;
  @ApiProperty({ type: 'integer', description: 'Size of the whole log now' }) sizeBytes!: number;
  @ApiProperty({ type: 'string', isArray: true, description: 'Complete lines, oldest first' }) lines!: string[];
}

/** What every refusal looks like. */
export class ErrorView {
  @ApiProperty({ type: 'integer', example: 400 }) statusCode!: number;
  @ApiProperty({ example: 'Bad Request' }) error!: string;
  @ApiProperty({
    oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
    description: 'What is wrong; for an invalid request, every offending field',
  })
  message!: string | string[];
}

const iso = (date: Date): string => new Date(date).toISOString();

/** Only the fields present in `record` among `keys` (optional fields stay absent, not undefined). */
function present<T extends object, K extends keyof T>(record: T, keys: readonly K[]): Pick<T, K> {
  const out = {} as Pick<T, K>;
  for (const key of keys) if (record[key] !== undefined && record[key] !== null) out[key] = record[key];
  return out;
}

function toRoundView(r: RoundRecord): RoundView {
  return {
    round: r.round,
    learners: r.learners,
    samples: r.samples,
    trainMetrics: { ...r.trainMetrics },
    evalMetrics: { ...r.evalMetrics },
    ...(r.learnerMetrics ? { learnerMetrics: Object.fromEntries(Object.entries(r.learnerMetrics).map(([k, m]) => [k, { ...m }])) } : {}),
    durationMs: r.durationMs,
    ...present(r, ['evaluators', 'refused']),
    ...(r.privacy ? { privacy: toPrivacyView(r.privacy) } : {}),
    at: iso(r.at),
  };
}

function toPrivacyView(p: RoundPrivacy): RoundPrivacyView {
  return { epsilon: p.epsilon ?? null, epsilonRound: p.epsilonRound ?? null, delta: p.delta, clipNorm: p.clipNorm, noiseStddev: p.noiseStddev };
}

function toRefusalView(r: LearnerRefusalCount): LearnerRefusalView {
  return { learnerId: r.learnerId, total: r.total, byReason: { ...r.byReason }, lastReason: r.lastReason, lastRound: r.lastRound, lastMessage: r.lastMessage };
}

/** The project's refusal counts and privacy spent are those of its last finished round (they are cumulative). */
function latest(rounds: readonly RoundRecord[]): { refusals: LearnerRefusalView[]; privacy?: PrivacySpentView } {
  const last = rounds.at(-1);
  const dpRounds = rounds.filter((r) => r.privacy);
  const lastDp = dpRounds.at(-1)?.privacy;
  return {
    refusals: (last?.refusals ?? []).map(toRefusalView),
    ...(lastDp ? { privacy: { epsilon: lastDp.epsilon ?? null, delta: lastDp.delta, rounds: dpRounds.length } } : {}),
  };
}

function toHistoryEntryView(h: HistoryEntry): HistoryEntryView {
  return { from: h.from ?? null, to: h.to, at: iso(h.at), event: h.event, ...present(h, ['reason']) };
}

export function toProjectView(record: ProjectRecord): ProjectView {
  const { training: t, image, model, failure } = record;
  return {
    id: record._id,
    name: record.name,
    state: record.state,
    version: record.version,
    repo: { url: record.repo.url, ...present(record.repo, ['ref']) },
    training: {
      rounds: t.rounds,
      learners: t.learners,
      minLearnersPerRound: t.minLearnersPerRound,
      strategy: t.strategy,
      strategyParams: { ...(t.strategyParams as Record<string, number | string>) },
      fractionFit: t.fractionFit ?? 1,
      fractionEvaluate: t.fractionEvaluate ?? 1,
      ...present(t, ['maxUpdateNorm']),
      ...(t.privacy ? { privacy: JSON.parse(JSON.stringify(t.privacy)) as Record<string, unknown> } : {}),
      hyperparameters: { ...t.hyperparameters },
      dataTags: [...t.dataTags],
      roundTimeoutSeconds: t.roundTimeoutSeconds,
      seed: t.seed,
    },
    resources: present(record.resources ?? {}, ['cpus', 'memoryMiB']),
    ...(image
      ? {
          image: {
            reference: image.reference,
            digest: image.digest,
            sourceRevision: image.sourceRevision,
            cacheHit: image.cacheHit,
            durations: {
              fetchMs: image.durations.fetchMs,
              checkMs: image.durations.checkMs,
              buildMs: image.durations.buildMs,
              pushMs: image.durations.pushMs,
            },
          },
        }
      : {}),
    rounds: record.rounds.map(toRoundView),
    ...latest(record.rounds),
    ...(record.finalMetrics ? { finalMetrics: { ...record.finalMetrics } } : {}),
    ...(model ? { model: { reference: model.reference, digest: model.digest, sizeBytes: model.sizeBytes } } : {}),
    ...(failure ? { failure: { stage: failure.stage, reason: failure.reason, at: iso(failure.at) } } : {}),
    history: record.history.map(toHistoryEntryView),
    deadlineAt: record.deadlineAt ? iso(record.deadlineAt) : null,
    createdAt: iso(record.createdAt),
    updatedAt: iso(record.updatedAt),
  };
}

export function toComponentView(record: DeploymentRecord): ComponentView {
  return {
    component: record.component,
    status: record.status,
    driver: record.driver,
    image: record.image,
    ...present(record, ['logFile']),
    exitCode: record.exitCode ?? null,
    startedAt: iso(record.startedAt),
    ...(record.endedAt ? { endedAt: iso(record.endedAt) } : {}),
  };
}

export function toTrackingView(record: TrackingRecord): TrackingView {
  return {
    ...present(record, ['runUrl', 'experimentId', 'runId', 'modelVersion']),
    status: record.pending ? 'pending' : 'synced',
    ...(record.pending && record.lastError ? { lastError: record.lastError } : {}),
  };
}
