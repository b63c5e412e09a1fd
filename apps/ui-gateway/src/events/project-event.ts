import { Envelope, PayloadOf, TopicName, Topics } from '@flops/contracts';

/** The topics the gateway shows people, by name; the name is also the event's `type`. */
export const PROJECT_EVENT_TYPES = [
  'projectStateChanged',
  'buildStarted',
  'buildSucceeded',
  'buildFailed',
  'trainingStarted',
  'roundCompleted',
  'trainingCompleted',
  'trainingFailed',
] as const satisfies readonly TopicName[];

export type ProjectEventType = (typeof PROJECT_EVENT_TYPES)[number];

/** One project event as the UI sees it. */
export interface ProjectEvent<T extends ProjectEventType = ProjectEventType> {
  projectId: string;
  type: T;
  /** When the sender sent it (the envelope's `sentAt`, ISO 8601). */
  at: string;
  payload: PayloadOf<(typeof Topics)[T]>;
}

export function toProjectEvent<T extends ProjectEventType>(type: T, msg: Envelope<PayloadOf<(typeof Topics)[T]>>): ProjectEvent<T> {
  return { projectId: msg.projectId, type, at: msg.sentAt, payload: msg.payload };
}
