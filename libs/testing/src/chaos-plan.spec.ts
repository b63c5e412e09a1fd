import { CHAOS_VICTIMS, ChaosOutcome, ChaosStrike, chaosVerdict, planChaos, seededRandom } from './chaos-plan';

const LIMITS = { learners: 3, maxServiceDelayMs: 20_000, maxBuilderDelayMs: 3_000, maxComponentDelayMs: 8_000, maxDowntimeMs: 8_000 };

describe('planChaos', () => {
  it('is the same plan for the same seed, and another for another seed', () => {
    expect(planChaos(7, 12, LIMITS)).toEqual(planChaos(7, 12, LIMITS));
    expect(planChaos(7, 12, LIMITS)).not.toEqual(planChaos(8, 12, LIMITS));
  });

  it('strikes every victim at least twice across 12 projects, within the limits', () => {
    for (const seed of [1, 2, 3, 99, 123456]) {
      const plan = planChaos(seed, 12, LIMITS);
      expect(plan).toHaveLength(12);
      for (const victim of CHAOS_VICTIMS) expect(plan.filter((s) => s.victim === victim).length).toBeGreaterThanOrEqual(2);
      for (const s of plan) {
        expect(s.learner).toBeGreaterThanOrEqual(0);
        expect(s.learner).toBeLessThan(3);
        const max = s.victim === 'builder-agent' ? 3_000 : ['aggregator', 'learner'].includes(s.victim) ? 8_000 : 20_000;
        expect(s.delayMs).toBeLessThan(max);
        if (['aggregator', 'learner'].includes(s.victim)) expect(s.downtimeMs).toBe(0);
      }
    }
  });

  it('refuses a project count that is not a positive integer', () => {
    expect(() => planChaos(1, 0, LIMITS)).toThrow(/positive integer/);
    expect(() => planChaos(1, 1.5, LIMITS)).toThrow(/positive integer/);
  });

  it('draws numbers in [0, 1)', () => {
    const random = seededRandom(42);
    const draws = Array.from({ length: 1000 }, random);
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...draws)).toBeLessThan(1);
    expect(new Set(draws).size).toBeGreaterThan(990);
  });
});

describe('chaosVerdict', () => {
  const strike = (victim: ChaosStrike['victim']): ChaosStrike => ({ victim, delayMs: 0, downtimeMs: 0, learner: 0 });
  const completed = { state: 'COMPLETED', rounds: [1, 2, 3, 4], modelDigest: 'sha256:ab' };
  const outcome = (over: Partial<ChaosOutcome>): ChaosOutcome => ({
    strike: strike('project-orchestrator'),
    stateAtStrike: 'TRAINING',
    plannedRounds: 4,
    end: completed,
    leftovers: [],
    ...over,
  });

  it('accepts a complete project after any strike', () => {
    for (const victim of CHAOS_VICTIMS) expect(chaosVerdict(outcome({ strike: strike(victim) }))).toEqual([]);
  });

  it('flags a stuck project, orphans, and a round history with gaps or repeats', () => {
    expect(chaosVerdict(outcome({ end: null }))).toEqual(['stuck: no terminal state in time']);
    expect(chaosVerdict(outcome({ leftovers: ['p1/learner-0 (pid 5) is alive'] }))).toEqual(['orphaned: p1/learner-0 (pid 5) is alive']);
    expect(chaosVerdict(outcome({ end: { ...completed, rounds: [1, 2, 4, 4] } }))[0]).toMatch(/not 1\.\.4/);
    expect(chaosVerdict(outcome({ end: { ...completed, rounds: [1, 2, 3] } }))).toEqual(['completed with 3 of 4 rounds']);
    expect(chaosVerdict(outcome({ end: { ...completed, modelDigest: undefined } }))).toEqual(['completed without a model']);
  });

  it('lets the loss of the aggregator while training fail the project, only when the failure names it', () => {
    const failed = (reason: string) => ({ state: 'FAILED', rounds: [1, 2], failure: { stage: 'training', reason } });
    expect(chaosVerdict(outcome({ strike: strike('aggregator'), end: failed('aggregator was killed by SIGKILL') }))).toEqual([]);
    expect(chaosVerdict(outcome({ strike: strike('aggregator'), end: failed('learner-0 failed') }))[0]).toMatch(/without naming the aggregator/);
    // After training, or before the aggregator existed, nothing excuses a failure.
    expect(chaosVerdict(outcome({ strike: strike('aggregator'), stateAtStrike: 'FINALIZING', end: failed('aggregator died') }))[0]).toMatch(/expected COMPLETED/);
    expect(chaosVerdict(outcome({ strike: strike('aggregator'), stateAtStrike: null, end: failed('aggregator died') }))[0]).toMatch(/expected COMPLETED/);
  });

  it('never excuses a failure after losing a platform service or one learner', () => {
    for (const victim of ['project-orchestrator', 'builder-agent', 'manager-api', 'learner'] as const) {
      const verdict = chaosVerdict(outcome({ strike: strike(victim), end: { state: 'FAILED', rounds: [1], failure: { stage: 'training', reason: 'x' } } }));
      expect(verdict).toEqual(['ended FAILED (training: x), expected COMPLETED']);
    }
  });
});
