import { ProjectState } from './project-state';
import { LifecycleEvent, LifecycleEventKind, TransitionDecision, decide, reachableFrom } from './transitions';

const S = ProjectState;
const ALL_STATES = Object.values(ProjectState);
const NON_TERMINAL = [S.SUBMITTED, S.IMAGE_CHECK, S.BUILDING, S.DEPLOYING, S.TRAINING, S.FINALIZING];
const TERMINAL = [S.COMPLETED, S.FAILED, S.CANCELLED];

/** One event of each kind, with recognisable data. `deadline.passed` is armed for the state it is sent in. */
function eventOf(kind: LifecycleEventKind, state: ProjectState): LifecycleEvent {
  switch (kind) {
    case 'build.failed':
    case 'deployment.failed':
    case 'training.failed':
    case 'finalization.failed':
      return { kind, reason: `reason of ${kind}` };
    case 'component.failed':
      return { kind, component: 'learner-2', reason: 'exited with code 137' };
    case 'round.completed':
      return { kind, round: 3 };
    case 'deadline.passed':
      return { kind, state };
    case 'cancel':
      return { kind };
    default:
      return { kind };
  }
}

const EVENT_KINDS: LifecycleEventKind[] = [
  'start',
  'build.started',
  'build.succeeded',
  'build.failed',
  'deployment.failed',
  'training.started',
  'round.completed',
  'training.completed',
  'training.failed',
  'component.failed',
  'finalized',
  'finalization.failed',
  'deadline.passed',
  'cancel',
];

/*
 * The expected outcome of every (state, event) pair, written out by hand from the lifecycle's
 * description, not derived from the production tables:
 *   '-'          ignore
 *   '='          stay
 *   'STATE'      transition to that state
 *   'F:stage'    transition to FAILED, attributed to `stage`
 */
type Cell = '-' | '=' | `F:${string}` | keyof typeof ProjectState;
// prettier-ignore
const EXPECTED: Record<ProjectState, Cell[]> = {
  //               start          build.started build.succeeded build.failed deployment.failed training.started round.completed training.completed training.failed  component.failed finalized    finalization.failed deadline.passed    cancel
  [S.SUBMITTED]:   ['IMAGE_CHECK', '-',          '-',            '-',         '-',              '-',             '-',            '-',               '-',             '-',             '-',         '-',                'F:submission',    'CANCELLED'],
  [S.IMAGE_CHECK]: ['-',           'BUILDING',   'DEPLOYING',    'F:build',   '-',              '-',             '-',            '-',               '-',             '-',             '-',         '-',                'F:build',         'CANCELLED'],
  [S.BUILDING]:    ['-',           '-',          'DEPLOYING',    'F:build',   '-',              '-',             '-',            '-',               '-',             '-',             '-',         '-',                'F:build',         'CANCELLED'],
  [S.DEPLOYING]:   ['-',           '-',          '-',            '-',         'F:deployment',   'TRAINING',      'TRAINING',     'FINALIZING',      'F:deployment',  'F:deployment',  '-',         '-',                'F:deployment',    'CANCELLED'],
  [S.TRAINING]:    ['-',           '-',          '-',            '-',         '-',              '-',             '=',            'FINALIZING',      'F:training',    'F:training',    '-',         '-',                'F:training',      'CANCELLED'],
  [S.FINALIZING]:  ['-',           '-',          '-',            '-',         '-',              '-',             '=',            '-',               '-',             '-',             'COMPLETED', 'F:finalization',   'F:finalization',  'CANCELLED'],
  [S.COMPLETED]:   ['-',           '-',          '-',            '-',         '-',              '-',             '=',            '-',               '-',             '-',             '-',         '-',                '-',               '-'],
  [S.FAILED]:      ['-',           '-',          '-',            '-',         '-',              '-',             '=',            '-',               '-',             '-',             '-',         '-',                '-',               '-'],
  [S.CANCELLED]:   ['-',           '-',          '-',            '-',         '-',              '-',             '=',            '-',               '-',             '-',             '-',         '-',                '-',               '-'],
};

/** The reason a FAILED/CANCELLED transition must carry for the events built by `eventOf`. */
function expectedReason(kind: LifecycleEventKind, state: ProjectState): string | RegExp | undefined {
  switch (kind) {
    case 'component.failed':
      return 'learner-2 failed: exited with code 137';
    case 'deadline.passed':
      return new RegExp(`deadline passed.*${state}`);
    case 'cancel':
      return 'cancelled by user';
    case 'build.failed':
    case 'deployment.failed':
    case 'training.failed':
    case 'finalization.failed':
      return `reason of ${kind}`;
    default:
      return undefined;
  }
}

