import { Envelope, WIRE_SCHEMA } from './envelope';
import { InvalidMessageError, MAX_MESSAGE_BYTES, createMessage, parseMessage, validatePayload } from './messages';
import { BuildFailed, BuildSucceeded } from './payloads/build';
import { ProjectCancelRequested } from './payloads/project';
import { Topics, topicFor } from './topics';

const PROJECT = 'p0123abcd';
const TOPIC = topicFor(Topics.buildFailed, PROJECT);

function aBuildFailed(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { phase: 'build', reason: 'npm ci exited with 1', ...overrides };
}

function aBuildSucceeded(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    image: '127.0.0.1:5000/flops/learners/digits:abc-tfjs4',
    digest: `sha256:${'0'.repeat(64)}`,
    sourceRevision: 'abc',
    cacheHit: true,
    durations: { fetchMs: 1, checkMs: 2, buildMs: 0, pushMs: 4 },
    ...overrides,
  };
}

function anEnvelope(overrides: Record<string, unknown> = {}, payload: unknown = aBuildFailed()): Record<string, unknown> {
  return {
    schema: WIRE_SCHEMA,
    messageId: '6f1c2b7e-5d4a-4c3b-9a8f-0e1d2c3b4a59',
    sentAt: '2024-05-01T12:00:00.000Z',
    projectId: PROJECT,
    payload,
    ...overrides,
  };
}

function without(obj: Record<string, unknown>, key: string): Record<string, unknown> {
  const { [key]: _removed, ...rest } = obj;
  return rest;
}

/** The problems parseMessage lists for `raw` on `topic` (fails the test if it accepts it). */
function problemsOf(raw: unknown, topic = TOPIC, def: typeof Topics.buildFailed | typeof Topics.buildSucceeded = Topics.buildFailed): string[] {
  try {
    parseMessage(def as typeof Topics.buildFailed, topic, raw);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidMessageError);
    const invalid = error as InvalidMessageError;
    expect(invalid.topic).toBe(topic);
    expect(invalid.message).toContain(topic);
    for (const problem of invalid.problems) expect(invalid.message).toContain(problem);
    return invalid.problems;
  }
  throw new Error('parseMessage accepted the message');
}

describe('parseMessage: accepts', () => {
  it.each([
    ['an object', (e: object) => e],
    ['a JSON string', (e: object) => JSON.stringify(e)],
    ['a Buffer', (e: object) => Buffer.from(JSON.stringify(e), 'utf8')],
  ])('a valid envelope given as %s', (_, as) => {
    const raw = anEnvelope({ correlationId: 'corr-1' });

    const message = parseMessage(Topics.buildFailed, TOPIC, as(raw));

    expect(message).toEqual({ ...raw, payload: aBuildFailed() });
    expect(message.payload).toBeInstanceOf(BuildFailed);
  });

  it('turns nested payload objects into their classes', () => {
    const topic = topicFor(Topics.buildSucceeded, PROJECT);
    const message = parseMessage(Topics.buildSucceeded, topic, anEnvelope({}, aBuildSucceeded()));
    expect(message.payload).toBeInstanceOf(BuildSucceeded);
    expect(message.payload.durations).toEqual({ fetchMs: 1, checkMs: 2, buildMs: 0, pushMs: 4 });
  });

  it('accepts an empty payload for a topic whose payload has only optional fields', () => {
    const topic = topicFor(Topics.projectCancelRequested, PROJECT);
    const message = parseMessage(Topics.projectCancelRequested, topic, anEnvelope({}, {}));
    expect(message.payload).toBeInstanceOf(ProjectCancelRequested);
    expect(message.payload.reason).toBeUndefined();
  });
});

