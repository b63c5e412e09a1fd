import { Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsIn, IsInt, IsNumber, IsOptional, IsString, IsUrl, MaxLength, Min, MinLength, ValidateNested } from 'class-validator';
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
 * What the project's strategy asks of a learner's training in a `fit` task (learner side of FedProx and
 * SCAFFOLD; docs/ml-repo-contract.md). The runtime hands it to the user's fit().
 */
export class FitInstructions {
  /** FedProx: add (proximalMu / 2)·‖w − w_global‖² to the local loss; w_global is the model of the task. */
  @IsOptional() @IsNumber({ allowNaN: false, allowInfinity: false }) @Min(0) proximalMu?: number;
  /**
   * SCAFFOLD: where this learner downloads its correction c − c_i (FLT1 tensors in the model's layout, the
   * learner named by its id header); add it to every local gradient and report the sum of the local learning
   * rates as `scaffoldStepSizeSum` in the update.
   */
  @IsOptional() @IsUrl({ require_tld: false, protocols: ['http', 'https'] }) scaffoldCorrectionUrl?: string;
}

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
  /** `fit` only: what the strategy asks of the learner's training. */
  @IsOptional() @ValidateNested() @Type(() => FitInstructions) strategy?: FitInstructions;
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
