import { parseTrainingConfig, TrainingConfig } from './training-config';

const valid = (overrides: Record<string, unknown> = {}): string =>
  JSON.stringify({
    rounds: 3,
    learners: 2,
    minLearnersPerRound: 2,
    strategy: 'fedavg',
    hyperparameters: { epochs: 2, optimizer: 'adam', shuffle: true },
    dataTags: ['digits', 'mnist:train'],
    roundTimeoutSeconds: 60,
    seed: 7,
    ...overrides,
  });

describe('parseTrainingConfig (one class for FLOPS_TRAINING_CONFIG everywhere)', () => {
  it('returns a TrainingConfig for a valid configuration', () => {
    const config = parseTrainingConfig(valid());
    expect(config).toBeInstanceOf(TrainingConfig);
    expect(config).toMatchObject({ rounds: 3, dataTags: ['digits', 'mnist:train'], hyperparameters: { epochs: 2 } });
  });

  it('fills in the defaults of the strategy, of the fractions and of central DP', () => {
    const config = parseTrainingConfig(
      valid({ learners: 4, minLearnersPerRound: 4, strategy: 'multikrum', strategyParams: { numMalicious: 1 }, privacy: undefined }),
    );
    expect(config).toMatchObject({ strategyParams: { numMalicious: 1, numToSelect: 1 }, fractionFit: 1, fractionEvaluate: 1 });
    const dp = parseTrainingConfig(valid({ strategy: 'fedadam', privacy: { centralDp: { noiseMultiplier: 0.5, clipNorm: 2 } } }));
    expect(dp.strategyParams).toEqual({ eta: 0.1, etaL: 0.1, tau: 1e-3, beta1: 0.9, beta2: 0.99 });
    expect(dp.privacy).toEqual({ centralDp: { noiseMultiplier: 0.5, clipNorm: 2, clipping: 'fixed', targetUnclippedQuantile: 0.5, clipLearningRate: 0.2, delta: 1e-5 } });
    // what is stored and handed on parses to itself
    expect(parseTrainingConfig(JSON.stringify(dp))).toEqual(dp);
  });

  it.each([
    ['not JSON', '{rounds: 3}', /is not valid JSON/],
    ['no rounds', valid({ rounds: undefined }), /rounds/],
    ['zero rounds', valid({ rounds: 0 }), /rounds/],
    ['fractional learners', valid({ learners: 1.5 }), /learners/],
    ['an unknown strategy', valid({ strategy: 'magic' }), /strategy/],
    ['a strategy parameter out of range', valid({ strategy: 'fedtrimmedavg', strategyParams: { beta: 0.5 } }), /strategyParams\.beta: beta must be less than 0\.5/],
    ['an unknown strategy parameter', valid({ strategy: 'krum', strategyParams: { numMallicious: 1 } }), /strategyParams\.numMallicious/],
    ['a missing required parameter', valid({ strategy: 'fedprox' }), /strategyParams\.proximalMu/],
    ['too few learners per round for Krum', valid({ strategy: 'krum', strategyParams: { numMalicious: 1 } }), /numMalicious \+ 3/],
    ['fractionFit 0', valid({ fractionFit: 0 }), /fractionFit must be a number greater than 0 and at most 1/],
    ['fractionEvaluate above 1', valid({ fractionEvaluate: 1.5 }), /fractionEvaluate/],
    ['a negative maxUpdateNorm', valid({ maxUpdateNorm: -1 }), /maxUpdateNorm/],
    ['central DP with a robust strategy', valid({ strategy: 'fedmedian', privacy: { centralDp: { noiseMultiplier: 1, clipNorm: 1 } } }), /privacy\.centralDp: needs a strategy that averages/],
    ['central DP without a clip norm', valid({ privacy: { centralDp: { noiseMultiplier: 1 } } }), /privacy\.centralDp\.clipNorm/],
    ['secure aggregation (not over the wire yet)', valid({ learners: 3, minLearnersPerRound: 3, privacy: { secureAggregation: {} } }), /privacy\.secureAggregation: not available yet/],
    ['a data tag with a space', valid({ dataTags: ['no spaces'] }), /dataTags/],
    ['a nested hyperparameter', valid({ hyperparameters: { layers: [64, 32] } }), /hyperparameters/],
    ['a hyperparameter named with a dot', valid({ hyperparameters: { 'train.epochs': 2 } }), /hyperparameters/],
    ['a negative seed', valid({ seed: -1 }), /seed/],
    ['a round timeout under 5 s', valid({ roundTimeoutSeconds: 1 }), /roundTimeoutSeconds/],
    ['an unknown field', valid({ epochs: 3 }), /epochs/],
    ['more learners per round than learners', valid({ minLearnersPerRound: 3 }), /minLearnersPerRound \(3\) must not exceed learners \(2\)/],
  ])('refuses %s, naming the problem', (_, json, problem) => {
    expect(() => parseTrainingConfig(json, 'FLOPS_TRAINING_CONFIG')).toThrow(problem);
    expect(() => parseTrainingConfig(json, 'FLOPS_TRAINING_CONFIG')).toThrow(/^FLOPS_TRAINING_CONFIG/);
  });
});
