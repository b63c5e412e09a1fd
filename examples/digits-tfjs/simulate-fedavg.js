#!/usr/bin/env node
'use strict';
// In-process FedAvg simulation of what FLOps does across learner processes:
// every round each learner starts from the global weights, trains locally, and
// the aggregator averages the returned weights weighted by numSamples. The
// global model is then evaluated on every learner's test shard and the results
// combined by sample-weighted mean (= accuracy on the whole test split).
//
//   node examples/digits-tfjs/simulate-fedavg.js [--learners 3] [--rounds 5]
//        [--epochs N] [--learning-rate X] [--batch-size N] [--seed N] [--no-compare]
//
// Prints one line per round, then a JSON summary that also holds the
// centralised baseline (same total epochs) unless --no-compare.

const { parseArgs } = require('node:util');
const { createModelManager, DEFAULT_HYPERPARAMETERS } = require('./model_manager');
const { runCentralised, DEFAULT_ROUNDS, DEFAULT_SEED } = require('./centralised');

/**
 * numSamples-weighted mean of the learners' weights (FedAvg).
 * @param {Array<{ numSamples: number, weights: import('./model_manager').NamedTensor[] }>} updates
 */
function federatedAverage(updates) {
  const total = updates.reduce((sum, u) => sum + u.numSamples, 0);
  return updates[0].weights.map((first, k) => {
    const values = new Float32Array(first.values.length);
    for (const { weights, numSamples } of updates) {
      const w = weights[k];
      if (w.name !== first.name) throw new Error(`learners disagree on tensor order: ${w.name} vs ${first.name}`);
      const share = numSamples / total;
      for (let i = 0; i < values.length; i++) values[i] += share * w.values[i];
    }
    return { name: first.name, shape: first.shape.slice(), values };
  });
}

async function evaluateGlobal(learners, weights) {
  let samples = 0;
  let correct = 0;
  let lossSum = 0;
  for (const learner of learners) {
    await learner.setWeights(weights);
    const r = await learner.evaluate();
    samples += r.numSamples;
    correct += r.accuracy * r.numSamples;
    lossSum += r.loss * r.numSamples;
  }
  return { numSamples: samples, accuracy: correct / samples, loss: lossSum / samples };
}

/**
 * @param {{ tf?: typeof import('@tensorflow/tfjs'), learners?: number, rounds?: number, seed?: number,
 *   hyperparameters?: import('./model_manager').Hyperparameters, onRound?: (entry: object) => void }} [options]
 */
async function simulateFedAvg({
  tf = require('@tensorflow/tfjs'),
  learners: count = 3,
  rounds = DEFAULT_ROUNDS,
  seed = DEFAULT_SEED,
  hyperparameters = {},
  onRound = () => {},
} = {}) {
  const learners = [];
  for (let index = 0; index < count; index++) {
    learners.push(
      await createModelManager({ tf, partition: { index, count }, dataTags: [], hyperparameters, seed, log: () => {} }),
    );
  }
  try {
    // Stands in for the aggregator's initial model; all learners start from it.
    let global = await learners[0].getWeights();
    const history = [{ round: 0, ...(await evaluateGlobal(learners, global)) }];
    onRound(history[0]);
    for (let round = 1; round <= rounds; round++) {
      const updates = [];
      let slowestFitMs = 0;
      for (const learner of learners) {
        await learner.setWeights(global);
        const started = Date.now();
        const { numSamples } = await learner.fit({ round, hyperparameters });
        slowestFitMs = Math.max(slowestFitMs, Date.now() - started);
        updates.push({ numSamples, weights: await learner.getWeights() });
      }
      global = federatedAverage(updates);
      const entry = { round, ...(await evaluateGlobal(learners, global)), slowestFitMs };
      history.push(entry);
      onRound(entry);
    }
    return history;
  } finally {
    learners.forEach((l) => l.dispose());
  }
}

async function main() {
  const { values } = parseArgs({
    options: {
      learners: { type: 'string', default: '3' },
      rounds: { type: 'string', default: String(DEFAULT_ROUNDS) },
      epochs: { type: 'string', default: String(DEFAULT_HYPERPARAMETERS.epochs) },
      'learning-rate': { type: 'string', default: String(DEFAULT_HYPERPARAMETERS.learningRate) },
      'batch-size': { type: 'string', default: String(DEFAULT_HYPERPARAMETERS.batchSize) },
      seed: { type: 'string', default: String(DEFAULT_SEED) },
      'no-compare': { type: 'boolean', default: false },
    },
  });
  const rounds = Number(values.rounds);
  const seed = Number(values.seed);
  const hyperparameters = {
    epochs: Number(values.epochs),
    learningRate: Number(values['learning-rate']),
    batchSize: Number(values['batch-size']),
  };
  const history = await simulateFedAvg({
    learners: Number(values.learners),
    rounds,
    seed,
    hyperparameters,
    onRound: (r) =>
      process.stdout.write(
        `round ${r.round}: accuracy ${r.accuracy.toFixed(4)} loss ${r.loss.toFixed(4)}` +
          (r.slowestFitMs === undefined ? '' : ` (slowest learner fit ${r.slowestFitMs} ms)`) +
          '\n',
      ),
  });
  const final = history[history.length - 1];
  const summary = {
    learners: Number(values.learners),
    rounds,
    hyperparameters,
    federated: { accuracy: final.accuracy, loss: final.loss, numSamples: final.numSamples },
  };
  if (!values['no-compare']) {
    summary.centralised = await runCentralised({ epochs: rounds * hyperparameters.epochs, seed, hyperparameters });
    summary.gap = summary.centralised.accuracy - summary.federated.accuracy;
  }
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`${err.stack || err}\n`);
    process.exitCode = 1;
  });
}

module.exports = { simulateFedAvg, federatedAverage };
