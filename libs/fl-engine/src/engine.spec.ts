import { ENGINE_STRATEGIES, EngineStrategyName, MAX_UPDATE_NUM_SAMPLES, SCAFFOLD_STEP_SIZE_SUM_KEY, StrategyChoice, validateStrategy } from '@flops/contracts';
import type { NamedTensor } from '@flops/tensor-codec';
import { AggregationEngine, EngineSettings } from './engine';
import { InsufficientUpdatesError, StrategyStateError, UpdateRefusedError } from './errors';
import { ScalarFoldKernel } from './kernels/fold-kernel';
import { SeededRandom } from './privacy/random';
import { LearnerUpdate } from './robustness/update-guard';

const LAYOUT = [
  { name: 'kernel', shape: [6, 4] },
  { name: 'bias', shape: [4] },
];
const SIZE = 28;

function choice(name: EngineStrategyName, params: Record<string, unknown> = {}, n = 7): StrategyChoice {
  const { value, problems } = validateStrategy(name, params, { minLearnersPerRound: n, learners: n });
  if (!value) throw new Error(problems.join('; '));
  return value;
}

function engine(name: EngineStrategyName, params: Record<string, unknown> = {}, extra: Partial<EngineSettings> = {}): AggregationEngine {
  return new AggregationEngine({ layout: LAYOUT, strategy: choice(name, params), learners: 7, ...extra });
}

function tensors(flat: Float32Array): NamedTensor[] {
  return [
    { name: 'kernel', shape: [6, 4], values: flat.subarray(0, 24) },
    { name: 'bias', shape: [4], values: flat.subarray(24) },
  ];
}

function vector(random: SeededRandom, scale: number, around?: Float32Array): Float32Array {
  const v = new Float64Array(SIZE);
  random.addGaussian(v, scale);
  return Float32Array.from(v, (x, i) => x + (around?.[i] ?? 0));
}

function update(learnerId: string, values: Float32Array, numSamples = 10, extra: Partial<LearnerUpdate> = {}): LearnerUpdate {
  return { learnerId, numSamples, tensors: tensors(values), metrics: { loss: 0.5 }, meta: { [SCAFFOLD_STEP_SIZE_SUM_KEY]: 0.1 }, ...extra };
}

const PARAMS: Partial<Record<EngineStrategyName, Record<string, unknown>>> = {
  fedprox: { proximalMu: 0.01 },
  fedavgm: { serverMomentum: 0.9 },
  qfedavg: { clientLearningRate: 0.1 },
  krum: { numMalicious: 1 },
  multikrum: { numMalicious: 1, numToSelect: 3 },
  bulyan: { numMalicious: 1 },
};

