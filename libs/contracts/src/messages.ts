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
  // Validation recurses into the value: refuse what would overflow the stack first.
  if (valueDepth(plain) > MAX_MESSAGE_DEPTH) return { problems: [`payload must not nest deeper than ${MAX_MESSAGE_DEPTH} levels`] };
  const value = plainToInstance(cls, plain);
  const problems = flatten(validateSync(value, { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: false }));
  return problems.length ? { problems } : { value, problems };
}

/** The largest MQTT message FLOps accepts; checked before it is parsed. */
export const MAX_MESSAGE_BYTES = 1024 * 1024;
/** The deepest nesting a message may have; checked before validation recurses into it. */
export const MAX_MESSAGE_DEPTH = 32;

const NOT_AN_OBJECT = `not a JSON object nested at most ${MAX_MESSAGE_DEPTH} deep`;

/** The parsed message, or the reason it cannot be one: too large, not JSON, or nested too deep. */
function asObject(raw: unknown): { value?: unknown; problem?: string } {
  if (Buffer.isBuffer(raw)) {
    if (raw.length > MAX_MESSAGE_BYTES) return { problem: `larger than ${MAX_MESSAGE_BYTES} bytes` };
    raw = raw.toString('utf8');
  }
  if (typeof raw === 'string') {
    if (Buffer.byteLength(raw, 'utf8') > MAX_MESSAGE_BYTES) return { problem: `larger than ${MAX_MESSAGE_BYTES} bytes` };
    if (jsonTextDepth(raw) > MAX_MESSAGE_DEPTH) return { problem: NOT_AN_OBJECT };
    try {
      return { value: JSON.parse(raw) };
    } catch {
      return { value: undefined };
    }
  }
  return valueDepth(raw) > MAX_MESSAGE_DEPTH ? { problem: NOT_AN_OBJECT } : { value: raw };
}

/** How deep arrays and objects nest in JSON text, brackets inside strings not counted. One pass, no recursion. */
function jsonTextDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) deepest = Math.max(deepest, ++depth);
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return deepest;
}

/** How deep an already parsed value nests, found without recursion (and giving up past the limit). */
function valueDepth(value: unknown): number {
  const stack: [unknown, number][] = [[value, 0]];
  let deepest = 0;
  while (stack.length) {
    const [node, depth] = stack.pop()!;
    if (typeof node !== 'object' || node === null) continue;
    deepest = Math.max(deepest, depth + 1);
    if (deepest > MAX_MESSAGE_DEPTH) return deepest;
    for (const child of Object.values(node)) stack.push([child, depth + 1]);
  }
  return deepest;
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
  const { value: obj, problem } = asObject(raw);
  if (problem) throw new InvalidMessageError(topic, [problem]);
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
