import { DEFAULT_DEADLINES, StateDeadlines, deadlineFor } from './deadlines';
import { ProjectState } from './project-state';

const S = ProjectState;
const MINUTE = 60_000;
const NOW = new Date('2024-05-01T12:00:00.000Z');

function deadlines(overrides: Partial<StateDeadlines> = {}): StateDeadlines {
  return {
    [S.SUBMITTED]: 1_000,
    [S.IMAGE_CHECK]: 2_000,
    [S.BUILDING]: 3_000,
    [S.DEPLOYING]: 4_000,
    [S.TRAINING]: 5_000,
    [S.FINALIZING]: 6_000,
    ...overrides,
  };
}

describe('deadlineFor', () => {
  it.each([
    [S.SUBMITTED, 2 * MINUTE],
    [S.IMAGE_CHECK, 2 * MINUTE],
    [S.BUILDING, 20 * MINUTE],
    [S.DEPLOYING, 5 * MINUTE],
    [S.TRAINING, 15 * MINUTE],
    [S.FINALIZING, 2 * MINUTE],
  ])('with the defaults, %s must be left %i ms after entering it', (state, ms) => {
    expect(deadlineFor(state, NOW)).toEqual(new Date(NOW.getTime() + ms));
  });

  it.each([S.COMPLETED, S.FAILED, S.CANCELLED])('%s has no deadline', (state) => {
    expect(deadlineFor(state, NOW)).toBeNull();
    expect(deadlineFor(state, NOW, deadlines())).toBeNull();
  });

  it.each([
    [S.SUBMITTED, 1_000],
    [S.IMAGE_CHECK, 2_000],
    [S.BUILDING, 3_000],
    [S.DEPLOYING, 4_000],
    [S.TRAINING, 5_000],
    [S.FINALIZING, 6_000],
  ])('uses the given deadlines: %s → +%i ms', (state, ms) => {
    expect(deadlineFor(state, NOW, deadlines())!.getTime()).toBe(NOW.getTime() + ms);
  });

  it('counts from the moment it is given, not from the wall clock', () => {
    const later = new Date(NOW.getTime() + 42 * MINUTE);
    expect(deadlineFor(S.BUILDING, later, deadlines({ [S.BUILDING]: 7 }))!.getTime()).toBe(later.getTime() + 7);
  });

  it('returns a new Date and leaves `now` untouched', () => {
    const now = new Date(NOW);
    const deadline = deadlineFor(S.DEPLOYING, now);
    expect(deadline).not.toBe(now);
    expect(now).toEqual(NOW);
  });

  it('DEFAULT_DEADLINES covers exactly the non-terminal states', () => {
    expect(Object.keys(DEFAULT_DEADLINES).sort()).toEqual(
      [S.SUBMITTED, S.IMAGE_CHECK, S.BUILDING, S.DEPLOYING, S.TRAINING, S.FINALIZING].sort(),
    );
  });
});