function assertDecision(decision: TransitionDecision, cell: Cell, kind: LifecycleEventKind, state: ProjectState): void {
  if (cell === '-') {
    expect(decision.outcome).toBe('ignore');
    if (decision.outcome === 'ignore') expect(decision.why.length).toBeGreaterThan(0);
    return;
  }
  if (cell === '=') {
    expect(decision).toEqual({ outcome: 'stay' });
    return;
  }
  expect(decision.outcome).toBe('transition');
  if (decision.outcome !== 'transition') return;
  if (cell.startsWith('F:')) {
    expect(decision.to).toBe(S.FAILED);
    expect(decision.failedStage).toBe(cell.slice(2));
    const reason = expectedReason(kind, state);
    if (reason instanceof RegExp) expect(decision.reason).toMatch(reason);
    else expect(decision.reason).toBe(reason);
    return;
  }
  expect(decision.to).toBe(S[cell as keyof typeof ProjectState]);
  if (cell === 'CANCELLED') {
    expect(decision.reason).toBe('cancelled by user');
    expect(decision.failedStage).toBeUndefined();
  } else {
    // Progress carries neither a failure stage nor a reason.
    expect(decision.failedStage).toBeUndefined();
    expect(decision.reason).toBeUndefined();
  }
}

describe('decide: the full transition table', () => {
  it('the expected table covers every state and every event kind', () => {
    expect(Object.keys(EXPECTED).sort()).toEqual([...ALL_STATES].sort());
    for (const row of Object.values(EXPECTED)) expect(row).toHaveLength(EVENT_KINDS.length);
  });

  const pairs = ALL_STATES.flatMap((state) =>
    EVENT_KINDS.map((kind, column) => ({ state, kind, expected: EXPECTED[state][column] })),
  );

  it.each(pairs)('$state + $kind → $expected', ({ state, kind, expected }) => {
    assertDecision(decide(state, eventOf(kind, state)), expected, kind, state);
  });

  it('is pure: the same input always gives the same decision', () => {
    for (const { state, kind } of pairs) {
      expect(decide(state, eventOf(kind, state))).toEqual(decide(state, eventOf(kind, state)));
    }
  });
});

describe('decide: duplicates', () => {
  /** Apply `event` once, then again in the state it led to: the repeat must change nothing. */
  function secondDecision(state: ProjectState, event: LifecycleEvent): TransitionDecision {
    const first = decide(state, event);
    const next = first.outcome === 'transition' ? first.to : state;
    return decide(next, event);
  }

  const progressing: [ProjectState, LifecycleEvent][] = [
    [S.SUBMITTED, { kind: 'start' }],
    [S.IMAGE_CHECK, { kind: 'build.started' }],
    [S.BUILDING, { kind: 'build.succeeded' }],
    [S.IMAGE_CHECK, { kind: 'build.succeeded' }],
    [S.DEPLOYING, { kind: 'training.started' }],
    [S.DEPLOYING, { kind: 'training.completed' }],
    [S.TRAINING, { kind: 'training.completed' }],
    [S.FINALIZING, { kind: 'finalized' }],
    [S.BUILDING, { kind: 'build.failed', reason: 'x' }],
    [S.DEPLOYING, { kind: 'deployment.failed', reason: 'x' }],
    [S.TRAINING, { kind: 'training.failed', reason: 'x' }],
    [S.TRAINING, { kind: 'component.failed', component: 'aggregator', reason: 'x' }],
    [S.FINALIZING, { kind: 'finalization.failed', reason: 'x' }],
    [S.TRAINING, { kind: 'cancel', reason: 'user' }],
  ];

  it.each(progressing)('%s: a repeated %j is ignored the second time', (state, event) => {
    expect(decide(state, event).outcome).toBe('transition');
    expect(secondDecision(state, event).outcome).toBe('ignore');
  });

  it('a repeated round.completed stays in TRAINING (it carries data, the state does not change)', () => {
    expect(decide(S.DEPLOYING, { kind: 'round.completed', round: 1 })).toMatchObject({ outcome: 'transition', to: S.TRAINING });
    expect(secondDecision(S.DEPLOYING, { kind: 'round.completed', round: 1 })).toEqual({ outcome: 'stay' });
  });

  it('a repeated deadline is ignored once the project failed', () => {
    const event: LifecycleEvent = { kind: 'deadline.passed', state: S.BUILDING };
    expect(decide(S.BUILDING, event)).toMatchObject({ to: S.FAILED });
    expect(decide(S.FAILED, event).outcome).toBe('ignore');
  });
});

