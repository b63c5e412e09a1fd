import {
  elementCount,
  formatShape,
  layoutDigest,
  NamedTensor,
  sameLayout,
  TensorCodecError,
  tensorLayoutOf,
  TensorLayout,
} from './index';

describe('elementCount', () => {
  it.each([
    [[], 1],
    [[0], 0],
    [[3], 3],
    [[2, 3, 4], 24],
    [[5, 0, 7], 0],
  ])('counts %p as %i elements', (shape, count) => {
    expect(elementCount(shape)).toBe(count);
  });

  it('rejects invalid dimensions and counts too large to be exact', () => {
    expect(() => elementCount([2, -1])).toThrow(TensorCodecError);
    expect(() => elementCount([2 ** 30, 2 ** 30])).toThrow(/too many elements/);
  });
});

describe('formatShape', () => {
  it('renders shapes for messages', () => {
    expect(formatShape([])).toBe('[]');
    expect(formatShape([2, 3])).toBe('[2, 3]');
  });
});

describe('tensorLayoutOf', () => {
  it('keeps names and shapes only, as copies', () => {
    const shape = [2, 2];
    const tensors: NamedTensor[] = [{ name: 'w', shape, values: new Float32Array(4) }];
    const layout = tensorLayoutOf(tensors);
    expect(layout).toEqual([{ name: 'w', shape: [2, 2] }]);
    shape[0] = 9;
    expect(layout[0].shape).toEqual([2, 2]);
  });

  it('validates names and dimensions', () => {
    expect(() => tensorLayoutOf([{ name: 'a', shape: [] }, { name: 'a', shape: [] }])).toThrow(/used more than once/);
    expect(() => tensorLayoutOf([{ name: '', shape: [] }])).toThrow(/non-empty string name/);
    expect(() => tensorLayoutOf([{ name: 'a', shape: [-1] }])).toThrow(/tensor "a": shape \[-1\] has an invalid dimension -1/);
    expect(() => tensorLayoutOf([{ name: 'a', shape: 3 as unknown as number[] }])).toThrow(/needs a shape array/);
  });
});

describe('sameLayout and layoutDigest', () => {
  const base: TensorLayout = [
    { name: 'kernel', shape: [2, 3] },
    { name: 'bias', shape: [3] },
  ];
  const variants: Record<string, TensorLayout> = {
    'a renamed tensor': [base[0], { name: 'b', shape: [3] }],
    'swapped order': [base[1], base[0]],
    'a different shape': [{ name: 'kernel', shape: [3, 2] }, base[1]],
    'a different rank': [{ name: 'kernel', shape: [6] }, base[1]],
    'a missing tensor': [base[0]],
    'an extra tensor': [...base, { name: 'extra', shape: [] }],
  };

  it('matches equal layouts, including fresh copies', () => {
    expect(sameLayout(base, tensorLayoutOf(base))).toBe(true);
    expect(sameLayout([], [])).toBe(true);
    expect(layoutDigest(base)).toBe(layoutDigest(tensorLayoutOf(base)));
    expect(layoutDigest(base)).toMatch(/^[0-9a-f]{64}$/);
  });

  it.each(Object.keys(variants))('tells apart %s', (label) => {
    expect(sameLayout(base, variants[label])).toBe(false);
    expect(sameLayout(variants[label], base)).toBe(false);
    expect(layoutDigest(variants[label])).not.toBe(layoutDigest(base));
  });
});
