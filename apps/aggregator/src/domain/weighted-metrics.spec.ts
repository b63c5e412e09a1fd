import { InvalidWeightError } from './aggregation-errors';
import { weightedMean } from './weighted-metrics';

describe('weightedMean', () => {
  it('weights each metric by the entry weight (weights 1 and 3)', () => {
    const result = weightedMean([
      { weight: 1, metrics: { loss: 1, accuracy: 0.5 } },
      { weight: 3, metrics: { loss: 3, accuracy: 0.9 } },
    ]);
    expect(result.loss).toBe(2.5); // (1 + 9) / 4
    expect(result.accuracy).toBeCloseTo(0.8, 12); // (0.5 + 2.7) / 4
    expect(Object.keys(result)).toEqual(['loss', 'accuracy']);
  });

  it('is the plain mean for equal weights', () => {
    expect(weightedMean([1, 2, 6].map((loss) => ({ weight: 50, metrics: { loss } })))).toEqual({ loss: 3 });
  });

  it('averages each key only over the entries that report it', () => {
    const result = weightedMean([
      { weight: 2, metrics: { loss: 4 } },
      { weight: 1, metrics: { loss: 1, accuracy: 0.75 } },
      { weight: 5, metrics: { f1: 0.5 } },
    ]);
    expect(result).toEqual({ loss: 3, accuracy: 0.75, f1: 0.5 }); // loss: (8 + 1) / 3
  });

  it('ignores non-finite metric values instead of letting them poison the mean', () => {
    const result = weightedMean([
      { weight: 10, metrics: { loss: NaN, accuracy: 0.5 } },
      { weight: 1, metrics: { loss: 2, accuracy: Infinity } },
      { weight: 1, metrics: { loss: -Infinity, accuracy: 1 } },
      { weight: 1, metrics: { loss: 'x' as unknown as number } },
    ]);
    expect(result).toEqual({ loss: 2, accuracy: (10 * 0.5 + 1 * 1) / 11 });
  });

  it('omits a metric that no entry reports with a finite value', () => {
    expect(weightedMean([{ weight: 1, metrics: { loss: NaN } }])).toEqual({});
  });

  it('lets zero-weight entries contribute nothing', () => {
    const result = weightedMean([
      { weight: 0, metrics: { loss: 100, onlyHere: 1 } },
      { weight: 4, metrics: { loss: 2 } },
    ]);
    expect(result).toEqual({ loss: 2 });
    expect(weightedMean([{ weight: 0, metrics: { loss: 1 } }])).toEqual({});
  });

  it('returns an empty object for no entries or no metrics', () => {
    expect(weightedMean([])).toEqual({});
    expect(weightedMean([{ weight: 3, metrics: {} }])).toEqual({});
  });

  it('accepts fractional weights', () => {
    expect(weightedMean([
      { weight: 0.5, metrics: { loss: 1 } },
      { weight: 1.5, metrics: { loss: 3 } },
    ])).toEqual({ loss: 2.5 });
  });

  it.each([-1, NaN, Infinity, -Infinity, undefined as unknown as number])('rejects weight %p', (weight) => {
    const entries = [
      { weight: 1, metrics: { loss: 1 } },
      { weight, metrics: { loss: 2 } },
    ];
    expect(() => weightedMean(entries)).toThrow(InvalidWeightError);
    expect(() => weightedMean(entries)).toThrow(/metrics entry #1 has weight/);
  });

  it('treats keys like "__proto__" as ordinary metric names', () => {
    const metrics = JSON.parse('{"__proto__": 2, "constructor": 3}') as Record<string, number>;
    const result = weightedMean([{ weight: 1, metrics }]);
    expect(Object.getPrototypeOf(result)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(result, '__proto__')?.value).toBe(2);
    expect(Object.getOwnPropertyDescriptor(result, 'constructor')?.value).toBe(3);
  });

  it('does not modify its input', () => {
    const entries = [{ weight: 2, metrics: { loss: 1 } }];
    const copy = structuredClone(entries);
    weightedMean(entries);
    expect(entries).toEqual(copy);
  });
});
