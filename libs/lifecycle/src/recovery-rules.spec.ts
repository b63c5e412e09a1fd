import { DEFAULT_DEADLINES } from './deadlines';
import { ProjectState } from './project-state';
import { failureEventFor, projectDeadlines, settleAggregatorEnd, settleDeadline, settledByStoredOutcome } from './recovery-rules';
import { LifecycleEvent } from './transitions';

const S = ProjectState;
const completed: LifecycleEvent = { kind: 'training.completed' };
const end = { component: 'aggregator', how: 'ended without reporting an outcome' };

describe('failureEventFor', () => {
  it('names the failure of each state whose effect can fail, and none for the others', () => {
    expect(failureEventFor(S.IMAGE_CHECK, 'x')).toEqual({ kind: 'build.failed', reason: 'x' });
    expect(failureEventFor(S.BUILDING, 'x')).toEqual({ kind: 'build.failed', reason: 'x' });
    expect(failureEventFor(S.DEPLOYING, 'x')).toEqual({ kind: 'deployment.failed', reason: 'x' });
    expect(failureEventFor(S.FINALIZING, 'x')).toEqual({ kind: 'finalization.failed', reason: 'x' });
    for (const state of [S.SUBMITTED, S.TRAINING, S.COMPLETED, S.FAILED, S.CANCELLED]) expect(failureEventFor(state, 'x')).toBeNull();
  });
});

describe('projectDeadlines', () => {
  it('keeps the base deadlines for short round timeouts and grows DEPLOYING and TRAINING with long ones', () => {
    expect(projectDeadlines(DEFAULT_DEADLINES, 10)).toEqual(DEFAULT_DEADLINES);
    const long = projectDeadlines(DEFAULT_DEADLINES, 3600);
    expect(long[S.DEPLOYING]).toBe(3600_000 + 120_000);
    expect(long[S.TRAINING]).toBe(4 * 3600_000 + 60_000);
    expect(long[S.BUILDING]).toBe(DEFAULT_DEADLINES[S.BUILDING]);
  });
});

describe('settling an aggregator end and a deadline with the stored outcome', () => {
  it('only states that can have a stored model look for one', () => {
    expect([...Object.values(S)].filter(settledByStoredOutcome)).toEqual([S.DEPLOYING, S.TRAINING, S.FINALIZING]);
  });

  it('an aggregator end completes training with a stored outcome, fails it without, and means nothing later', () => {
    expect(settleAggregatorEnd(S.TRAINING, completed, end)).toBe(completed);
    expect(settleAggregatorEnd(S.DEPLOYING, null, end)).toEqual({ kind: 'component.failed', component: 'aggregator', reason: end.how });
    expect(settleAggregatorEnd(S.FINALIZING, null, end)).toBeNull();
    expect(settleAggregatorEnd(S.COMPLETED, completed, end)).toBeNull();
  });

  it('a deadline completes training with a stored outcome, finalizes again in FINALIZING, and fails otherwise', () => {
    expect(settleDeadline(S.TRAINING, completed)).toBe(completed);
    expect(settleDeadline(S.FINALIZING, completed)).toBe('resume');
    expect(settleDeadline(S.TRAINING, null)).toEqual({ kind: 'deadline.passed', state: S.TRAINING });
    expect(settleDeadline(S.BUILDING, null)).toEqual({ kind: 'deadline.passed', state: S.BUILDING });
  });
});