describe('decide: out-of-order events', () => {
  it('build.succeeded overtaking build.started moves IMAGE_CHECK straight to DEPLOYING, the late build.started is ignored', () => {
    expect(decide(S.IMAGE_CHECK, { kind: 'build.succeeded' })).toEqual({ outcome: 'transition', to: S.DEPLOYING });
    expect(decide(S.DEPLOYING, { kind: 'build.started' }).outcome).toBe('ignore');
  });

  it('round.completed while DEPLOYING implies training started', () => {
    expect(decide(S.DEPLOYING, { kind: 'round.completed', round: 1 })).toEqual({ outcome: 'transition', to: S.TRAINING });
    // ... and the training.started that arrives afterwards is ignored
    expect(decide(S.TRAINING, { kind: 'training.started' }).outcome).toBe('ignore');
  });

  it('a round.completed overtaken by the end of training is still recorded (stay), even once the project ended', () => {
    // Issue 5 case 2: a restarted orchestrator may complete a project before the queued rounds arrive.
    for (const state of [S.FINALIZING, S.COMPLETED, S.FAILED, S.CANCELLED]) {
      expect(decide(state, { kind: 'round.completed', round: 5 })).toEqual({ outcome: 'stay' });
    }
  });

  it('training.completed while DEPLOYING goes straight to FINALIZING', () => {
    expect(decide(S.DEPLOYING, { kind: 'training.completed' })).toEqual({ outcome: 'transition', to: S.FINALIZING });
  });

  it.each([
    [S.TRAINING, { kind: 'build.started' }],
    [S.TRAINING, { kind: 'build.succeeded' }],
    [S.TRAINING, { kind: 'start' }],
    [S.TRAINING, { kind: 'build.failed', reason: 'late' }],
    [S.TRAINING, { kind: 'deployment.failed', reason: 'late' }],
    [S.FINALIZING, { kind: 'training.failed', reason: 'late' }],
    [S.FINALIZING, { kind: 'component.failed', component: 'learner-0', reason: 'late' }],
    [S.DEPLOYING, { kind: 'build.failed', reason: 'late' }],
  ] as [ProjectState, LifecycleEvent][])('late %s + %j is ignored', (state, event) => {
    const decision = decide(state, event);
    expect(decision.outcome).toBe('ignore');
    if (decision.outcome === 'ignore') expect(decision.why).toContain(state);
  });

  it('events from the future are ignored rather than skipping stages', () => {
    expect(decide(S.SUBMITTED, { kind: 'build.succeeded' }).outcome).toBe('ignore');
    expect(decide(S.IMAGE_CHECK, { kind: 'training.started' }).outcome).toBe('ignore');
    expect(decide(S.BUILDING, { kind: 'finalized' }).outcome).toBe('ignore');
    expect(decide(S.TRAINING, { kind: 'finalized' }).outcome).toBe('ignore');
  });

  it('folding the happy path with reordered build events still ends COMPLETED', () => {
    const events: LifecycleEvent[] = [
      { kind: 'start' },
      { kind: 'build.succeeded' }, // overtook build.started
      { kind: 'build.started' },
      { kind: 'round.completed', round: 1 }, // overtook training.started
      { kind: 'training.started' },
      { kind: 'round.completed', round: 2 },
      { kind: 'round.completed', round: 2 },
      { kind: 'training.completed' },
      { kind: 'round.completed', round: 3 },
      { kind: 'finalized' },
      { kind: 'finalized' },
    ];
    const visited: ProjectState[] = [S.SUBMITTED];
    let state: ProjectState = S.SUBMITTED;
    for (const event of events) {
      const decision = decide(state, event);
      if (decision.outcome === 'transition') {
        state = decision.to;
        visited.push(state);
      }
    }
    expect(visited).toEqual([S.SUBMITTED, S.IMAGE_CHECK, S.DEPLOYING, S.TRAINING, S.FINALIZING, S.COMPLETED]);
  });
});

