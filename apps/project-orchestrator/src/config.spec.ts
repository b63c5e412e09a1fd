import { DEFAULT_DEADLINES, ProjectState as S } from '@flops/lifecycle';
import { loadConfig } from '@flops/config';
import { OrchestratorConfig, parseDeadlines } from './config';

describe('FLOPS_DEADLINES', () => {
  it('without overrides gives the defaults', () => {
    expect(parseDeadlines(undefined)).toEqual(DEFAULT_DEADLINES);
  });

  it('overrides the named states, in seconds, and keeps the others', () => {
    expect(parseDeadlines('BUILDING=600,TRAINING=30')).toEqual({
      ...DEFAULT_DEADLINES,
      [S.BUILDING]: 600_000,
      [S.TRAINING]: 30_000,
    });
  });

  it.each([
    ['COMPLETED=5', /COMPLETED is not a non-terminal state/],
    ['TRAINNG=5', /TRAINNG is not a non-terminal state/],
    ['TRAINING=0', /TRAINING must be at least 1 second/],
  ])('refuses %s', (value, message) => {
    expect(() => parseDeadlines(value)).toThrow(message);
  });

  it('is checked for shape when the configuration loads', () => {
    expect(() => loadConfig(OrchestratorConfig, { FLOPS_DEADLINES: 'BUILDING=ten' })).toThrow(/FLOPS_DEADLINES/);
    expect(loadConfig(OrchestratorConfig, { FLOPS_DEADLINES: 'BUILDING=600' }).FLOPS_DEADLINES).toBe('BUILDING=600');
  });
});
