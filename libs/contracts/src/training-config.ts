import { ArrayMaxSize, IsArray, IsIn, IsInt, IsNumber, IsObject, IsOptional, Matches, Max, Min } from 'class-validator';
import { validatePayload } from './messages';
import { DATA_TAG, MAX_ROUNDS } from './patterns';
import { PrivacyConfig, validatePrivacy } from './privacy';
import { ENGINE_STRATEGIES, EngineStrategyName, StrategyChoice, validateStrategy } from './strategies';
import { IsScalarRecord } from './validators';

/** Aggregation strategies a project can choose: every strategy of the FL engine. */
export const STRATEGIES = ENGINE_STRATEGIES;
export type StrategyName = EngineStrategyName;

export type Hyperparameters = Record<string, number | string | boolean>;

/** The bounds of a training configuration, shared by the API's request and the stored configuration. */
export const TRAINING_LIMITS = {
  rounds: { min: 1, max: MAX_ROUNDS },
  learners: { min: 1, max: 1000 },
  dataTags: { maxItems: 50 },
  roundTimeoutSeconds: { min: 5, max: 86_400 },
  seed: { min: 0, max: 2 ** 31 - 1 },
  /** fractionFit and fractionEvaluate: a share of the joined learners, (0, 1]. */
  fraction: { min: 0, max: 1 },
} as const;

const FINITE = { allowNaN: false, allowInfinity: false };
const FRACTION = { message: '$property must be a number greater than 0 and at most 1' };

/**
 * How a project trains: stored with the project and handed to the aggregator and the learners
 * (FLOPS_TRAINING_CONFIG). One class validates it wherever it is read (parseTrainingConfig, checkTrainingConfig).
 */
export class TrainingConfig {
  @IsInt() @Min(TRAINING_LIMITS.rounds.min) @Max(TRAINING_LIMITS.rounds.max) rounds!: number;
  @IsInt() @Min(TRAINING_LIMITS.learners.min) @Max(TRAINING_LIMITS.learners.max) learners!: number;
  /** Fewest updates a round aggregates (Flower's min_fit_clients); also the fewest learners a fit task asks. */
  @IsInt() @Min(1) minLearnersPerRound!: number;
  @IsIn(STRATEGIES) strategy!: StrategyName;
  /** The strategy's parameters (libs/contracts strategies.ts); stored with the defaults filled in. */
  @IsObject() strategyParams: Record<string, unknown> = {};
  /** Share of the joined learners asked to train each round (at least minLearnersPerRound), as Flower's fraction_fit. */
  @IsNumber(FINITE) @Min(Number.MIN_VALUE, FRACTION) @Max(TRAINING_LIMITS.fraction.max, FRACTION) fractionFit = 1;
  /** Share of the joined learners asked to evaluate each round's model (at least one). */
  @IsNumber(FINITE) @Min(Number.MIN_VALUE, FRACTION) @Max(TRAINING_LIMITS.fraction.max, FRACTION) fractionEvaluate = 1;
  /** Refuse updates that move the model further than this (L2 norm of update − global). */
  @IsOptional() @IsNumber(FINITE) @Min(Number.MIN_VALUE, { message: 'maxUpdateNorm must be a number greater than 0' }) maxUpdateNorm?: number;
  /** Central differential privacy (secure aggregation is not carried over the wire yet); stored with defaults filled in. */
  @IsOptional() @IsObject() privacy?: PrivacyConfig;
  @IsScalarRecord() hyperparameters!: Hyperparameters;
  @IsArray() @ArrayMaxSize(TRAINING_LIMITS.dataTags.maxItems) @Matches(DATA_TAG, { each: true }) dataTags!: string[];
  /** Seconds a round may take before it goes on with the updates it has (if enough). */
  @IsInt() @Min(TRAINING_LIMITS.roundTimeoutSeconds.min) @Max(TRAINING_LIMITS.roundTimeoutSeconds.max) roundTimeoutSeconds!: number;
  @IsInt() @Min(TRAINING_LIMITS.seed.min) @Max(TRAINING_LIMITS.seed.max) seed!: number;
}

/**
 * Problems of a training configuration beyond single fields: learner counts, the strategy's parameters and
 * needs, the privacy options. Returns the configuration with the strategy's and privacy's defaults filled in.
 */
function crossField(config: TrainingConfig): { value?: TrainingConfig; problems: string[] } {
  const problems: string[] = [];
  if (config.minLearnersPerRound > config.learners) {
    problems.push(`minLearnersPerRound (${config.minLearnersPerRound}) must not exceed learners (${config.learners})`);
  }
  const strategy = validateStrategy(config.strategy, config.strategyParams, { minLearnersPerRound: config.minLearnersPerRound, learners: config.learners });
  problems.push(...strategy.problems);
  const privacy = config.privacy === undefined ? undefined : validatePrivacy(config.privacy, { strategy: config.strategy, learners: config.learners });
  if (privacy) problems.push(...privacy.problems);
  if (config.privacy !== undefined && Object.hasOwn(config.privacy, 'secureAggregation')) {
    problems.push('privacy.secureAggregation: not available yet: the FL engine implements SecAgg+, but the aggregator and learners do not carry its messages');
  }
  if (problems.length) return { problems };
  const value = Object.assign(new TrainingConfig(), config, { strategyParams: { ...strategy.value!.params } });
  if (privacy?.value) value.privacy = JSON.parse(JSON.stringify(privacy.value)) as PrivacyConfig;
  return { value, problems: [] };
}

/** Validates a training configuration (a plain object), every problem named; the value has every default filled in. */
export function checkTrainingConfig(raw: unknown): { value?: TrainingConfig; problems: string[] } {
  const { value, problems } = validatePayload(TrainingConfig, raw);
  return value ? crossField(value) : { problems };
}

/** A training configuration given as JSON, checked against TrainingConfig; throws listing every problem. */
export function parseTrainingConfig(json: string, source = 'training configuration'): TrainingConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new Error(`${source} is not valid JSON`);
  }
  const { value, problems } = checkTrainingConfig(raw);
  if (problems.length || !value) throw new Error(`${source}: ${problems.join('; ')}`);
  return value;
}

/** The strategy of a checked training configuration, with its typed parameters. */
export function strategyOf(config: TrainingConfig): StrategyChoice {
  const { value, problems } = validateStrategy(config.strategy, config.strategyParams, { minLearnersPerRound: config.minLearnersPerRound, learners: config.learners });
  if (!value) throw new Error(`training configuration: ${problems.join('; ')}`);
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