describe('decide: terminal states', () => {
  const anything: LifecycleEvent[] = [
    ...EVENT_KINDS.map((kind) => eventOf(kind, S.TRAINING)),
    { kind: 'cancel', reason: 'please' },
  ];

  it.each(TERMINAL)('%s ignores every event but a round record, naming the state', (state) => {
    for (const event of [...anything, { kind: 'deadline.passed', state } as LifecycleEvent]) {
      if (event.kind === 'round.completed') continue;
      const decision = decide(state, event);
      expect(decision).toEqual({ outcome: 'ignore', why: expect.stringContaining(state) });
    }
  });
});

describe('decide: deadlines', () => {
  const stages: Record<string, string> = {
    [S.SUBMITTED]: 'submission',
    [S.IMAGE_CHECK]: 'build', // looking the image up is the first half of the build stage
    [S.BUILDING]: 'build',
    [S.DEPLOYING]: 'deployment',
    [S.TRAINING]: 'training',
    [S.FINALIZING]: 'finalization',
  };

  it.each(NON_TERMINAL)('the current deadline of %s fails the project with its stage', (state) => {
    const decision = decide(state, { kind: 'deadline.passed', state });
    expect(decision).toEqual({
      outcome: 'transition',
      to: S.FAILED,
      failedStage: stages[state],
      reason: expect.stringContaining(state),
    });
  });

  const stale = NON_TERMINAL.flatMap((state) =>
    ALL_STATES.filter((armed) => armed !== state).map((armed) => ({ state, armed })),
  );

  it.each(stale)('a deadline armed for $armed is stale in $state and ignored', ({ state, armed }) => {
    const decision = decide(state, { kind: 'deadline.passed', state: armed });
    expect(decision.outcome).toBe('ignore');
    if (decision.outcome === 'ignore') expect(decision.why).toMatch(/stale/);
  });
});

describe('decide: cancel', () => {
  it.each(NON_TERMINAL)('cancels from %s with the default reason', (state) => {
    expect(decide(state, { kind: 'cancel' })).toEqual({ outcome: 'transition', to: S.CANCELLED, reason: 'cancelled by user' });
  });

  it.each(NON_TERMINAL)('cancels from %s with the user reason, without a failure stage', (state) => {
    const decision = decide(state, { kind: 'cancel', reason: 'wrong dataset' });
    expect(decision).toEqual({ outcome: 'transition', to: S.CANCELLED, reason: 'wrong dataset' });
  });
});

describe('reachableFrom', () => {
  // Written out by hand: the lifecycle graph.
  const GRAPH: Record<ProjectState, ProjectState[]> = {
    [S.SUBMITTED]: [S.IMAGE_CHECK, S.FAILED, S.CANCELLED],
    [S.IMAGE_CHECK]: [S.BUILDING, S.DEPLOYING, S.FAILED, S.CANCELLED],
    [S.BUILDING]: [S.DEPLOYING, S.FAILED, S.CANCELLED],
    [S.DEPLOYING]: [S.TRAINING, S.FINALIZING, S.FAILED, S.CANCELLED],
    [S.TRAINING]: [S.FINALIZING, S.FAILED, S.CANCELLED],
    [S.FINALIZING]: [S.COMPLETED, S.FAILED, S.CANCELLED],
    [S.COMPLETED]: [],
    [S.FAILED]: [],
    [S.CANCELLED]: [],
  };

  it.each(ALL_STATES)('from %s', (state) => {
    expect([...reachableFrom(state)].sort()).toEqual([...GRAPH[state]].sort());
  });

  it('lists no state twice and never the state itself', () => {
    for (const state of ALL_STATES) {
      const next = reachableFrom(state);
      expect(new Set(next).size).toBe(next.length);
      expect(next).not.toContain(state);
    }
  });

  it('agrees with decide: exactly the states some event leads to', () => {
    for (const state of ALL_STATES) {
      const targets = new Set<ProjectState>();
      for (const kind of EVENT_KINDS) {
        const decision = decide(state, eventOf(kind, state));
        if (decision.outcome === 'transition') targets.add(decision.to);
      }
      expect([...targets].sort()).toEqual([...reachableFrom(state)].sort());
    }
  });

  it('every non-terminal state can still reach COMPLETED', () => {
    for (const start of NON_TERMINAL) {
      const seen = new Set<ProjectState>([start]);
      const queue = [start];
      while (queue.length) {
        for (const next of reachableFrom(queue.shift()!)) {
          if (seen.has(next)) continue;
          seen.add(next);
          queue.push(next);
        }
      }
      expect(seen.has(S.COMPLETED)).toBe(true);
    }
  });
});
