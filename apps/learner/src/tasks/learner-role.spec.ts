import { BrokenLearner } from './learner-role';

describe('BrokenLearner (user code that cannot be loaded)', () => {
  afterEach(() => jest.useRealTimers());

  function setup(waitMs = 60_000) {
    const calls: string[] = [];
    const learner = new BrokenLearner(
      'could not load the user code: boom',
      {
        failed: async (reason) => {
          calls.push(`failed: ${reason}`);
        },
        finished: (reason) => calls.push(`finished: ${reason}`),
      },
      waitMs,
    );
    return { learner, calls };
  }

  it('says nothing until the aggregator is there, then reports the failure once and finishes', async () => {
    const { learner, calls } = setup();
    learner.task();
    expect(calls).toEqual([]);

    learner.aggregatorReady();
    learner.aggregatorReady(); // the retained announcement may come twice
    await new Promise((resolve) => setImmediate(resolve));

    expect(calls).toEqual(['failed: could not load the user code: boom', 'finished: could not load the user code: boom']);
    learner.close();
  });

  it('gives up waiting for the aggregator after the wait', () => {
    jest.useFakeTimers();
    const { learner, calls } = setup(1000);
    jest.advanceTimersByTime(999);
    expect(calls).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(calls).toEqual(['finished: could not load the user code: boom']);
    learner.close();
  });
});
