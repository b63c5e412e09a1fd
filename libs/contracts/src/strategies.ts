import { IsIn, IsInt, IsNumber, IsOptional, IsString, Matches, Min, registerDecorator } from 'class-validator';
import { validatePayload } from './messages';

/**
 * Aggregation strategies of the FL engine (libs/fl-engine): Flower's, with Flower's parameters and defaults
 * (those of its current Message API, flwr 1.42), plus SCAFFOLD. Each has a parameter class below; a
 * submission's `strategyParams` is validated against it, and every problem names the parameter.
 */
export const ENGINE_STRATEGIES = [
  'fedavg',
  'fedprox',
  'fedavgm',
  'fedadagrad',
  'fedadam',
  'fedyogi',
  'qfedavg',
  'scaffold',
  'fedmedian',
  'fedtrimmedavg',
  'krum',
  'multikrum',
  'bulyan',
] as const;
export type EngineStrategyName = (typeof ENGINE_STRATEGIES)[number];

/** Strategies that need every update of a round at once (memory: one model copy per update). */
export const BUFFERED_STRATEGIES: readonly EngineStrategyName[] = ['fedmedian', 'fedtrimmedavg', 'krum', 'multikrum', 'bulyan'];

// Kept in a module without imports: payloads import them, and this module imports the payload machinery.
export { MAX_UPDATE_NUM_SAMPLES, UPDATE_REFUSAL_REASONS } from './update-checks';
export type { UpdateRefusalReason } from './update-checks';

// ---- the learner side (what FedProx and SCAFFOLD need from the user's training code) ----------------------

/**
 * Update meta key a SCAFFOLD learner sets: Σ over its local steps of the learning rate used (K·η_l for a
 * constant rate). With it the aggregator computes the new control variate itself (option II of Karimireddy
 * et al.), so a learner sends its weights only.
 */
export const SCAFFOLD_STEP_SIZE_SUM_KEY = 'scaffoldStepSizeSum';

/** Per-task instructions a strategy gives a learner's user code, on top of the hyperparameters. */
export interface StrategyFitHints {
  /** FedProx: add (proximalMu / 2)·‖w − w_global‖² to the local loss. */
  proximalMu?: number;
  /**
   * SCAFFOLD: the learner's correction c − c_i, a model-shaped tensor set to add to every local gradient
   * (g ← g + c − c_i); the learner reports SCAFFOLD_STEP_SIZE_SUM_KEY in its update's meta.
   */
  scaffoldCorrection?: true;
}

// ---- parameters of each strategy ---------------------------------------------------------------------------

const POSITIVE = { message: '$property must be a number greater than 0' };

/** The value must be a number strictly below `limit` (class-validator's @Max allows equality). */
function Below(limit: number): PropertyDecorator {
  return (target, propertyKey) =>
    registerDecorator({
      name: 'below',
      target: target.constructor,
      propertyName: propertyKey as string,
      options: { message: `$property must be less than ${limit}` },
      validator: { validate: (value: unknown) => typeof value === 'number' && value < limit },
    });
}

export class FedAvgParams {}

export class FedProxParams {
  /** Weight of the proximal term; 0 makes it FedAvg. Required, as in Flower's FedProx. */
  @IsNumber({ allowNaN: false, allowInfinity: false }) @Min(0) proximalMu!: number;
}

export class FedAvgMParams {
  @IsNumber({ allowNaN: false, allowInfinity: false }) @Min(Number.MIN_VALUE, POSITIVE) serverLearningRate = 1.0;
  @IsNumber({ allowNaN: false, allowInfinity: false }) @Min(0) serverMomentum = 0.0;
}

/** FedAdagrad, FedAdam and FedYogi (Reddi et al., "Adaptive Federated Optimization"). */
class FedOptParams {
  /** Server-side learning rate. */
  @IsNumber({ allowNaN: false, allowInfinity: false }) @Min(Number.MIN_VALUE, POSITIVE) eta = 1e-1;
  /** Client-side learning rate: informational in Flower (never sent to clients); kept for parity. */
  @IsNumber({ allowNaN: false, allowInfinity: false }) @Min(Number.MIN_VALUE, POSITIVE) etaL = 1e-1;
  /** Degree of adaptability (added to √v). */
  @IsNumber({ allowNaN: false, allowInfinity: false }) @Min(Number.MIN_VALUE, POSITIVE) tau = 1e-3;
}

export class FedAdagradParams extends FedOptParams {}

export class FedAdamParams extends FedOptParams {
  @IsNumber({ allowNaN: false, allowInfinity: false }) @Min(0) @Below(1) beta1 = 0.9;
  @IsNumber({ allowNaN: false, allowInfinity: false }) @Min(0) @Below(1) beta2 = 0.99;
}

export class FedYogiParams extends FedAdamParams {
  override eta = 1e-2;
  override etaL = 0.0316;
}

export class QFedAvgParams {
  /** Fairness: 0 is FedAvg-like, larger favours learners with a high loss. */
  @IsNumber({ allowNaN: false, allowInfinity: false }) @Min(0) q = 0.1;
  /** The learners' local learning rate; L = 1 / clientLearningRate. Required, as in Flower. */
  @IsNumber({ allowNaN: false, allowInfinity: false }) @Min(Number.MIN_VALUE, POSITIVE) clientLearningRate!: number;
  /** Metric (of each update) holding the learner's training loss. */
  @IsString() @Matches(/^[A-Za-z_][A-Za-z0-9_.:-]{0,99}$/) lossKey = 'loss';
}

