import { CentralDpConfig, validatePrivacy, validateStrategy } from '@flops/contracts';
import { AggregationEngine } from '../engine';
import { CentralDp } from './central-dp';
import { SeededRandom } from './random';
import { RdpAccountant, logErfc } from './rdp-accountant';

const SIZE = 20_000;

function engine(dp: Record<string, unknown>, learners: number, seed = 'noise', strategy = 'fedavg'): AggregationEngine {
  const centralDp = validatePrivacy({ centralDp: dp }, { strategy: 'fedavg', learners }).value!.centralDp as CentralDpConfig;
  return new AggregationEngine({
    layout: [{ name: 'w', shape: [SIZE] }],
    strategy: validateStrategy(strategy, {}, { minLearnersPerRound: 1, learners }).value!,
    learners,
    centralDp,
    random: new SeededRandom(seed),
  });
}

function offerAll(e: AggregationEngine, round: number, global: Float32Array, updates: Float32Array[]): ReturnType<ReturnType<AggregationEngine['beginRound']>['finish']> {
  const r = e.beginRound(round, global);
  updates.forEach((values, k) => r.offer({ learnerId: `l${k}`, numSamples: 1 + k, tensors: [{ name: 'w', shape: [SIZE], values }] }));
  return r.finish();
}

describe('central differential privacy', () => {
  it('adds Gaussian noise of standard deviation z·C/m to the mean', () => {
    const global = new Float32Array(SIZE);
    const result = offerAll(engine({ noiseMultiplier: 1.5, clipNorm: 2 }, 10), 1, global, Array.from({ length: 10 }, () => new Float32Array(SIZE)));
    const values = [...result.model];
    const mean = values.reduce((s, v) => s + v, 0) / SIZE;
    const std = Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / SIZE);
    expect(std).toBeGreaterThan(0.3 * 0.98);
    expect(std).toBeLessThan(0.3 * 1.02);
    expect(Math.abs(mean)).toBeLessThan(0.01);
    expect(result.report).toMatchObject({ clipNorm: 2, noiseStddev: 3, delta: 1e-5 });
  });

  it('clips every update to C and weighs learners alike, whatever their sample counts', () => {
    const global = new Float32Array(SIZE);
    const far = new Float32Array(SIZE).fill(1); // norm √20000 ≈ 141, clipped to 1: every value 1/141
    const near = new Float32Array(SIZE).fill(0.001); // norm 0.141: kept
    const result = offerAll(engine({ noiseMultiplier: 0, clipNorm: 1, expectedLearnersPerRound: 2 }, 2), 1, global, [far, near]);
    const clippedValue = 1 / Math.sqrt(SIZE);
    expect(result.model[0]).toBeCloseTo((clippedValue + 0.001) / 2, 7);
    expect(result.report.epsilonTotal).toBe(Infinity); // no noise, no privacy: said plainly
  });

  it('divides by the expected number of learners, so how many arrived is not released', () => {
    const global = new Float32Array(SIZE);
    const update = new Float32Array(SIZE).fill(0.001);
    const result = offerAll(engine({ noiseMultiplier: 0, clipNorm: 1, expectedLearnersPerRound: 4 }, 4), 1, global, [update, update]);
    expect(result.model[0]).toBeCloseTo(0.0005, 9);
  });

  it('adaptive clipping follows the target quantile of the update norms (Andrew et al.)', () => {
    const learners = 20;
    const e = engine({ noiseMultiplier: 0, clipping: 'adaptive', clipNorm: 0.1, targetUnclippedQuantile: 0.5, clipLearningRate: 0.2 }, learners);
    const global = new Float32Array(SIZE);
    // Update norms 1, 2, …, 20: the median is 10.5.
    const updates = Array.from({ length: learners }, (_, k) => new Float32Array(SIZE).fill((k + 1) / Math.sqrt(SIZE)));
    let clip = 0.1;
    for (let round = 1; round <= 150; round++) clip = (offerAll(e, round, global, updates).report.clipNorm as number) ?? clip;
    const next = (e.strategy as CentralDp).currentClipNorm;
    expect(next).toBeGreaterThan(9.5);
    expect(next).toBeLessThan(11.5);
  });

  it('reports ε per round and in total, growing with rounds, and keeps them across a checkpoint', () => {
    const e = engine({ noiseMultiplier: 1.1, clipNorm: 1, delta: 1e-5 }, 5);
    const global = new Float32Array(SIZE);
    const updates = Array.from({ length: 5 }, () => new Float32Array(SIZE));
    const first = offerAll(e, 1, global, updates).report;
    const second = offerAll(e, 2, global, updates).report;
    expect(second.epsilonRound).toBeCloseTo(first.epsilonRound as number, 12);
    expect(second.epsilonTotal).toBeGreaterThan(first.epsilonTotal as number);
    const restored = engine({ noiseMultiplier: 1.1, clipNorm: 1, delta: 1e-5 }, 5, 'other');
    restored.restoreState(e.exportState());
    const third = offerAll(restored, 3, global, updates).report;
    const reference = new RdpAccountant();
    reference.composeGaussian(1.1, 1, 3);
    expect(third.epsilonTotal).toBeCloseTo(reference.epsilon(1e-5).epsilon, 12);
  });
});

describe('RDP accountant', () => {
  it('ε shrinks with more noise and with subsampling, grows with rounds', () => {
    const eps = (z: number, q: number, steps: number): number => {
      const a = new RdpAccountant();
      a.composeGaussian(z, q, steps);
      return a.epsilon(1e-5).epsilon;
    };
    expect(eps(2, 1, 10)).toBeLessThan(eps(1, 1, 10));
    expect(eps(1, 0.1, 10)).toBeLessThan(eps(1, 1, 10));
    expect(eps(1, 1, 100)).toBeGreaterThan(eps(1, 1, 10));
    expect(eps(1, 0, 10)).toBe(0);
  });

  it('without subsampling, one round at order α spends α / (2z²)', () => {
    const a = new RdpAccountant([2, 8, 32]);
    a.composeGaussian(2, 1, 3);
    expect([...a.spent()]).toEqual([3 * (2 / 8), 3 * (8 / 8), 3 * (32 / 8)]);
  });

  it('log erfc is accurate from the centre to the far tail', () => {
    // Reference values of log(erfc(x)), from CPython's math.erfc.
    expect(logErfc(0)).toBeCloseTo(0, 14);
    expect(logErfc(0.5)).toBeCloseTo(-0.7350111298370844, 13);
    expect(logErfc(1.9)).toBeCloseTo(-4.932345862780269, 12);
    expect(logErfc(2.5)).toBeCloseTo(-7.806815272727264, 12);
    expect(logErfc(10)).toBeCloseTo(-102.87988902484489, 11);
    // The asymptotic series at infinity: −x² − log(x√π) − 1/(2x²) + 5/(8x⁴) − 37/(24x⁶) + …
    expect(logErfc(30)).toBeCloseTo(-900 - Math.log(30 * Math.sqrt(Math.PI)) - 1 / 1800 + 0.625 / 30 ** 4 - 37 / 24 / 30 ** 6, 10);
    expect(logErfc(-1)).toBeCloseTo(Math.log(1.842700792949715), 13);
  });
});
