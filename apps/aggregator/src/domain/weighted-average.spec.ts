import { MAX_UPDATE_NUM_SAMPLES } from '@flops/contracts';
import { NamedTensor, TensorCodecError, TensorLayout } from '@flops/tensor-codec';
import {
  AggregationError,
  EmptyAggregationError,
  IncompatibleUpdateError,
  InvalidWeightError,
  NonFiniteUpdateError,
} from './aggregation-errors';
import { WeightedAverage } from './weighted-average';

const layout: TensorLayout = [
  { name: 'dense/kernel', shape: [2, 2] },
  { name: 'dense/bias', shape: [2] },
];

function update(kernel: number[], bias: number[]): NamedTensor[] {
  return [
    { name: 'dense/kernel', shape: [2, 2], values: Float32Array.from(kernel) },
    { name: 'dense/bias', shape: [2], values: Float32Array.from(bias) },
  ];
}

function valuesOf(tensors: readonly NamedTensor[]): number[][] {
  return tensors.map((t) => Array.from(t.values));
}

/** Deterministic pseudo-random numbers (mulberry32), so failures are reproducible. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('WeightedAverage arithmetic', () => {
  it('computes FedAvg for hand-checked values (weights 1 and 3)', () => {
    const average = new WeightedAverage(layout);
    average.add(update([1, 2, 3, 4], [0, 10]), 1);
    average.add(update([5, 6, 7, 8], [4, -2]), 3);
    // kernel: (1·1 + 3·5)/4 = 4, (2 + 18)/4 = 5, (3 + 21)/4 = 6, (4 + 24)/4 = 7; bias: 12/4 = 3, (10 − 6)/4 = 1
    expect(valuesOf(average.result())).toEqual([
      [4, 5, 6, 7],
      [3, 1],
    ]);
    expect(average.count).toBe(2);
    expect(average.totalWeight).toBe(4);
  });

  it('returns tensors with the layout names and shapes, as float32', () => {
    const average = new WeightedAverage(layout);
    average.add(update([1, 2, 3, 4], [5, 6]), 2);
    const result = average.result();
    expect(result.map(({ name, shape }) => ({ name, shape }))).toEqual(layout);
    for (const tensor of result) expect(tensor.values).toBeInstanceOf(Float32Array);
  });

  it.each([1, 7, 0.25])('is the plain mean when all weights are equal (%p)', (weight) => {
    const average = new WeightedAverage(layout);
    average.add(update([1, 2, 3, 4], [1, 1]), weight);
    average.add(update([3, 2, 1, 0], [2, 2]), weight);
    average.add(update([2, 5, 8, 11], [6, 0]), weight);
    expect(valuesOf(average.result())).toEqual([
      [2, 3, 4, 5],
      [3, 1],
    ]);
  });

  it('returns a single update unchanged, bit for bit, whatever its weight', () => {
    const next = random(1);
    const kernel = Array.from({ length: 4 }, () => Math.fround((next() - 0.5) * 100));
    const bias = [Math.fround(Math.PI), -0];
    for (const weight of [1, 3, 37, 0.1, 1e6]) {
      const average = new WeightedAverage(layout);
      average.add(update(kernel, bias), weight);
      expect(valuesOf(average.result())).toEqual([kernel, [bias[0], 0]]);
    }
  });

  it('does not depend on the order updates arrive in', () => {
    // Small integers and integer weights keep every float64 operation exact, so any order must give identical bits.
    const updates = [
      { tensors: update([1, -2, 3, 4], [5, 0]), weight: 10 },
      { tensors: update([7, 7, -1, 0], [2, 9]), weight: 1 },
      { tensors: update([0, 3, 3, 8], [-4, 1]), weight: 25 },
      { tensors: update([9, 1, 2, 6], [6, 6]), weight: 4 },
    ];
    const orders = [
      [0, 1, 2, 3],
      [3, 2, 1, 0],
      [2, 0, 3, 1],
      [1, 3, 0, 2],
    ];
    const results = orders.map((order) => {
      const average = new WeightedAverage(layout);
      for (const i of order) average.add(updates[i].tensors, updates[i].weight);
      return valuesOf(average.result());
    });
    for (const result of results) expect(result).toEqual(results[0]);
  });

  it('stays exact over 10,000 small updates where float32 accumulation would drift', () => {
    const single: TensorLayout = [{ name: 'w', shape: [1] }];
    const tenth = Math.fround(0.1);
    const average = new WeightedAverage(single);
    let float32Sum = 0;
    for (let i = 0; i < 10_000; i++) {
      average.add([{ name: 'w', shape: [1], values: Float32Array.of(tenth) }], 1);
      float32Sum = Math.fround(float32Sum + tenth);
    }
    expect(average.result()[0].values[0]).toBe(tenth);
    expect(average.totalWeight).toBe(10_000);
    // The test is sensitive: a float32 accumulator gets this wrong.
    expect(Math.fround(float32Sum / 10_000)).not.toBe(tenth);
  });

  it('matches a compensated float64 reference to within one float32 ulp over 10,000 weighted updates', () => {
    const size = 64;
    const single: TensorLayout = [{ name: 'w', shape: [size] }];
    const next = random(42);
    const average = new WeightedAverage(single);
    // Neumaier-compensated reference sums, independent of the implementation's plain summation.
    const sums = new Float64Array(size);
    const compensation = new Float64Array(size);
    let totalWeight = 0;
    for (let i = 0; i < 10_000; i++) {
      const weight = 1 + Math.floor(next() * 500); // sample counts
      const values = Float32Array.from({ length: size }, () => (next() - 0.3) * 1e-3);
      average.add([{ name: 'w', shape: [size], values }], weight);
      totalWeight += weight;
      values.forEach((value, k) => {
        const term = weight * value;
        const total = sums[k] + term;
        compensation[k] += Math.abs(sums[k]) >= Math.abs(term) ? sums[k] - total + term : term - total + sums[k];
        sums[k] = total;
      });
    }
    const result = average.result()[0].values;
    for (let k = 0; k < size; k++) {
      const reference = (sums[k] + compensation[k]) / totalWeight;
      const float32Ulp = Math.abs(reference) * 2 ** -23;
      expect(Math.abs(result[k] - reference)).toBeLessThanOrEqual(float32Ulp);
    }
  });

  it('handles scalars, empty tensors and an empty layout', () => {
    const odd: TensorLayout = [
      { name: 'scalar', shape: [] },
      { name: 'nothing', shape: [0, 3] },
    ];
    const average = new WeightedAverage(odd);
    average.add([{ name: 'scalar', shape: [], values: Float32Array.of(2) }, { name: 'nothing', shape: [0, 3], values: new Float32Array(0) }], 1);
    average.add([{ name: 'scalar', shape: [], values: Float32Array.of(6) }, { name: 'nothing', shape: [0, 3], values: new Float32Array(0) }], 1);
    expect(valuesOf(average.result())).toEqual([[4], []]);

    const empty = new WeightedAverage([]);
    empty.add([], 5);
    expect(empty.result()).toEqual([]);
  });
});

describe('WeightedAverage state', () => {
  it('starts empty and refuses to produce a result before any add', () => {
    const average = new WeightedAverage(layout);
    expect(average.count).toBe(0);
    expect(average.totalWeight).toBe(0);
    expect(() => average.result()).toThrow(EmptyAggregationError);
    expect(() => average.result()).toThrow(/before any update has been added/);
  });

  it('reset forgets all updates and can be reused', () => {
    const average = new WeightedAverage(layout);
    average.add(update([100, 100, 100, 100], [100, 100]), 9);
    average.reset();
    expect(average.count).toBe(0);
    expect(average.totalWeight).toBe(0);
    expect(() => average.result()).toThrow(EmptyAggregationError);
    average.add(update([1, 2, 3, 4], [5, 6]), 2);
    expect(valuesOf(average.result())).toEqual([
      [1, 2, 3, 4],
      [5, 6],
    ]);
  });

  it('keeps its own copies: changing inputs or results later does not affect the sum', () => {
    const shape = [2, 2];
    const ownLayout: TensorLayout = [{ name: 'dense/kernel', shape }, layout[1]];
    const average = new WeightedAverage(ownLayout);
    shape[0] = 4;
    expect(average.layout).toEqual(layout);

    const input = update([1, 2, 3, 4], [5, 6]);
    average.add(input, 1);
    input[0].values[0] = 1000;
    const first = average.result();
    first[1].values[0] = -1;
    first[1].shape.push(7);
    expect(valuesOf(average.result())).toEqual([
      [1, 2, 3, 4],
      [5, 6],
    ]);
    expect(average.result()[1].shape).toEqual([2]);
  });

  it('rejects an invalid layout', () => {
    expect(() => new WeightedAverage([{ name: 'a', shape: [1] }, { name: 'a', shape: [1] }])).toThrow(TensorCodecError);
    expect(() => new WeightedAverage([{ name: 'a', shape: [-1] }])).toThrow(TensorCodecError);
  });
});

describe('WeightedAverage rejects incompatible updates', () => {
  const kernel = (shape = [2, 2], values = new Float32Array(4), name = 'dense/kernel'): NamedTensor => ({ name, shape, values });
  const bias = (shape = [2], values = new Float32Array(2), name = 'dense/bias'): NamedTensor => ({ name, shape, values });

  it.each<[string, NamedTensor[], RegExp]>([
    ['a renamed tensor', [kernel(), bias([2], new Float32Array(2), 'dense/b')], /update tensor #1 is "dense\/b" but the model expects "dense\/bias" there/],
    ['tensors in the wrong order', [bias(), kernel()], /update tensor #0 is "dense\/bias" but the model expects "dense\/kernel"/],
    ['a different shape', [kernel([4, 1]), bias()], /tensor "dense\/kernel" has shape \[4, 1\] but the model expects \[2, 2\]/],
    ['a different rank', [kernel([4]), bias()], /tensor "dense\/kernel" has shape \[4\] but the model expects \[2, 2\]/],
    ['a missing tensor', [kernel()], /update is missing tensor "dense\/bias" \[2\]: it has 1 tensors, the model 2/],
    ['no tensors at all', [], /update is missing tensor "dense\/kernel" \[2, 2\]: it has 0 tensors/],
    ['an extra tensor', [kernel(), bias(), bias([2], new Float32Array(2), 'extra')], /unexpected extra tensor "extra": it has 3 tensors, the model 2/],
    ['values not matching the shape', [kernel([2, 2], new Float32Array(3)), bias()], /tensor "dense\/kernel" has 3 values but shape \[2, 2\] needs 4/],
  ])('rejects %s', (_label, tensors, message) => {
    const average = new WeightedAverage(layout);
    average.add(update([1, 1, 1, 1], [1, 1]), 1);
    expect(() => average.add(tensors, 1)).toThrow(IncompatibleUpdateError);
    expect(() => average.add(tensors, 1)).toThrow(message);
    expect(average.count).toBe(1);
    expect(valuesOf(average.result())).toEqual([
      [1, 1, 1, 1],
      [1, 1],
    ]);
  });
});

describe('WeightedAverage rejects poisoned updates and weights', () => {
  function averageWithOneUpdate(): WeightedAverage {
    const average = new WeightedAverage(layout);
    average.add(update([1, 2, 3, 4], [5, 6]), 2);
    return average;
  }

  function expectUnchanged(average: WeightedAverage): void {
    expect(average.count).toBe(1);
    expect(average.totalWeight).toBe(2);
    expect(valuesOf(average.result())).toEqual([
      [1, 2, 3, 4],
      [5, 6],
    ]);
  }

  it.each([NaN, Infinity, -Infinity])('rejects a %p value in a later tensor without adding any of the update', (bad) => {
    const average = averageWithOneUpdate();
    // The kernel is fine and comes first: it must not be added either.
    const poisoned = update([10, 10, 10, 10], [10, bad]);
    expect(() => average.add(poisoned, 1)).toThrow(NonFiniteUpdateError);
    expect(() => average.add(poisoned, 1)).toThrow(new RegExp(`tensor "dense/bias" has a non-finite value \\(${bad}\\) at index 1`));
    expectUnchanged(average);
  });

  it('cannot overflow: the largest float32 values at the largest weight stay finite in the sum', () => {
    const average = new WeightedAverage(layout);
    const largest = Math.fround(3.4e38);
    for (let i = 0; i < 1000; i++) average.add(update([largest, -largest, 0, 0], [0, 0]), MAX_UPDATE_NUM_SAMPLES);
    expect(valuesOf(average.result())[0]).toEqual([largest, -largest, 0, 0]);
  });

  it.each([0, -0, -1, NaN, Infinity, -Infinity, '3' as unknown as number, MAX_UPDATE_NUM_SAMPLES + 1, 1e300])('rejects weight %p', (weight) => {
    const average = averageWithOneUpdate();
    expect(() => average.add(update([9, 9, 9, 9], [9, 9]), weight)).toThrow(InvalidWeightError);
    expect(() => average.add(update([9, 9, 9, 9], [9, 9]), weight)).toThrow(/weight must be a finite number greater than 0/);
    expectUnchanged(average);
  });

  it('uses error classes the API layer can catch as one family', () => {
    const average = new WeightedAverage(layout);
    const failures = [
      () => average.result(),
      () => average.add([], 1),
      () => average.add(update([NaN, 0, 0, 0], [0, 0]), 1),
      () => average.add(update([0, 0, 0, 0], [0, 0]), 0),
    ];
    for (const failure of failures) expect(failure).toThrow(AggregationError);
  });
});