export class ScaffoldParams {
  /** η_g in Karimireddy et al.: x ← x + η_g · mean(y_i − x). */
  @IsNumber({ allowNaN: false, allowInfinity: false }) @Min(Number.MIN_VALUE, POSITIVE) globalLearningRate = 1.0;
}

export class FedMedianParams {}

export class FedTrimmedAvgParams {
  /** Fraction cut at each end, per coordinate. */
  @IsNumber({ allowNaN: false, allowInfinity: false }) @Min(0) @Below(0.5) beta = 0.2;
}

export class KrumParams {
  @IsInt() @Min(0) numMalicious = 0;
}

export class MultiKrumParams extends KrumParams {
  /** How many of the best-scored updates are averaged (weighted by sample count). */
  @IsInt() @Min(1) numToSelect = 1;
}

export const BULYAN_SELECTIONS = ['iterative-krum', 'multikrum'] as const;

export class BulyanParams {
  @IsInt() @Min(0) numMalicious = 0;
  /**
   * How the θ = n − 2f candidates are chosen: `iterative-krum` runs Krum θ times, each time on the updates
   * not yet chosen (El Mhamdi et al.; Flower's `flwr.server.strategy.Bulyan`); `multikrum` takes the θ
   * best Krum scores of one pass (Flower's Message-API `flwr.serverapp.strategy.Bulyan`).
   */
  @IsOptional() @IsIn(BULYAN_SELECTIONS) selection: (typeof BULYAN_SELECTIONS)[number] = 'iterative-krum';
}

export const STRATEGY_PARAMS = {
  fedavg: FedAvgParams,
  fedprox: FedProxParams,
  fedavgm: FedAvgMParams,
  fedadagrad: FedAdagradParams,
  fedadam: FedAdamParams,
  fedyogi: FedYogiParams,
  qfedavg: QFedAvgParams,
  scaffold: ScaffoldParams,
  fedmedian: FedMedianParams,
  fedtrimmedavg: FedTrimmedAvgParams,
  krum: KrumParams,
  multikrum: MultiKrumParams,
  bulyan: BulyanParams,
} satisfies Record<EngineStrategyName, new () => object>;

export type StrategyParams<N extends EngineStrategyName = EngineStrategyName> = InstanceType<(typeof STRATEGY_PARAMS)[N]>;

/** A strategy with its validated parameters. */
export type StrategyChoice = { [N in EngineStrategyName]: { name: N; params: StrategyParams<N> } }[EngineStrategyName];

/** What a round can count on: validation checks a strategy's needs against these. */
export interface StrategyRoundBounds {
  /** Fewest updates a round may aggregate (the training configuration's minLearnersPerRound). */
  minLearnersPerRound: number;
  /** Learners deployed. */
  learners: number;
}

/**
 * Validates a strategy choice: the name, each parameter (defaults filled in, unknown ones refused) and what
 * the strategy needs from a round (e.g. Bulyan's n ≥ 4f + 3). Problems name the field, e.g.
 * `strategyParams.beta: beta must be less than 0.5`.
 */
export function validateStrategy(name: unknown, rawParams: unknown, bounds: StrategyRoundBounds): { value?: StrategyChoice; problems: string[] } {
  if (typeof name !== 'string' || !(ENGINE_STRATEGIES as readonly string[]).includes(name)) {
    return { problems: [`strategy must be one of ${ENGINE_STRATEGIES.join(', ')}`] };
  }
  const strategy = name as EngineStrategyName;
  const { value, problems } = validatePayload(STRATEGY_PARAMS[strategy], rawParams ?? {});
  const all = problems.map((p) => `strategyParams.${p}`);
  if (value) all.push(...roundProblems(strategy, value, bounds));
  return all.length ? { problems: all } : { value: { name: strategy, params: value } as StrategyChoice, problems: [] };
}

function roundProblems(name: EngineStrategyName, params: StrategyParams, { minLearnersPerRound: n }: StrategyRoundBounds): string[] {
  switch (name) {
    case 'krum':
    case 'multikrum': {
      const { numMalicious: f } = params as KrumParams;
      const problems = n < f + 3 ? [`strategyParams.numMalicious: Krum scores each update by its n − f − 2 nearest others, so minLearnersPerRound (${n}) must be at least numMalicious + 3 (${f + 3})`] : [];
      const select = (params as MultiKrumParams).numToSelect;
      if (name === 'multikrum' && select > n) problems.push(`strategyParams.numToSelect: cannot select ${select} of as few as ${n} updates (minLearnersPerRound)`);
      return problems;
    }
    case 'bulyan': {
      const { numMalicious: f } = params as BulyanParams;
      return n < 4 * f + 3 ? [`strategyParams.numMalicious: Bulyan needs at least 4 · numMalicious + 3 = ${4 * f + 3} updates per round, but minLearnersPerRound is ${n}`] : [];
    }
    default:
      return [];
  }
}