describe('AggregationEngine', () => {
  it('averages by sample count, in float64, rounding once', () => {
    const e = engine('fedavg');
    const round = e.beginRound(1, new Float32Array(SIZE));
    round.offer(update('a', new Float32Array(SIZE).fill(1), 1));
    round.offer(update('b', new Float32Array(SIZE).fill(4), 2));
    expect([...round.finish().model]).toEqual(new Array(SIZE).fill(3));
  });

  it('refuses a bad update before it touches the aggregate, and counts it against its learner', () => {
    const e = engine('fedavg', {}, { guard: { maxUpdateNorm: 1 } });
    const global = new Float32Array(SIZE);
    const round = e.beginRound(3, global);
    round.offer(update('good', new Float32Array(SIZE).fill(0.1)));
    const nan = new Float32Array(SIZE).fill(0.1);
    nan[26] = NaN;
    const refusals: [LearnerUpdate, string, RegExp][] = [
      [update('nan', nan), 'non-finite', /tensor "bias" has a non-finite value \(NaN\) at index 2/],
      [update('inf', new Float32Array(SIZE).fill(Infinity)), 'non-finite', /non-finite value \(Infinity\)/],
      [update('far', new Float32Array(SIZE).fill(1)), 'norm-bound', /moves the model by 5.29150 \(L2\), more than the bound 1/],
      [update('shape', new Float32Array(SIZE), 10, { tensors: [{ name: 'kernel', shape: [4, 6], values: new Float32Array(24) }, { name: 'bias', shape: [4], values: new Float32Array(4) }] }), 'layout', /shape \[4, 6\] but the model expects \[6, 4\]/],
      [update('names', new Float32Array(SIZE), 10, { tensors: [{ name: 'bias', shape: [4], values: new Float32Array(4) }, { name: 'kernel', shape: [6, 4], values: new Float32Array(24) }] }), 'layout', /is "bias" but the model expects "kernel"/],
      [update('count', new Float32Array(SIZE), 10, { tensors: tensors(new Float32Array(SIZE)).slice(0, 1) }), 'layout', /update has 1 tensors, the model 2/],
      [update('zero', new Float32Array(SIZE), 0), 'num-samples', /numSamples must be an integer from 1 to 4294967296/],
      [update('huge', new Float32Array(SIZE), MAX_UPDATE_NUM_SAMPLES + 1), 'num-samples', /numSamples/],
      [update('good', new Float32Array(SIZE)), 'strategy', /good already sent an update in round 3/],
    ];
    for (const [bad, reason, message] of refusals) {
      let error: unknown;
      try {
        round.offer(bad);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(UpdateRefusedError);
      expect({ reason: (error as UpdateRefusedError).reason, message: (error as Error).message }).toEqual({ reason, message: expect.stringMatching(message) });
    }
    expect([...round.finish().model].every((v) => Math.abs(v - 0.1) < 1e-7)).toBe(true);
    expect(e.refusals.of('nan')).toEqual({ total: 1, byReason: { 'non-finite': 1 }, last: { round: 3, reason: 'non-finite', message: expect.any(String) } });
    expect(Object.keys(e.refusals.snapshot())).toEqual(['count', 'far', 'good', 'huge', 'inf', 'names', 'nan', 'shape', 'zero']);
    expect(e.refusals.total).toBe(9);
  });

  it.each(ENGINE_STRATEGIES)('%s: an empty round cannot be finished, a finished or superseded one not used', (name) => {
    const e = engine(name, PARAMS[name]);
    const first = e.beginRound(1, new Float32Array(SIZE));
    expect(() => first.finish()).toThrow(InsufficientUpdatesError);
    ['a', 'b', 'c', 'd', 'e', 'f', 'g'].forEach((id) => first.offer(update(id, new Float32Array(SIZE).fill(0.5))));
    first.finish();
    expect(() => first.finish()).toThrow(/already finished/);
    expect(() => first.offer(update('h', new Float32Array(SIZE)))).toThrow(/already finished/);
    const second = e.beginRound(2, new Float32Array(SIZE));
    e.beginRound(3, new Float32Array(SIZE));
    expect(() => second.offer(update('a', new Float32Array(SIZE)))).toThrow(/superseded/);
  });

  it.each(ENGINE_STRATEGIES)('%s: exported state restored into a fresh engine continues exactly as the original', (name) => {
    const random = new SeededRandom(name);
    let global = vector(random, 1);
    const original = engine(name, PARAMS[name]);
    let state = original.exportState();
    for (let round = 1; round <= 3; round++) {
      const updates = ['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((id, k) => update(id, vector(random, 0.1, global), 5 + k, { metrics: { loss: 0.2 + k / 10 } }));
      const a = original.beginRound(round, global);
      const restored = engine(name, PARAMS[name]);
      restored.restoreState(state);
      const b = restored.beginRound(round, global);
      updates.forEach((u) => {
        a.offer(u);
        b.offer(u);
      });
      const [ra, rb] = [a.finish(), b.finish()];
      expect(Buffer.from(rb.model.buffer)).toEqual(Buffer.from(ra.model.buffer));
      state = original.exportState();
      expect(restored.exportState()).toEqual(state);
      global = ra.model;
    }
  });

  it('refuses state of another strategy or model, changing nothing', () => {
    const adam = engine('fedadam');
    const r = adam.beginRound(1, new Float32Array(SIZE));
    r.offer(update('a', new Float32Array(SIZE).fill(1)));
    r.finish();
    const state = adam.exportState();
    expect(() => engine('fedyogi').restoreState(state)).toThrow(StrategyStateError);
    const other = new AggregationEngine({ layout: [{ name: 'kernel', shape: [28] }], strategy: choice('fedadam'), learners: 7 });
    expect(() => other.restoreState(state)).toThrow(/another layout/);
    expect(() => engine('fedadam').restoreState(Buffer.from('nope'))).toThrow();
  });

  it('streaming strategies hold memory flat in the number of learners; buffered ones say what they hold', () => {
    for (const name of ['fedavg', 'fedadam', 'qfedavg'] as const) expect(engine(name, PARAMS[name]).memoryBytes(1000)).toBe(engine(name, PARAMS[name]).memoryBytes(2));
    expect(engine('fedavg').memoryBytes(10)).toBe(SIZE * 8);
    expect(engine('fedadam').memoryBytes(10)).toBe(SIZE * 16);
    expect(engine('fedmedian').memoryBytes(10)).toBe(10 * SIZE * 4);
  });

  it('the scalar kernel gives the very same models as WebAssembly SIMD', () => {
    for (const name of ENGINE_STRATEGIES) {
      const random = new SeededRandom(`k-${name}`);
      const global = vector(random, 1);
      const updates = ['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((id, k) => update(id, vector(random, 0.1, global), 3 + k));
      const [simd, scalar] = [undefined, new ScalarFoldKernel()].map((kernel) => {
        const round = engine(name, PARAMS[name], { kernel }).beginRound(1, global);
        updates.forEach((u) => round.offer(u));
        return round.finish().model;
      });
      expect({ name, model: [...scalar] }).toEqual({ name, model: [...simd] });
    }
  });
});

describe('robust strategies against a poisoned learner', () => {
  // Three honest learners near the optimum and one that sends a sign-flipped model scaled by 100.
  const random = new SeededRandom('poison');
  const optimum = vector(random, 1);
  const honest = ['h1', 'h2', 'h3'].map((id) => update(id, vector(random, 0.01, optimum), 100));
  const poisoned = update('evil', Float32Array.from(optimum, (v) => -100 * v), 100);
  const distance = (model: Float32Array): number => Math.sqrt(model.reduce((s, v, i) => s + (v - optimum[i]) ** 2, 0));
  const run = (name: EngineStrategyName, params: Record<string, unknown> = {}, n = 4): number => {
    const e = new AggregationEngine({ layout: LAYOUT, strategy: choice(name, params, n), learners: n });
    const round = e.beginRound(1, optimum);
    [...honest, poisoned].forEach((u) => round.offer(u));
    return distance(round.finish().model);
  };
  const honestSpread = Math.max(...honest.map((u) => distance(Float32Array.from(u.tensors.flatMap((t) => [...t.values])))));

  it('FedAvg is dragged far away', () => {
    expect(run('fedavg')).toBeGreaterThan(100 * honestSpread);
  });

  it.each([['krum', { numMalicious: 1 }], ['multikrum', { numMalicious: 1, numToSelect: 2 }], ['fedmedian', {}], ['fedtrimmedavg', { beta: 0.25 }]] as const)('%s stays with the honest learners', (name, params) => {
    expect(run(name, params)).toBeLessThanOrEqual(honestSpread);
  });

  it('Bulyan (n ≥ 4f + 3) stays with the honest learners', () => {
    const more = ['h4', 'h5', 'h6'].map((id) => update(id, vector(random, 0.01, optimum), 100));
    const e = new AggregationEngine({ layout: LAYOUT, strategy: choice('bulyan', { numMalicious: 1 }), learners: 7 });
    const round = e.beginRound(1, optimum);
    [...honest, ...more, poisoned].forEach((u) => round.offer(u));
    const result = round.finish();
    expect(distance(result.model)).toBeLessThanOrEqual(honestSpread);
    expect(result.report.selected).not.toContain('evil');
  });
});