describe('parseMessage: rejects', () => {
  it.each([
    ['text that is not JSON', '{"schema": "flops/v1", '],
    ['an empty Buffer (a cleared retained message)', Buffer.alloc(0)],
    ['a JSON array', JSON.stringify([anEnvelope()])],
    ['an array', [anEnvelope()]],
    ['null', null],
    ['a number', 42],
    ['a JSON string literal', JSON.stringify('hello')],
    ['undefined', undefined],
  ])('%s as not a JSON object', (_, raw) => {
    expect(problemsOf(raw)).toEqual(['not a JSON object']);
  });

  it.each([
    ['another schema', { schema: 'flops/v2' }, /^schema/],
    ['no schema', { schema: undefined }, /^schema/],
    ['no messageId', { messageId: undefined }, /^messageId/],
    ['an empty messageId', { messageId: '' }, /^messageId/],
    ['a numeric messageId', { messageId: 7 }, /^messageId/],
    ['a sentAt that is no date', { sentAt: 'yesterday' }, /^sentAt/],
    ['no sentAt', { sentAt: undefined }, /^sentAt/],
    ['a numeric sentAt', { sentAt: 1714564800000 }, /^sentAt/],
    ['a non-string correlationId', { correlationId: 5 }, /^correlationId/],
    ['a projectId of another project', { projectId: 'p-other' }, /^projectId must match the topic/],
    ['no projectId', { projectId: undefined }, /^projectId must match the topic/],
  ])('an envelope with %s', (_, overrides, problem) => {
    const problems = problemsOf(anEnvelope(overrides));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(problem);
  });

  it('a message on a topic that is not a FLOps project topic', () => {
    expect(problemsOf(anEnvelope(), 'something/else/entirely')).toEqual(['projectId must match the topic']);
  });

  it('a message on the topic of another definition', () => {
    const problems = problemsOf(anEnvelope(), topicFor(Topics.buildStarted, PROJECT));
    expect(problems).toEqual([`topic does not belong to ${Topics.buildFailed.template}`]);
  });

  it('a payload with unknown fields, naming them', () => {
    const problems = problemsOf(anEnvelope({}, aBuildFailed({ exitCode: 1, secret: 'x' })));
    expect(problems).toHaveLength(2);
    expect(problems.some((p) => p.startsWith('payload.exitCode'))).toBe(true);
    expect(problems.some((p) => p.startsWith('payload.secret'))).toBe(true);
  });

  it.each([
    ['an empty reason', aBuildFailed({ reason: '' }), 'payload.reason'],
    ['a reason over 4000 characters', aBuildFailed({ reason: 'x'.repeat(4001) }), 'payload.reason'],
    ['an unknown phase', aBuildFailed({ phase: 'compile' }), 'payload.phase'],
    ['a missing phase', without(aBuildFailed(), 'phase'), 'payload.phase'],
  ])('a payload with %s, naming the field', (_, payload, field) => {
    const problems = problemsOf(anEnvelope({}, payload));
    expect(problems.length).toBeGreaterThan(0);
    for (const problem of problems) expect(problem.startsWith(`${field}:`)).toBe(true);
  });

  it('a nested payload field that fails, with its full path', () => {
    const topic = topicFor(Topics.buildSucceeded, PROJECT);
    const payload = aBuildSucceeded({ durations: { fetchMs: -1, checkMs: 2, buildMs: 3, pushMs: 1.5 } });
    const problems = problemsOf(anEnvelope({}, payload), topic, Topics.buildSucceeded);
    expect(problems.some((p) => p.startsWith('payload.durations.fetchMs:'))).toBe(true);
    expect(problems.some((p) => p.startsWith('payload.durations.pushMs:'))).toBe(true);
  });

  it.each([
    ['missing', without(anEnvelope(), 'payload')],
    ['null', anEnvelope({ payload: null })],
    ['a string', anEnvelope({ payload: 'build failed' })],
    ['an array', anEnvelope({ payload: [aBuildFailed()] })],
  ])('a payload that is %s', (_, envelope) => {
    expect(problemsOf(envelope)).toEqual(['payload.payload must be an object']);
  });

  it('lists every problem at once', () => {
    const problems = problemsOf(anEnvelope({ schema: 'x', messageId: '', sentAt: 'never', projectId: 'p-other' }, aBuildFailed({ reason: '' })));
    expect(problems).toEqual([
      expect.stringMatching(/^schema/),
      expect.stringMatching(/^messageId/),
      expect.stringMatching(/^sentAt/),
      'projectId must match the topic',
      expect.stringMatching(/^payload\.reason:/),
    ]);
  });

  it.each(['a b', '..', 'x'.repeat(65), ''])('a project id unfit for topics (%j) as an invalid message, not a crash', (projectId) => {
    const topic = `flops/v1/projects/${projectId}/build/failed`;
    const problems = problemsOf(anEnvelope({ projectId }), topic);
    expect(problems).toEqual([expect.stringMatching(/project id/)]);
  });
});

