import { SeededRandom } from '@flops/fl-engine';

/**
 * The chaos tier's plan and verdicts, kept apart from the processes it kills so that the rules
 * are unit-tested: which component dies when, and what each project's end must then look like.
 */

export const PLATFORM_VICTIMS = ['project-orchestrator', 'builder-agent', 'manager-api'] as const;
export const COMPONENT_VICTIMS = ['aggregator', 'learner'] as const;
export type ChaosVictim = (typeof PLATFORM_VICTIMS)[number] | (typeof COMPONENT_VICTIMS)[number];
export const CHAOS_VICTIMS: readonly ChaosVictim[] = [...PLATFORM_VICTIMS, ...COMPONENT_VICTIMS];

export interface ChaosStrike {
  victim: ChaosVictim;
  /** After the submission (platform services) or after the component is up (aggregator, learner). */
  delayMs: number;
  /** How long a killed platform service stays down before it is started again. */
  downtimeMs: number;
  /** Which learner, when the victim is a learner. */
  learner: number;
}

export interface ChaosLimits {
  learners: number;
  /** Platform services die within this long after the submission. */
  maxServiceDelayMs: number;
  /** Builders die early: most builds take a few seconds. */
  maxBuilderDelayMs: number;
  /** Components die within this long after they started. */
  maxComponentDelayMs: number;
  maxDowntimeMs: number;
}

/** Uniform draws in [0, 1) from the engine's seeded source, so that a failing run can be replayed. */
export function seededRandom(seed: number): () => number {
  const source = new SeededRandom(`chaos-${seed}`);
  const one = new Float64Array(1);
  return () => {
    source.fillUniform(one);
    return one[0];
  };
}

/** One strike per project; every victim is struck at least ⌊projects / victims⌋ times. */
export function planChaos(seed: number, projects: number, limits: ChaosLimits): ChaosStrike[] {
  if (!Number.isInteger(projects) || projects < 1) throw new Error(`projects must be a positive integer, got ${projects}`);
  const random = seededRandom(seed);
  const below = (max: number) => Math.floor(random() * max);
  const victims = Array.from({ length: projects }, (_, i) => CHAOS_VICTIMS[i % CHAOS_VICTIMS.length]);
  for (let i = victims.length - 1; i > 0; i--) {
    const j = below(i + 1);
    [victims[i], victims[j]] = [victims[j], victims[i]];
  }
  return victims.map((victim) => ({
    victim,
    delayMs: below(
      victim === 'builder-agent' ? limits.maxBuilderDelayMs : isComponent(victim) ? limits.maxComponentDelayMs : limits.maxServiceDelayMs,
    ),
    downtimeMs: isComponent(victim) ? 0 : below(limits.maxDowntimeMs),
    learner: below(limits.learners),
  }));
}

export function isComponent(victim: ChaosVictim): victim is (typeof COMPONENT_VICTIMS)[number] {
  return (COMPONENT_VICTIMS as readonly string[]).includes(victim);
}

export interface ChaosOutcome {
  strike: ChaosStrike;
  /** The project's state when the victim died; null when the strike found nothing alive to kill. */
  stateAtStrike: string | null;
  plannedRounds: number;
  /** Null when the project did not reach a terminal state in time: stuck. */
  end: { state: string; rounds: number[]; failure?: { stage: string; reason: string }; modelDigest?: string } | null;
  leftovers: string[];
}

const AGGREGATOR_LOSS_FAILS = ['DEPLOYING', 'TRAINING'];

/**
 * What is wrong with a project's end after its strike; empty when it is right.
 *  - nothing is stuck and nothing is left running;
 *  - round history is 1..k, without gaps or repeats, whatever happened;
 *  - losing a platform service or one learner of several is survived: the project completes;
 *  - losing the aggregator before it stored the model fails the project, naming it; after, it completes.
 */
export function chaosVerdict(outcome: ChaosOutcome): string[] {
  const { end, strike, stateAtStrike } = outcome;
  if (!end) return ['stuck: no terminal state in time'];
  const problems = outcome.leftovers.map((l) => `orphaned: ${l}`);
  const expected = end.rounds.map((_, i) => i + 1);
  if (end.rounds.join() !== expected.join()) problems.push(`round history is not 1..${end.rounds.length}: [${end.rounds.join(', ')}]`);

  const mayFail = strike.victim === 'aggregator' && stateAtStrike !== null && AGGREGATOR_LOSS_FAILS.includes(stateAtStrike);
  if (end.state === 'COMPLETED') {
    if (end.rounds.length !== outcome.plannedRounds) problems.push(`completed with ${end.rounds.length} of ${outcome.plannedRounds} rounds`);
    if (!end.modelDigest) problems.push('completed without a model');
  } else if (end.state === 'FAILED' && mayFail) {
    if (!/aggregator/.test(end.failure?.reason ?? '')) problems.push(`failed without naming the aggregator: ${end.failure?.reason}`);
  } else {
    problems.push(`ended ${end.state}${end.failure ? ` (${end.failure.stage}: ${end.failure.reason})` : ''}, expected COMPLETED${mayFail ? ' or FAILED naming the aggregator' : ''}`);
  }
  return problems;
}
