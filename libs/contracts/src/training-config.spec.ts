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

  it.each([
    ['not JSON', '{rounds: 3}', /is not valid JSON/],
    ['no rounds', valid({ rounds: undefined }), /rounds/],
    ['zero rounds', valid({ rounds: 0 }), /rounds/],
    ['fractional learners', valid({ learners: 1.5 }), /learners/],
    ['an unknown strategy', valid({ strategy: 'krum' }), /strategy/],
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
