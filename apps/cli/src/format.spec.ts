import { UsageError, age, formatMetrics, latestRound, parseHyperparameter, parseInteger, table } from './format';

describe('cli formatting', () => {
  it('shows accuracy and loss first, then the rest by name', () => {
    expect(formatMetrics({ zeta: 2, loss: 0.28123, accuracy: 0.9 })).toBe('accuracy 0.9000  loss 0.2812  zeta 2');
    expect(formatMetrics(undefined)).toBe('');
  });

  it('says how old something is', () => {
    const now = Date.parse('2026-01-01T12:00:00Z');
    expect(age('2026-01-01T11:59:30Z', now)).toBe('30s');
    expect(age('2026-01-01T11:56:48Z', now)).toBe('3m 12s');
    expect(age('2026-01-01T09:30:00Z', now)).toBe('2h 30m');
    expect(age('2025-12-30T10:00:00Z', now)).toBe('2d 2h');
  });

  it('finds the latest round whatever the order', () => {
    const round = (n: number) => ({ round: n }) as never;
    expect(latestRound({ rounds: [round(2), round(3), round(1)] })?.round).toBe(3);
    expect(latestRound({ rounds: [] })).toBeUndefined();
  });

  it('parses hyperparameters by their look', () => {
    const hp = ['epochs=2', 'lr=0.01', 'shuffle=true', 'optimizer=adam', 'empty='].reduce((acc, v) => parseHyperparameter(v, acc), {});
    expect(hp).toEqual({ epochs: 2, lr: 0.01, shuffle: true, optimizer: 'adam', empty: '' });
    expect(() => parseHyperparameter('novalue')).toThrow(UsageError);
  });

  it('refuses a non-integer for an integer flag', () => {
    expect(parseInteger('--rounds')('5')).toBe(5);
    expect(() => parseInteger('--rounds')('five')).toThrow('--rounds must be an integer');
  });

  it('aligns columns', () => {
    expect(table([['id', 'state'], ['p1234', 'COMPLETED']])).toBe('id     state\np1234  COMPLETED');
  });
});
