#!/usr/bin/env node
'use strict';
// Centralised baseline: the same model manager on the whole dataset (one
// partition) for as many epochs as a federated run does in total
// (rounds x epochs per round). Prints {"accuracy","loss","numSamples"} on stdout.
//
//   node examples/digits-tfjs/centralised.js [--epochs N] [--seed N]
//
// Plays the learner runtime's role here, so (unlike model_manager.js) it does
// load @tensorflow/tfjs itself and hands it over as ctx.tf.

const { parseArgs } = require('node:util');
const { createModelManager, DEFAULT_HYPERPARAMETERS } = require('./model_manager');

// Matches simulate-fedavg.js's defaults: 5 rounds x DEFAULT_HYPERPARAMETERS.epochs.
const DEFAULT_ROUNDS = 5;
const DEFAULT_SEED = 42;

/**
 * @param {{ tf?: typeof import('@tensorflow/tfjs'), epochs?: number, seed?: number,
 *   hyperparameters?: import('./model_manager').Hyperparameters, log?: (msg: string) => void }} [options]
 */
async function runCentralised({
  tf = require('@tensorflow/tfjs'),
  epochs = DEFAULT_ROUNDS * DEFAULT_HYPERPARAMETERS.epochs,
  seed = DEFAULT_SEED,
  hyperparameters = {},
  log = () => {},
} = {}) {
  const manager = await createModelManager({
    tf,
    partition: { index: 0, count: 1 },
    dataTags: [],
    hyperparameters,
    seed,
    log,
  });
  try {
    const started = Date.now();
    await manager.fit({ round: 0, hyperparameters: { epochs } });
    log(`trained ${epochs} epoch(s) in ${((Date.now() - started) / 1000).toFixed(2)} s`);
    const { accuracy, loss, numSamples } = await manager.evaluate();
    return { accuracy, loss, numSamples };
  } finally {
    manager.dispose();
  }
}

async function main() {
  const { values } = parseArgs({
    options: {
      epochs: { type: 'string' },
      seed: { type: 'string' },
      'learning-rate': { type: 'string' },
      'batch-size': { type: 'string' },
    },
  });
  /** @type {Record<string, number>} */
  const hyperparameters = {};
  if (values['learning-rate'] !== undefined) hyperparameters.learningRate = Number(values['learning-rate']);
  if (values['batch-size'] !== undefined) hyperparameters.batchSize = Number(values['batch-size']);
  const result = await runCentralised({
    epochs: values.epochs === undefined ? undefined : Number(values.epochs),
    seed: values.seed === undefined ? undefined : Number(values.seed),
    hyperparameters,
    log: (msg) => process.stderr.write(`${msg}\n`),
  });
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`${err.stack || err}\n`);
    process.exitCode = 1;
  });
}

module.exports = { runCentralised, DEFAULT_ROUNDS, DEFAULT_SEED };
