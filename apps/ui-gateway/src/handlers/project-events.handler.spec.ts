import { ROUTE_ARGS_METADATA } from '@nestjs/common/constants';
import { PATTERN_METADATA } from '@nestjs/microservices/constants';
import { PayloadOf, TopicDef, Topics, createMessage, parseMessage, subscriptionFor } from '@flops/contracts';
import { ProjectState } from '@flops/lifecycle';
import { PROJECT_EVENT_TYPES, ProjectEventType } from '@flops/contracts';
import { ProjectEventStream } from '../events/project-event-stream';
import { ProjectEventsHandler } from './project-events.handler';

const DIGEST = `sha256:${'a'.repeat(64)}`;

/** A valid payload of every topic the gateway shows. */
const SAMPLES: { [T in ProjectEventType]: PayloadOf<(typeof Topics)[T]> } = {
  projectStateChanged: { from: ProjectState.BUILDING, to: ProjectState.DEPLOYING, version: 4, at: '2025-01-01T00:00:00.000Z' },
  buildStarted: { image: '127.0.0.1:5000/flops/learners/digits:abc', sourceRevision: 'abc' },
  buildSucceeded: {
    image: '127.0.0.1:5000/flops/learners/digits:abc',
    digest: DIGEST,
    sourceRevision: 'abc',
    cacheHit: false,
    durations: { fetchMs: 1, checkMs: 2, buildMs: 3, pushMs: 4 },
  },
  buildFailed: { phase: 'contract', reason: 'no model_manager.ts' },
  trainingStarted: { learners: ['l1', 'l2'] },
  roundCompleted: { round: 3, learners: 2, samples: 100, trainMetrics: { loss: 0.4 }, evalMetrics: { accuracy: 0.9 }, durationMs: 1200 },
  trainingCompleted: { rounds: 3, finalMetrics: { accuracy: 0.93 }, model: { reference: 'r@' + DIGEST, digest: DIGEST, sizeBytes: 10 } },
  trainingFailed: { reason: 'not enough learners' },
};

type HandlerMethod = (msg: unknown) => unknown;
const proto = ProjectEventsHandler.prototype as unknown as Record<string, HandlerMethod>;

/** The handler method subscribed to `type`'s topic, found through Nest's metadata. */
function methodFor(type: ProjectEventType): string {
  const names = Object.getOwnPropertyNames(ProjectEventsHandler.prototype).filter(
    (name) => name !== 'constructor' && (Reflect.getMetadata(PATTERN_METADATA, proto[name]) as string[] | undefined)?.includes(subscriptionFor(Topics[type])),
  );
  expect(names).toHaveLength(1);
  return names[0];
}

describe('ProjectEventsHandler', () => {
  it.each(PROJECT_EVENT_TYPES)('subscribes to %s for all projects and validates against that topic', (type) => {
    const method = methodFor(type);
    const args = Reflect.getMetadata(ROUTE_ARGS_METADATA, ProjectEventsHandler, method) as Record<string, { index: number; data: unknown }>;
    expect(Object.values(args).find((a) => a.index === 0)?.data).toBe(Topics[type]);
  });

  it.each(PROJECT_EVENT_TYPES)('turns %s into a ProjectEvent view in the stream', (type) => {
    const stream = new ProjectEventStream();
    const handler = new ProjectEventsHandler(stream) as unknown as Record<string, HandlerMethod>;
    const def: TopicDef<object> = Topics[type];
    const { topic, message } = createMessage(def, 'proj-1', SAMPLES[type]);
    const received = parseMessage(def, topic, Buffer.from(JSON.stringify(message)));

    handler[methodFor(type)](received);

    const history = stream.history('proj-1');
    expect(history).toHaveLength(1);
    expect(history[0].id).toBe(message.messageId);
    expect(history[0].event).toEqual({ projectId: 'proj-1', type, at: message.sentAt, payload: received.payload });
    // What the SSE client gets: the payload as sent.
    expect(JSON.parse(JSON.stringify(history[0].event))).toEqual({ projectId: 'proj-1', type, at: message.sentAt, payload: SAMPLES[type] });
  });

  it('has no handler for a topic it does not show', () => {
    const patterns = Object.getOwnPropertyNames(ProjectEventsHandler.prototype)
      .filter((name) => name !== 'constructor')
      .flatMap((name) => (Reflect.getMetadata(PATTERN_METADATA, proto[name]) as string[] | undefined) ?? []);
    expect(patterns.sort()).toEqual(PROJECT_EVENT_TYPES.map((t) => subscriptionFor(Topics[t])).sort());
  });
});
