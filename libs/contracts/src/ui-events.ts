import type { Envelope } from './envelope';
import type { PayloadOf, TopicName, Topics } from './topics';

// The ui-gateway's wire to browsers: its Server-Sent Events and the pages of the web UI.
// Type-only imports: this file is also the browser's entry (`@flops/contracts/ui`), which must not
// pull in the validators.

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

/** One project event as the UI sees it: the `data` of an SSE event, whose `id` is the MQTT message id. */
export interface ProjectEvent<T extends ProjectEventType = ProjectEventType> {
  projectId: string;
  type: T;
  /** When the sender sent it (the envelope's `sentAt`, ISO 8601). */
  at: string;
  payload: PayloadOf<(typeof Topics)[T]>;
}

/** Any one project event, discriminated by `type`. */
export type AnyProjectEvent = { [T in ProjectEventType]: ProjectEvent<T> }[ProjectEventType];

export function toProjectEvent<T extends ProjectEventType>(type: T, msg: Envelope<PayloadOf<(typeof Topics)[T]>>): ProjectEvent<T> {
  return { projectId: msg.projectId, type, at: msg.sentAt, payload: msg.payload };
}

/** The gateway's event streams (Nest route paths, without the leading slash). */
export const UI_EVENT_ROUTES = {
  /** Every project's events, live only. */
  all: 'events',
  /** One project's recent events (after Last-Event-ID), then its live ones. */
  project: 'projects/:id/events',
} as const;

export function projectEventsPath(projectId: string): string {
  return `/${UI_EVENT_ROUTES.project.replace(':id', encodeURIComponent(projectId))}`;
}

/** The web UI's pages: the gateway answers each with the single-page app, which routes by them. */
export const UI_PAGES = {
  projects: '/',
  submit: '/new',
  project: '/projects/:id',
} as const;

export function projectPagePath(projectId: string): string {
  return UI_PAGES.project.replace(':id', encodeURIComponent(projectId));
}
