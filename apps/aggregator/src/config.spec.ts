import { ConfigError, loadConfig } from '@flops/config';
import { trainingConfigOf } from '@flops/contracts';
import { AggregatorConfig } from './config';

const training = { rounds: 2, learners: 2, minLearnersPerRound: 1, strategy: 'fedavg', hyperparameters: {}, dataTags: [], roundTimeoutSeconds: 30, seed: 1 };
const env = (overrides: Record<string, string> = {}) => ({
  FLOPS_PROJECT_ID: 'p1',
  FLOPS_MODEL_REPOSITORY: 'flops/models/p1',
  FLOPS_TRAINING_CONFIG: JSON.stringify(training),
  ...overrides,
});

describe('AggregatorConfig', () => {
  it('loads the environment the orchestrator sets and reads the training configuration from it', () => {
    expect({ ...trainingConfigOf(loadConfig(AggregatorConfig, env())) }).toEqual({ ...training, strategyParams: {}, fractionFit: 1, fractionEvaluate: 1 });
  });

  it.each([
    ['a data tag the contract refuses', { FLOPS_TRAINING_CONFIG: JSON.stringify({ ...training, dataTags: ['a b'] }) }, 'FLOPS_TRAINING_CONFIG'],
    ['an unknown training field', { FLOPS_TRAINING_CONFIG: JSON.stringify({ ...training, epochs: 1 }) }, 'FLOPS_TRAINING_CONFIG'],
    ['no training configuration', { FLOPS_TRAINING_CONFIG: '' }, 'FLOPS_TRAINING_CONFIG'],
    ['no project id', { FLOPS_PROJECT_ID: '' }, 'FLOPS_PROJECT_ID'],
    ['no model repository', { FLOPS_MODEL_REPOSITORY: '' }, 'FLOPS_MODEL_REPOSITORY'],
  ])('stops at boot with %s, naming the variable', (_, overrides, variable) => {
    expect(() => loadConfig(AggregatorConfig, env(overrides))).toThrow(ConfigError);
    expect(() => loadConfig(AggregatorConfig, env(overrides))).toThrow(variable);
  });
});
