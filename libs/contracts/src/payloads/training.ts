import { ArrayMaxSize, IsArray, IsDefined, IsIn, IsISO8601, IsInt, IsNumber, IsOptional, IsString, IsUrl, Matches, Max, MaxLength, Min, MinLength, ValidateNested } from 'class-validator';
import { Type } from 'class-transformer';
import { IDENTIFIER, MAX_ID_LENGTH, MAX_ROUNDS, MAX_REASON_LENGTH, MAX_REFERENCE_LENGTH } from '../patterns';
import { UPDATE_REFUSAL_REASONS, UpdateRefusalReason } from '../update-checks';
import { IsLearnerMetrics, IsMetrics } from '../validators';

/** aggregator → learners (retained): where the data plane is. Cleared when the project ends. */
export class AggregatorReady {
  @IsUrl({ require_tld: false, protocols: ['http', 'https'] }) @MaxLength(MAX_REFERENCE_LENGTH) dataUrl!: string;
}

/** aggregator → orchestrator: enough learners joined, round 1 begins. */
export class TrainingStarted {
  @IsArray() @ArrayMaxSize(100_000) @IsString({ each: true }) @MaxLength(MAX_ID_LENGTH, { each: true }) learners!: string[];
}

const FINITE = { allowNaN: false, allowInfinity: false };

/** Updates of one learner the aggregator refused so far (its update checks), by reason. */
export class LearnerRefusalCount {
  @Matches(IDENTIFIER) learnerId!: string;
  @IsInt() @Min(1) total!: number;
  /** Refusals per reason (layout, num-samples, non-finite, norm-bound, strategy). */
  @IsMetrics() byReason!: Partial<Record<UpdateRefusalReason, number>>;
  @IsIn(UPDATE_REFUSAL_REASONS) lastReason!: UpdateRefusalReason;
  @IsInt() @Min(0) lastRound!: number;
  @IsString() @MaxLength(MAX_REASON_LENGTH) lastMessage!: string;
}

/** Central differential privacy in one round: the privacy spent so far, from the RDP accountant. */
export class RoundPrivacy {
  /** ε spent by all rounds so far, at `delta`; null when unbounded (no noise). */
  @IsOptional() @IsNumber(FINITE) @Min(0) epsilon!: number | null;
  /** ε of this round alone; null when unbounded. */
  @IsOptional() @IsNumber(FINITE) @Min(0) epsilonRound!: number | null;
  @IsNumber(FINITE) @Min(0) @Max(1) delta!: number;
  /** The clipping norm C used this round (adaptive clipping moves it). */
  @IsNumber(FINITE) @Min(0) clipNorm!: number;
  /** Standard deviation of the Gaussian noise added to the sum of clipped updates. */
  @IsNumber(FINITE) @Min(0) noiseStddev!: number;
}

/** aggregator → orchestrator: one round finished; metrics are sample-weighted means. */
export class RoundCompleted {
  @IsInt() @Min(1) round!: number;
  /** Learners whose updates were aggregated. */
  @IsInt() @Min(1) learners!: number;
  @IsInt() @Min(0) samples!: number;
  @IsMetrics() trainMetrics!: Record<string, number>;
  @IsMetrics() evalMetrics!: Record<string, number>;
  /** Each learner's evaluation of the new model, by learner id (absent from older aggregators). */
  @IsOptional() @IsLearnerMetrics() learnerMetrics?: Record<string, Record<string, number>>;
  @IsInt() @Min(0) durationMs!: number;
  /** Learners asked to evaluate and that answered (fractionEvaluate). */
  @IsOptional() @IsInt() @Min(0) evaluators?: number;
  /** Updates the aggregator refused this round. */
  @IsOptional() @IsInt() @Min(0) refused?: number;
  /** Refusals per learner over the whole training so far (learners with none are absent). */
  @IsOptional() @IsArray() @ArrayMaxSize(100_000) @ValidateNested({ each: true }) @Type(() => LearnerRefusalCount) refusals?: LearnerRefusalCount[];
  /** Central DP: what this round spent. */
  @IsOptional() @ValidateNested() @Type(() => RoundPrivacy) privacy?: RoundPrivacy;
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
