import {
  ALL_PROJECTS_WILDCARD,
  TOPIC_ROOT,
  TopicDef,
  TopicName,
  Topics,
  projectIdOfTopic,
  projectWildcard,
  sharedSubscriptionFor,
  subscriptionFor,
  topicDefOf,
  topicFor,
} from './topics';

const ALL = Object.entries(Topics) as [TopicName, TopicDef<object>][];

describe('Topics', () => {
  it('has a unique template for every definition', () => {
    const templates = ALL.map(([, def]) => def.template);
    expect(new Set(templates).size).toBe(templates.length);
  });

  it('puts every topic under flops/v1/projects/{projectId}/…', () => {
    for (const [, def] of ALL) {
      expect(def.template).toMatch(/^flops\/v1\/projects\/\{projectId\}\/[a-z-]+(\/[a-z-]+)*$/);
      expect(def.template.split('{projectId}')).toHaveLength(2);
    }
  });

  it('no template is another one followed by more levels (a subscription for one never matches the other)', () => {
    for (const [, a] of ALL) for (const [, b] of ALL) if (a !== b) expect(b.template.startsWith(`${a.template}/`)).toBe(false);
  });

  it('retains only the aggregator address', () => {
    expect(ALL.filter(([, def]) => def.retained).map(([name]) => name)).toEqual(['aggregatorReady']);
  });

  it('has a payload class for every topic', () => {
    for (const [, def] of ALL) expect(typeof def.payload).toBe('function');
  });
});

describe('topicFor', () => {
  it('puts the project id in place of the placeholder', () => {
    expect(topicFor(Topics.buildRequested, 'p1')).toBe('flops/v1/projects/p1/build/requested');
    expect(topicFor(Topics.learnerTask, 'Proj_2-x')).toBe('flops/v1/projects/Proj_2-x/learners/task');
  });

  it('accepts ids of up to 64 letters, digits, underscores and dashes', () => {
    const id = `a${'_-9Z'.repeat(15)}xyz`;
    expect(id).toHaveLength(64);
    expect(topicFor(Topics.roundCompleted, id)).toBe(`flops/v1/projects/${id}/training/round-completed`);
  });

  it.each(['', 'a/b', '+', '#', 'a+b', 'p#', 'a b', '..', 'ü', 'p\n', 'x'.repeat(65), '{projectId}'])('rejects the unsafe id %j', (id) => {
    expect(() => topicFor(Topics.buildRequested, id)).toThrow(/invalid project id/);
  });
});

describe('subscriptions and wildcards', () => {
  it('subscribes to one topic across all projects', () => {
    expect(subscriptionFor(Topics.learnerJoined)).toBe('flops/v1/projects/+/learners/joined');
  });

  it('shares a subscription within a group', () => {
    expect(sharedSubscriptionFor(Topics.buildRequested, 'flops-builders')).toBe('$share/flops-builders/flops/v1/projects/+/build/requested');
  });

  it('covers every topic of one project and of all projects', () => {
    expect(projectWildcard('p1')).toBe('flops/v1/projects/p1/#');
    expect(ALL_PROJECTS_WILDCARD).toBe('flops/v1/projects/+/#');
    expect(TOPIC_ROOT).toBe('flops/v1');
  });
});

describe('projectIdOfTopic', () => {
  it.each([
    ['flops/v1/projects/p1/build/failed', 'p1'],
    ['flops/v1/projects/p-2/learners/task', 'p-2'],
    ['flops/v1/projects/p3', 'p3'],
  ])('%s → %s', (topic, id) => {
    expect(projectIdOfTopic(topic)).toBe(id);
  });

  it.each(['flops/v1/projects', 'flops/v2/projects/p1/state', 'flops/v1/other/p1/state', 'other/v1/projects/p1/x', '', 'flops'])(
    '%j is no project topic',
    (topic) => {
      expect(projectIdOfTopic(topic)).toBeNull();
    },
  );

  it('round-trips with topicFor for every topic', () => {
    for (const [, def] of ALL) expect(projectIdOfTopic(topicFor(def, 'abc_123'))).toBe('abc_123');
  });
});

describe('topicDefOf', () => {
  it('finds the definition of every concrete topic', () => {
    for (const [name, def] of ALL) expect(topicDefOf(topicFor(def, 'p42'))).toEqual([name, def]);
  });

  it.each([
    'flops/v1/projects/p1/build/unknown',
    'flops/v1/projects/p1/build',
    'flops/v1/projects/p1/build/failed/extra',
    'flops/v2/projects/p1/build/failed',
    'not/a/flops/topic',
    'flops/v1/projects/p1',
  ])('%s belongs to no definition', (topic) => {
    expect(topicDefOf(topic)).toBeNull();
  });
});
