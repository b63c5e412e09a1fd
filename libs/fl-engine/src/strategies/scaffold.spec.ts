import { SCAFFOLD_STEP_SIZE_SUM_KEY, validateStrategy } from '@flops/contracts';
import { AggregationEngine } from '../engine';
import { SeededRandom } from '../privacy/random';

/**
 * Federated least squares with heterogeneous learners: f_i(x) = ½‖x − o_i‖²·s_i, with different optima o_i
 * and curvatures s_i. FedAvg with several local steps drifts to a biased point; SCAFFOLD's control variates
 * correct the drift and reach the optimum of Σ f_i (Karimireddy et al., Theorem III and Figure 2).
 */
const D = 8;
const LEARNERS = ['l0', 'l1', 'l2', 'l3', 'l4'];
const random = new SeededRandom('scaffold');
const optima = LEARNERS.map(() => {
  const o = new Float64Array(D);
  random.addGaussian(o, 3);
  return o;
});
const curvature = [0.2, 0.5, 1, 2, 4];
const optimum = Float64Array.from({ length: D }, (_, j) => optima.reduce((s, o, i) => s + curvature[i] * o[j], 0) / curvature.reduce((a, b) => a + b, 0));

/** K local gradient steps of size η from x, with an optional correction added to every gradient. */
function localTraining(i: number, x: Float32Array, steps: number, lr: number, correction?: Float32Array): Float32Array {
  const y = Float64Array.from(x);
  for (let k = 0; k < steps; k++) for (let j = 0; j < D; j++) y[j] -= lr * (curvature[i] * (y[j] - optima[i][j]) + (correction?.[j] ?? 0));
  return Float32Array.from(y);
}

function train(strategy: 'fedavg' | 'scaffold', rounds: number): number {
  const choice = validateStrategy(strategy, {}, { minLearnersPerRound: LEARNERS.length, learners: LEARNERS.length }).value!;
  const engine = new AggregationEngine({ layout: [{ name: 'x', shape: [D] }], strategy: choice, learners: LEARNERS.length });
  let x: Float32Array = new Float32Array(D);
  const steps = 20;
  const lr = 0.1;
  for (let round = 1; round <= rounds; round++) {
    const r = engine.beginRound(round, x);
    LEARNERS.forEach((id, i) => {
      const correction = engine.correction(id)?.[0].values;
      expect(correction === undefined).toBe(strategy === 'fedavg');
      // Equal sample counts: FedAvg's weights then match SCAFFOLD's plain mean.
      r.offer({ learnerId: id, numSamples: 1, tensors: [{ name: 'x', shape: [D], values: localTraining(i, x, steps, lr, correction) }], meta: { [SCAFFOLD_STEP_SIZE_SUM_KEY]: steps * lr } });
    });
    x = r.finish().model;
  }
  return Math.sqrt(x.reduce((s, v, j) => s + (v - optimum[j]) ** 2, 0));
}

describe('SCAFFOLD', () => {
  it('removes the client drift that leaves FedAvg off the optimum', () => {
    const fedavg = train('fedavg', 60);
    const scaffold = train('scaffold', 60);
    expect(fedavg).toBeGreaterThan(0.5);
    expect(scaffold).toBeLessThan(1e-3);
  });

  it('keeps the control variates of option II: c_i⁺ = c_i − c + (x − y_i)/S_i, c ← c + Σ(c_i⁺ − c_i)/N', () => {
    const choice = validateStrategy('scaffold', { globalLearningRate: 0.5 }, { minLearnersPerRound: 2, learners: 4 }).value!;
    const engine = new AggregationEngine({ layout: [{ name: 'x', shape: [2] }], strategy: choice, learners: 4 });
    const x = Float32Array.of(1, 2);
    const round = engine.beginRound(1, x);
    round.offer({ learnerId: 'a', numSamples: 5, tensors: [{ name: 'x', shape: [2], values: Float32Array.of(0, 2) }], meta: { [SCAFFOLD_STEP_SIZE_SUM_KEY]: 0.5 } });
    round.offer({ learnerId: 'b', numSamples: 50, tensors: [{ name: 'x', shape: [2], values: Float32Array.of(1, 0) }], meta: { [SCAFFOLD_STEP_SIZE_SUM_KEY]: 2 } });
    expect(() => round.offer({ learnerId: 'c', numSamples: 1, tensors: [{ name: 'x', shape: [2], values: Float32Array.of(1, 0) }] })).toThrow(/scaffoldStepSizeSum/);
    // x + η_g·(mean(y) − x) = (1, 2) + 0.5·((0.5, 1) − (1, 2)), unweighted by sample count
    expect([...round.finish().model]).toEqual([0.75, 1.5]);
    // c_a = (x − y_a)/0.5 = (2, 0); c_b = (x − y_b)/2 = (0, 1); c = (Σ c_i)/N = (0.5, 0.25)
    expect([...engine.correction('a')![0].values]).toEqual([0.5 - 2, 0.25 - 0]);
    expect([...engine.correction('b')![0].values]).toEqual([0.5 - 0, 0.25 - 1]);
    expect([...engine.correction('never-trained')![0].values]).toEqual([0.5, 0.25]);
    expect(engine.fitHints('a')).toEqual({ scaffoldCorrection: true });
    expect(engine.refusals.of('c')?.byReason).toEqual({ strategy: 1 });
  });
});
