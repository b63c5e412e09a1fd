import { ConfigError, loadConfig } from '@flops/config';
import { trainingConfigOf } from '@flops/contracts';
import { LearnerConfig } from './config';

const training = {
  rounds: 2,
  learners: 3,
  minLearnersPerRound: 1,
  strategy: 'fedavg',
  hyperparameters: { epochs: 2, learningRate: 0.05, augment: true, optimizer: 'adam' },
  dataTags: ['digits'],
  roundTimeoutSeconds: 30,
  seed: 7,
};
/** What the orchestrator always sets. */
const BASE = {
  FLOPS_PROJECT_ID: 'p-1',
  FLOPS_LEARNER_ID: 'learner-0',
  FLOPS_LEARNER_IMAGE: '127.0.0.1:5000/flops/learners/x@sha256:' + 'a'.repeat(64),
  FLOPS_TRAINING_CONFIG: JSON.stringify(training),
};

describe('LearnerConfig', () => {
  it('reads hyperparameters, data tags and seed from the one training configuration', () => {
    const config = trainingConfigOf(loadConfig(LearnerConfig, BASE));
    expect(config.hyperparameters).toEqual({ epochs: 2, learningRate: 0.05, augment: true, optimizer: 'adam' });
    expect([config.dataTags, config.seed, config.learners]).toEqual([['digits'], 7, 3]);
  });

  it.each([
    ['{"layers": [64, 32]}', 'hyperparameters'],
    ['{"optimizer": {"name": "adam"}}', 'hyperparameters'],
    ['{"train.epochs": 2}', 'hyperparameters'],
  ])('stops at boot with the hyperparameters %s, naming them', (json, problem) => {
    const env = { ...BASE, FLOPS_TRAINING_CONFIG: JSON.stringify({ ...training, hyperparameters: JSON.parse(json) }) };
    expect(() => loadConfig(LearnerConfig, env)).toThrow(ConfigError);
    expect(() => loadConfig(LearnerConfig, env)).toThrow(problem);
  });

  it('stops at boot without a learner id or image', () => {
    expect(() => loadConfig(LearnerConfig, { ...BASE, FLOPS_LEARNER_ID: '' })).toThrow('FLOPS_LEARNER_ID');
    expect(() => loadConfig(LearnerConfig, { ...BASE, FLOPS_LEARNER_IMAGE: '' })).toThrow('FLOPS_LEARNER_IMAGE');
  });

  it('keeps the idle timeout and join retry settings', () => {
    const config = loadConfig(LearnerConfig, { ...BASE, FLOPS_LEARNER_IDLE_TIMEOUT_SECONDS: '1200', FLOPS_LEARNER_JOIN_RETRY_MS: '500' });
    expect([config.FLOPS_LEARNER_IDLE_TIMEOUT_SECONDS, config.FLOPS_LEARNER_JOIN_RETRY_MS]).toEqual([1200, 500]);
  });
});
