import { loadConfig } from '@flops/config';
import { LearnerConfig, parseHyperparameters } from './config';

/** What the orchestrator always sets. */
const BASE = { FLOPS_PROJECT_ID: 'p-1', FLOPS_LEARNER_ID: 'learner-0' };

describe('LearnerConfig: FLOPS_HYPERPARAMETERS', () => {
  it('defaults to no hyperparameters', () => {
    expect(parseHyperparameters(loadConfig(LearnerConfig, BASE).FLOPS_HYPERPARAMETERS)).toEqual({});
  });

  it('passes a JSON object of scalars through', () => {
    const json = JSON.stringify({ epochs: 2, learningRate: 0.05, augment: true, optimizer: 'adam' });
    const config = loadConfig(LearnerConfig, { ...BASE, FLOPS_HYPERPARAMETERS: json });
    expect(parseHyperparameters(config.FLOPS_HYPERPARAMETERS)).toEqual({ epochs: 2, learningRate: 0.05, augment: true, optimizer: 'adam' });
  });

  it.each([
    ['{epochs: 2}', 'FLOPS_HYPERPARAMETERS is not valid JSON'],
    ['[1, 2]', 'FLOPS_HYPERPARAMETERS must be a JSON object'],
    ['null', 'FLOPS_HYPERPARAMETERS must be a JSON object'],
    ['"adam"', 'FLOPS_HYPERPARAMETERS must be a JSON object'],
    ['{"layers": [64, 32]}', 'FLOPS_HYPERPARAMETERS: "layers" is not a number, string or boolean'],
    ['{"optimizer": {"name": "adam"}, "dropout": null}', '"optimizer" is not a number, string or boolean; "dropout" is not a number, string or boolean'],
    ['{"lr": 1e999}', '"lr" is not a number, string or boolean'],
    ['{"train.epochs": 2}', '"train.epochs" is not a valid name'],
  ])('refuses %s with a clear message', (json, message) => {
    expect(() => parseHyperparameters(json)).toThrow(message);
  });

  it('keeps the idle timeout and join retry settings the orchestrator sets per project', () => {
    const config = loadConfig(LearnerConfig, { ...BASE, FLOPS_LEARNER_IDLE_TIMEOUT_SECONDS: '1200', FLOPS_LEARNER_JOIN_RETRY_MS: '500' });
    expect([config.FLOPS_LEARNER_IDLE_TIMEOUT_SECONDS, config.FLOPS_LEARNER_JOIN_RETRY_MS]).toEqual([1200, 500]);
  });
});
