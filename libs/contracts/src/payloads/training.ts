import { ArrayMaxSize, IsArray, IsDefined, IsISO8601, IsInt, IsOptional, IsString, IsUrl, Matches, MaxLength, Min, MinLength, ValidateNested } from 'class-validator';
import { Type } from 'class-transformer';
import { MAX_ID_LENGTH, MAX_ROUNDS, MAX_REASON_LENGTH, MAX_REFERENCE_LENGTH } from '../patterns';
import { IsLearnerMetrics, IsMetrics } from '../validators';

/** aggregator → learners (retained): where the data plane is. Cleared when the project ends. */
export class AggregatorReady {
  @IsUrl({ require_tld: false, protocols: ['http', 'https'] }) @MaxLength(MAX_REFERENCE_LENGTH) dataUrl!: string;
}

/** aggregator → orchestrator: enough learners joined, round 1 begins. */
export class TrainingStarted {
  @IsArray() @ArrayMaxSize(100_000) @IsString({ each: true }) @MaxLength(MAX_ID_LENGTH, { each: true }) learners!: string[];
}

/** aggregator → orchestrator: one round finished; metrics are sample-weighted means. */
export class RoundCompleted {
  @IsInt() @Min(1) round!: number;
  @IsInt() @Min(1) learners!: number;
  @IsInt() @Min(0) samples!: number;
  @IsMetrics() trainMetrics!: Record<string, number>;
  @IsMetrics() evalMetrics!: Record<string, number>;
  /** Each learner's evaluation of the new model, by learner id (absent from older aggregators). */
  @IsOptional() @IsLearnerMetrics() learnerMetrics?: Record<string, Record<string, number>>;
  @IsInt() @Min(0) durationMs!: number;
}

/**
 * One finished round as the final model artifact records it (round history blob): the round's
 * message and when it finished, so the history survives any lost or unapplied message.
 */
export class RoundHistoryEntry extends RoundCompleted {
  @IsISO8601() at!: string;
}

/** The round-history blob of a model artifact: every round of the run, in order. */
export class RoundHistory {
  @IsArray() @ArrayMaxSize(MAX_ROUNDS) @ValidateNested({ each: true }) @Type(() => RoundHistoryEntry) rounds!: RoundHistoryEntry[];
}

export class StoredModel {
  /** OCI reference of the model artifact, e.g. `127.0.0.1:5000/flops/models/<id>@sha256:…`. */
  @IsString() @MinLength(1) @MaxLength(MAX_REFERENCE_LENGTH) reference!: string;
  @Matches(/^sha256:[a-f0-9]{64}$/) digest!: string;
  @IsInt() @Min(0) sizeBytes!: number;
}

/** aggregator → orchestrator: all rounds done and the final model is stored. */
export class TrainingCompleted {
  @IsInt() @Min(1) rounds!: number;
  @IsMetrics() finalMetrics!: Record<string, number>;
  @IsDefined() @ValidateNested() @Type(() => StoredModel) model!: StoredModel;
}

/** aggregator → orchestrator: training cannot go on. */
export class TrainingFailed {
  @IsString() @MinLength(1) @MaxLength(MAX_REASON_LENGTH) reason!: string;
}
