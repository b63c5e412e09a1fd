import { plainToInstance } from 'class-transformer';
import { ValidationError, validateSync } from 'class-validator';
import { Envelope, WIRE_SCHEMA, envelope } from './envelope';
import { TopicDef, projectIdOfTopic, topicFor } from './topics';

/** A message that did not match its topic's contract. Handlers drop these; they never crash a service. */
export class InvalidMessageError extends Error {
  constructor(
    readonly topic: string,
    readonly problems: string[],
  ) {
    super(`invalid message on ${topic}: ${problems.join('; ')}`);
    this.name = 'InvalidMessageError';
  }
}

function flatten(errors: ValidationError[], prefix = ''): string[] {
  return errors.flatMap((e) => {
    const path = prefix ? `${prefix}.${e.property}` : e.property;
    const own = Object.values(e.constraints ?? {}).map((m) => `${path}: ${m}`);
    return [...own, ...flatten(e.children ?? [], path)];
  });
}

/** Validate a plain object against a payload class: unknown fields are errors, not silently kept. */
export function validatePayload<P extends object>(cls: new () => P, plain: unknown): { value?: P; problems: string[] } {
  if (typeof plain !== 'object' || plain === null || Array.isArray(plain)) return { problems: ['payload must be an object'] };
  const value = plainToInstance(cls, plain);
  const problems = flatten(validateSync(value, { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: false }));
  return problems.length ? { problems } : { value, problems };
}

function asObject(raw: unknown): unknown {
  if (Buffer.isBuffer(raw)) raw = raw.toString('utf8');
  if (typeof raw === 'string') {
    try {
      return JSON.parse(raw);
    } catch {
      return undefined;
    }
  }
  return raw;
}

/** The project's topic, or null with the reason in `problems` when the id cannot be part of a topic. */
function topicOrProblem(def: TopicDef<object>, projectId: string, problems: string[]): string | null {
  try {
    return topicFor(def, projectId);
  } catch (error) {
    problems.push(error instanceof Error ? error.message : String(error));
    return null;
  }
}

/**
 * Turn what arrived on `topic` into a typed message, or throw InvalidMessageError listing every problem.
 * The envelope's project id must be the one in the topic, so a message cannot act on another project.
 */
export function parseMessage<P extends object>(def: TopicDef<P>, topic: string, raw: unknown): Envelope<P> {
  const obj = asObject(raw);
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new InvalidMessageError(topic, ['not a JSON object']);
  const msg = obj as Partial<Envelope<unknown>>;
  const problems: string[] = [];
  if (msg.schema !== WIRE_SCHEMA) problems.push(`schema must be ${WIRE_SCHEMA}`);
  if (typeof msg.messageId !== 'string' || !msg.messageId) problems.push('messageId must be a non-empty string');
  if (typeof msg.sentAt !== 'string' || Number.isNaN(Date.parse(msg.sentAt))) problems.push('sentAt must be an ISO date');
  if (msg.correlationId !== undefined && typeof msg.correlationId !== 'string') problems.push('correlationId must be a string');
  const topicProject = projectIdOfTopic(topic);
  if (typeof msg.projectId !== 'string' || msg.projectId !== topicProject) problems.push('projectId must match the topic');
  else {
    const expected = topicOrProblem(def, msg.projectId, problems);
    if (expected !== null && expected !== topic) problems.push(`topic does not belong to ${def.template}`);
  }
  const { value, problems: payloadProblems } = validatePayload(def.payload, msg.payload);
  problems.push(...payloadProblems.map((p) => `payload.${p}`));
  if (problems.length || !value) throw new InvalidMessageError(topic, problems);
  return { ...(msg as Envelope<unknown>), payload: value };
}

/** Build an outgoing message, checking our own payload against the contract first. */
export function createMessage<P extends object>(
  def: TopicDef<P>,
  projectId: string,
  payload: P,
  correlationId?: string,
): { topic: string; message: Envelope<P> } {
  const topic = topicFor(def, projectId);
  const { problems } = validatePayload(def.payload, payload);
  if (problems.length) throw new InvalidMessageError(topic, problems);
  return { topic, message: envelope(projectId, payload, correlationId) };
}
