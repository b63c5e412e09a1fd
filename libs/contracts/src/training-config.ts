import { ArrayMaxSize, IsArray, IsIn, IsInt, Matches, Max, Min } from 'class-validator';
import { validatePayload } from './messages';
import { DATA_TAG, MAX_ROUNDS } from './patterns';
import { IsScalarRecord } from './validators';

/** Aggregation strategies the aggregator implements. */
export const STRATEGIES = ['fedavg'] as const;
export type StrategyName = (typeof STRATEGIES)[number];

export type Hyperparameters = Record<string, number | string | boolean>;

/** The bounds of a training configuration, shared by the API's request and the stored configuration. */
export const TRAINING_LIMITS = {
  rounds: { min: 1, max: MAX_ROUNDS },
  learners: { min: 1, max: 1000 },
  dataTags: { maxItems: 50 },
  roundTimeoutSeconds: { min: 5, max: 86_400 },
  seed: { min: 0, max: 2 ** 31 - 1 },
} as const;

/**
 * How a project trains: stored with the project and handed to the aggregator and the learners
 * (FLOPS_TRAINING_CONFIG). One class validates it wherever it is read.
 */
export class TrainingConfig {
  @IsInt() @Min(TRAINING_LIMITS.rounds.min) @Max(TRAINING_LIMITS.rounds.max) rounds!: number;
  @IsInt() @Min(TRAINING_LIMITS.learners.min) @Max(TRAINING_LIMITS.learners.max) learners!: number;
  @IsInt() @Min(1) minLearnersPerRound!: number;
  @IsIn(STRATEGIES) strategy!: StrategyName;
  @IsScalarRecord() hyperparameters!: Hyperparameters;
  @IsArray() @ArrayMaxSize(TRAINING_LIMITS.dataTags.maxItems) @Matches(DATA_TAG, { each: true }) dataTags!: string[];
  /** Seconds a round may take before it goes on with the updates it has (if enough). */
  @IsInt() @Min(TRAINING_LIMITS.roundTimeoutSeconds.min) @Max(TRAINING_LIMITS.roundTimeoutSeconds.max) roundTimeoutSeconds!: number;
  @IsInt() @Min(TRAINING_LIMITS.seed.min) @Max(TRAINING_LIMITS.seed.max) seed!: number;
}

/** Problems of a training configuration beyond single fields. */
function crossFieldProblems(config: TrainingConfig): string[] {
  return config.minLearnersPerRound > config.learners
    ? [`minLearnersPerRound (${config.minLearnersPerRound}) must not exceed learners (${config.learners})`]
    : [];
}

/** A training configuration given as JSON, checked against TrainingConfig; throws listing every problem. */
export function parseTrainingConfig(json: string, source = 'training configuration'): TrainingConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new Error(`${source} is not valid JSON`);
  }
  const { value, problems } = validatePayload(TrainingConfig, raw);
  const all = value ? crossFieldProblems(value) : problems;
  if (all.length || !value) throw new Error(`${source}: ${all.join('; ')}`);
  return value;
}

export interface ResourceHints {
  cpus?: number;
  memoryMiB?: number;
}

export interface MlRepoLocation {
  url: string;
  ref?: string;
}
