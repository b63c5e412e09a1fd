import { IDENTIFIER } from './patterns';
import { AggregatorReady, RoundCompleted, TrainingCompleted, TrainingFailed, TrainingStarted } from './payloads/training';
import { BuildFailed, BuildRequested, BuildStarted, BuildSucceeded } from './payloads/build';
import { LearnerEvaluated, LearnerFailed, LearnerJoined, LearnerTask } from './payloads/learner';
import { ProjectCancelRequested, ProjectStateChanged, ProjectSubmitted } from './payloads/project';

export const TOPIC_ROOT = 'flops/v1';
const PROJECT = '{projectId}';

export interface TopicDef<P extends object> {
  /** Concrete topic with a `{projectId}` placeholder. */
  readonly template: string;
  readonly payload: new () => P;
  /** Retained topics hold the latest value for late subscribers; cleared when the project ends. */
  readonly retained: boolean;
}

function topic<P extends object>(path: string, payload: new () => P, retained = false): TopicDef<P> {
  return { template: `${TOPIC_ROOT}/projects/${PROJECT}/${path}`, payload, retained };
}

/** Every topic FLOps uses, with the payload it carries. No topic string exists anywhere else. */
export const Topics = {
  projectSubmitted: topic('submitted', ProjectSubmitted),
  projectCancelRequested: topic('cancel', ProjectCancelRequested),
  projectStateChanged: topic('state', ProjectStateChanged),
  buildRequested: topic('build/requested', BuildRequested),
  buildStarted: topic('build/started', BuildStarted),
  buildSucceeded: topic('build/succeeded', BuildSucceeded),
  buildFailed: topic('build/failed', BuildFailed),
  aggregatorReady: topic('aggregator/ready', AggregatorReady, true),
  trainingStarted: topic('training/started', TrainingStarted),
  roundCompleted: topic('training/round-completed', RoundCompleted),
  trainingCompleted: topic('training/completed', TrainingCompleted),
  trainingFailed: topic('training/failed', TrainingFailed),
  learnerJoined: topic('learners/joined', LearnerJoined),
  learnerTask: topic('learners/task', LearnerTask),
  learnerEvaluated: topic('learners/evaluated', LearnerEvaluated),
  learnerFailed: topic('learners/failed', LearnerFailed),
} as const;

export type TopicName = keyof typeof Topics;
export type PayloadOf<T> = T extends TopicDef<infer P> ? P : never;

/** The topic of one project. */
export function topicFor(def: TopicDef<object>, projectId: string): string {
  if (!IDENTIFIER.test(projectId)) throw new Error(`invalid project id for a topic: ${JSON.stringify(projectId)}`);
  return def.template.replace(PROJECT, projectId);
}

/** The subscription for a topic across all projects (`+` in place of the project id). */
export function subscriptionFor(def: TopicDef<object>): string {
  return def.template.replace(PROJECT, '+');
}

/** A shared subscription: the broker hands each message to one member of `group` only. */
export function sharedSubscriptionFor(def: TopicDef<object>, group: string): string {
  return `$share/${group}/${subscriptionFor(def)}`;
}

/** Every topic of one project (for clearing retained messages and for observers). */
export function projectWildcard(projectId: string): string {
  return `${TOPIC_ROOT}/projects/${projectId}/#`;
}
export const ALL_PROJECTS_WILDCARD = `${TOPIC_ROOT}/projects/+/#`;

/** Where a service's readiness probe publishes (QoS 1, empty, never retained) to see the broker acknowledge. */
export function healthProbeTopic(clientId: string): string {
  return `${TOPIC_ROOT}/health/${clientId.replace(/[+#/]/g, '_')}`;
}

/** The project id inside a concrete topic, or null when the topic is not a FLOps project topic. */
export function projectIdOfTopic(topic: string): string | null {
  const parts = topic.split('/');
  return parts.length >= 4 && `${parts[0]}/${parts[1]}` === TOPIC_ROOT && parts[2] === 'projects' ? parts[3] : null;
}

/** Which topic definition a concrete topic belongs to. */
export function topicDefOf(concrete: string): [TopicName, TopicDef<object>] | null {
  const projectId = projectIdOfTopic(concrete);
  if (!projectId) return null;
  for (const [name, def] of Object.entries(Topics) as [TopicName, TopicDef<object>][]) {
    if (def.template.replace(PROJECT, projectId) === concrete) return [name, def];
  }
  return null;
}

