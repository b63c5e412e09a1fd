import { ENGINE_STRATEGIES, validateStrategy } from './strategies';
import { validatePrivacy } from './privacy';

const bounds = { minLearnersPerRound: 5, learners: 5 };

describe('validateStrategy', () => {
  it('fills in Flower\'s defaults', () => {
    expect(validateStrategy('fedadam', {}, bounds).value).toEqual({ name: 'fedadam', params: { eta: 0.1, etaL: 0.1, tau: 1e-3, beta1: 0.9, beta2: 0.99 } });
    expect(validateStrategy('fedyogi', undefined, bounds).value?.params).toEqual({ eta: 0.01, etaL: 0.0316, tau: 1e-3, beta1: 0.9, beta2: 0.99 });
    expect(validateStrategy('bulyan', { numMalicious: 0 }, bounds).value?.params).toEqual({ numMalicious: 0, selection: 'iterative-krum' });
    for (const name of ENGINE_STRATEGIES.filter((n) => n !== 'fedprox' && n !== 'qfedavg')) expect(validateStrategy(name, {}, bounds).problems).toEqual([]);
  });

  it('names every bad parameter', () => {
    expect(validateStrategy('fedadam', { eta: -1, beta1: 1, tau: 'x', momentum: 2 }, bounds).problems.sort()).toEqual([
      'strategyParams.beta1: beta1 must be less than 1',
      'strategyParams.eta: eta must be a number greater than 0',
      'strategyParams.momentum: property momentum should not exist',
      'strategyParams.tau: tau must be a number conforming to the specified constraints',
      'strategyParams.tau: tau must be a number greater than 0',
    ]);
    expect(validateStrategy('fedprox', {}, bounds).problems).toContainEqual(expect.stringMatching(/^strategyParams\.proximalMu: /));
    expect(validateStrategy('qfedavg', {}, bounds).problems).toContainEqual(expect.stringMatching(/^strategyParams\.clientLearningRate: /));
    expect(validateStrategy('fedtrimmedavg', { beta: 0.5 }, bounds).problems).toEqual(['strategyParams.beta: beta must be less than 0.5']);
    expect(validateStrategy('bulyan', { selection: 'random' }, bounds).problems).toEqual([expect.stringMatching(/^strategyParams\.selection: selection must be one of/)]);
    expect(validateStrategy('fedsgd', {}, bounds).problems).toEqual([expect.stringMatching(/^strategy must be one of fedavg, fedprox/)]);
    expect(validateStrategy('fedavg', [], bounds).problems).toEqual(['strategyParams.payload must be an object']);
  });

  it('checks what a strategy needs from a round', () => {
    expect(validateStrategy('bulyan', { numMalicious: 1 }, bounds).problems).toEqual([
      'strategyParams.numMalicious: Bulyan needs at least 4 · numMalicious + 3 = 7 updates per round, but minLearnersPerRound is 5',
    ]);
    expect(validateStrategy('krum', { numMalicious: 3 }, bounds).problems).toEqual([expect.stringMatching(/minLearnersPerRound \(5\) must be at least numMalicious \+ 3 \(6\)/)]);
    expect(validateStrategy('multikrum', { numToSelect: 6 }, bounds).problems).toEqual(['strategyParams.numToSelect: cannot select 6 of as few as 5 updates (minLearnersPerRound)']);
  });
});

describe('validatePrivacy', () => {
  it('accepts central DP and secure aggregation on mean strategies, with defaults', () => {
    const { value, problems } = validatePrivacy({ centralDp: { noiseMultiplier: 1, clipNorm: 0.5 }, secureAggregation: {} }, { strategy: 'fedadam', learners: 10 });
    expect(problems).toEqual([]);
    expect(value?.centralDp).toMatchObject({ noiseMultiplier: 1, clipping: 'fixed', clipNorm: 0.5, delta: 1e-5 });
    expect(value?.secureAggregation).toMatchObject({ maxDropouts: 1, clippingRange: 8, quantizationRange: 2 ** 22, maxWeight: 1000 });
  });

  it('names what cannot work', () => {
    const missing = validatePrivacy({ centralDp: { noiseMultiplier: 1 } }, { strategy: 'fedavg', learners: 10 }).problems;
    expect(missing.length).toBeGreaterThan(0);
    expect(missing.every((p) => p.startsWith('privacy.centralDp.clipNorm: '))).toBe(true);
    expect(validatePrivacy({ centralDp: { noiseMultiplier: 1, clipNorm: 1 } }, { strategy: 'krum', learners: 10 }).problems).toEqual([
      'privacy.centralDp: needs a strategy that averages updates (fedavg, fedprox, fedavgm, fedadagrad, fedadam, fedyogi), not krum',
    ]);
    expect(validatePrivacy({ centralDp: { noiseMultiplier: 1, clipping: 'adaptive' } }, { strategy: 'fedavg', learners: 10 }).problems).toEqual([
      expect.stringMatching(/^privacy\.centralDp\.noiseMultiplier: adaptive clipping needs noiseMultiplier below 2 · clippedCountStddev \(1\)/),
    ]);
    expect(validatePrivacy({ centralDp: { noiseMultiplier: 1, clipping: 'adaptive', clippedCountStddev: 2 } }, { strategy: 'fedavg', learners: 10 }).problems).toEqual([]);
    expect(validatePrivacy({ secureAggregation: { maxDropouts: 5 } }, { strategy: 'fedavg', learners: 10 }).problems).toEqual([
      "privacy.secureAggregation.maxDropouts: with 9 neighbours per learner at most 4 may drop out (a majority of each learner's neighbours must answer)",
    ]);
    expect(validatePrivacy({ secureAggregation: { quantizationRange: 2 ** 30 } }, { strategy: 'fedavg', learners: 10 }).problems).toEqual([
      'privacy.secureAggregation.quantizationRange: learners × quantizationRange must be below 2^32 (at most 429496729)',
    ]);
    expect(validatePrivacy({ secureAggregation: {}, extra: 1 }, { strategy: 'fedavg', learners: 5 }).problems).toEqual(['privacy.extra: property extra should not exist']);
    expect(validatePrivacy({ secureAggregation: {} }, { strategy: 'fedavg', learners: 2 }).problems).toEqual(['privacy.secureAggregation: needs at least 3 learners']);
  });
});
