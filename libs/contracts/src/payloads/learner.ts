import { ArrayMaxSize, IsArray, IsIn, IsInt, IsOptional, IsString, IsUrl, MaxLength, Min, MinLength } from 'class-validator';
import { MAX_ID_LENGTH, MAX_REASON_LENGTH } from '../patterns';
import { IsMetrics, IsScalarRecord } from '../validators';

/** learner → aggregator: this learner is up and has loaded the user's code. */
export class LearnerJoined {
  @IsString() @MinLength(1) @MaxLength(MAX_ID_LENGTH) learnerId!: string;
  @IsInt() @Min(0) partitionIndex!: number;
}

export const LEARNER_TASK_KINDS = ['init', 'fit', 'evaluate', 'stop'] as const;
export type LearnerTaskKind = (typeof LEARNER_TASK_KINDS)[number];

/**
 * aggregator → learners: work for the selected learners. `init` asks for initial weights,
 * `fit` for an update of the model at `modelUrl` (uploaded in binary to `uploadUrl`),
 * `evaluate` for metrics of that model, `stop` ends the learner.
 */
export class LearnerTask {
  @IsString() @MinLength(1) @MaxLength(MAX_ID_LENGTH) taskId!: string;
  @IsIn(LEARNER_TASK_KINDS) kind!: LearnerTaskKind;
  @IsInt() @Min(0) round!: number;
  @IsArray() @ArrayMaxSize(100_000) @IsString({ each: true }) @MaxLength(MAX_ID_LENGTH, { each: true }) learnerIds!: string[];
  @IsOptional() @IsUrl({ require_tld: false, protocols: ['http', 'https'] }) modelUrl?: string;
  @IsOptional() @IsUrl({ require_tld: false, protocols: ['http', 'https'] }) uploadUrl?: string;
  @IsOptional() @IsScalarRecord() hyperparameters?: Record<string, number | string | boolean>;
}

/** learner → aggregator: metrics of the model an `evaluate` task named. */
export class LearnerEvaluated {
  @IsString() @MinLength(1) @MaxLength(MAX_ID_LENGTH) taskId!: string;
  @IsString() @MinLength(1) @MaxLength(MAX_ID_LENGTH) learnerId!: string;
  @IsInt() @Min(0) round!: number;
  @IsInt() @Min(0) numSamples!: number;
  @IsMetrics() metrics!: Record<string, number>;
}

/** learner → aggregator: a task could not be done (user code threw, download failed, …). */
export class LearnerFailed {
  @IsString() @MinLength(1) @MaxLength(MAX_ID_LENGTH) learnerId!: string;
  @IsOptional() @IsString() @MaxLength(MAX_ID_LENGTH) taskId?: string;
  @IsString() @MinLength(1) @MaxLength(MAX_REASON_LENGTH) reason!: string;
}
