import { ProjectState, TERMINAL_STATES, isTerminal, stageOf } from './project-state';

const S = ProjectState;

describe('isTerminal', () => {
  it.each([
    [S.SUBMITTED, false],
    [S.IMAGE_CHECK, false],
    [S.BUILDING, false],
    [S.DEPLOYING, false],
    [S.TRAINING, false],
    [S.FINALIZING, false],
    [S.COMPLETED, true],
    [S.FAILED, true],
    [S.CANCELLED, true],
  ])('%s → %s', (state, terminal) => {
    expect(isTerminal(state)).toBe(terminal);
  });

  it('TERMINAL_STATES holds exactly the three end states', () => {
    expect([...TERMINAL_STATES].sort()).toEqual([S.CANCELLED, S.COMPLETED, S.FAILED]);
  });
});

describe('stageOf', () => {
  it.each([
    [S.SUBMITTED, 'submission'],
    [S.IMAGE_CHECK, 'build'], // looking the image up is the first half of the build stage
    [S.BUILDING, 'build'],
    [S.DEPLOYING, 'deployment'],
    [S.TRAINING, 'training'],
    [S.FINALIZING, 'finalization'],
    [S.COMPLETED, 'finalization'],
    [S.FAILED, 'finalization'],
    [S.CANCELLED, 'finalization'],
  ])('%s is attributed to %s', (state, stage) => {
    expect(stageOf(state)).toBe(stage);
  });

  it('has one state enum value per name (values equal keys, as stored in the database)', () => {
    for (const [key, value] of Object.entries(ProjectState)) expect(value).toBe(key);
    expect(Object.values(ProjectState)).toHaveLength(9);
  });
});