describe('parseMessage: payloads too deep or too large to validate', () => {
  const DEPTH = 100_000;
  const deepArray = '['.repeat(DEPTH) + ']'.repeat(DEPTH);
  const deepObject = '{"a":'.repeat(DEPTH) + '1' + '}'.repeat(DEPTH);

  it.each([
    ['a 100,000-deep array as a Buffer', Buffer.from(JSON.stringify(anEnvelope({}, aBuildFailed())).replace('"npm ci exited with 1"', deepArray))],
    ['a 100,000-deep object as text', JSON.stringify(anEnvelope({}, aBuildFailed())).replace('"npm ci exited with 1"', deepObject)],
    ['a 100,000-deep object already parsed', { ...anEnvelope(), payload: JSON.parse(deepObject) }],
  ])('refuses %s as an invalid message, not a RangeError', (_, raw) => {
    expect(problemsOf(raw)).toEqual([expect.stringMatching(/^not a JSON object nested at most \d+ deep$/)]);
  });

  it('ignores brackets inside strings when measuring depth', () => {
    const payload = aBuildFailed({ reason: '[[[[{{{{'.repeat(100) + '\\"]]]' });
    expect(parseMessage(Topics.buildFailed, TOPIC, JSON.stringify(anEnvelope({}, payload))).payload.reason).toBe(payload.reason);
  });

  it('refuses a message larger than the limit before parsing it', () => {
    const huge = JSON.stringify(anEnvelope({}, aBuildFailed({ reason: 'x'.repeat(MAX_MESSAGE_BYTES) })));
    expect(problemsOf(Buffer.from(huge))).toEqual([`larger than ${MAX_MESSAGE_BYTES} bytes`]);
  });
});

describe('createMessage', () => {
  it('builds the topic and a fresh envelope around a valid payload', () => {
    const before = Date.now();
    const { topic, message } = createMessage(Topics.buildFailed, PROJECT, aBuildFailed() as unknown as BuildFailed);

    expect(topic).toBe(`flops/v1/projects/${PROJECT}/build/failed`);
    expect(message).toEqual({
      schema: WIRE_SCHEMA,
      messageId: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
      sentAt: expect.any(String),
      projectId: PROJECT,
      payload: aBuildFailed(),
    });
    expect('correlationId' in message).toBe(false);
    expect(Date.parse(message.sentAt)).toBeGreaterThanOrEqual(before - 1);
    expect(new Date(message.sentAt).toISOString()).toBe(message.sentAt);
  });

  it('carries a correlation id when given, and every message gets its own id', () => {
    const a = createMessage(Topics.projectCancelRequested, PROJECT, {}, 'corr-7').message;
    const b = createMessage(Topics.projectCancelRequested, PROJECT, {}).message;
    expect(a.correlationId).toBe('corr-7');
    expect(a.messageId).not.toBe(b.messageId);
  });

  it('produces what parseMessage accepts on the other side', () => {
    const { topic, message } = createMessage(Topics.buildSucceeded, PROJECT, aBuildSucceeded() as unknown as BuildSucceeded, 'c1');
    const parsed: Envelope<BuildSucceeded> = parseMessage(Topics.buildSucceeded, topic, Buffer.from(JSON.stringify(message)));
    expect(parsed).toEqual(message);
  });

  it('refuses an invalid outgoing payload, naming the fields', () => {
    const bad = aBuildFailed({ phase: 'compile', extra: true }) as unknown as BuildFailed;
    let error: unknown;
    try {
      createMessage(Topics.buildFailed, PROJECT, bad);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidMessageError);
    const { topic, problems } = error as InvalidMessageError;
    expect(topic).toBe(TOPIC);
    expect(problems.some((p) => p.startsWith('phase:'))).toBe(true);
    expect(problems.some((p) => p.startsWith('extra:'))).toBe(true);
  });

  it.each(['a/b', '+', '#', 'a b', '', 'x'.repeat(65)])('refuses the unsafe project id %j', (projectId) => {
    expect(() => createMessage(Topics.buildFailed, projectId, aBuildFailed() as unknown as BuildFailed)).toThrow(/invalid project id/);
  });
});

describe('validatePayload', () => {
  it('returns the typed value and no problems for a valid payload', () => {
    const { value, problems } = validatePayload(BuildFailed, aBuildFailed());
    expect(problems).toEqual([]);
    expect(value).toBeInstanceOf(BuildFailed);
  });

  it.each([null, 'text', 3, [], undefined])('refuses %p as not an object', (plain) => {
    expect(validatePayload(BuildFailed, plain)).toEqual({ problems: ['payload must be an object'] });
  });

  it('refuses a value nested too deep to validate (e.g. FLT1 metadata), instead of overflowing the stack', () => {
    const deep = JSON.parse('{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000));
    expect(validatePayload(BuildFailed, { phase: 'build', reason: 'x', deep })).toEqual({ problems: [expect.stringMatching(/must not nest deeper than \d+ levels/)] });
  });

  it('returns no value when there are problems', () => {
    const { value, problems } = validatePayload(BuildFailed, { phase: 'build' });
    expect(value).toBeUndefined();
    expect(problems).toEqual([expect.stringMatching(/^reason:/), expect.stringMatching(/^reason:/), expect.stringMatching(/^reason:/)]);
  });
});
