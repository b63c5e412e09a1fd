import createClient from 'openapi-fetch';
import { TERMINAL_STATES } from '@flops/lifecycle';
import type { components, paths } from './openapi';

type Schemas = components['schemas'];
export type Project = Schemas['ProjectView'];
export type ProjectDetail = Schemas['ProjectDetailView'];
export type ProjectList = Schemas['ProjectListView'];
export type ProjectComponent = Schemas['ComponentView'];
export type Round = Schemas['RoundView'];
export type CreateProject = Schemas['CreateProjectDto'];
export type ComponentLog = Schemas['ComponentLogView'];
export type LogChunk = Schemas['LogChunkView'];
export type ProjectState = Project['state'];
export type ListQuery = NonNullable<paths['/api/projects']['get']['parameters']['query']>;

/** A refusal or failure of the API, with every message it gave (one per offending field for a 400). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly messages: string[],
  ) {
    super(`${status}: ${messages.join('; ')}`);
    this.name = 'ApiError';
  }

  get badRequest(): boolean {
    return this.status === 400;
  }
}

/**
 * The manager API, typed by the OpenAPI document it serves (src/openapi.ts is generated from it),
 * for the web UI and the CLI alike.
 */
export class FlopsApi {
  private readonly client: ReturnType<typeof createClient<paths>>;

  constructor(
    readonly baseUrl: string,
    private readonly fetchImpl: typeof fetch = (...args) => fetch(...args),
  ) {
    this.client = createClient<paths>({ baseUrl: baseUrl.replace(/\/$/, ''), fetch: this.fetchImpl });
  }

  async list(query: ListQuery = {}): Promise<ProjectList> {
    return unwrap(await this.client.GET('/api/projects', { params: { query } }));
  }

  async get(id: string): Promise<ProjectDetail> {
    return unwrap(await this.client.GET('/api/projects/{id}', { params: { path: { id } } }));
  }

  async submit(body: CreateProject): Promise<Project> {
    return unwrap(await this.client.POST('/api/projects', { body }));
  }

  async cancel(id: string, reason?: string): Promise<Project> {
    return unwrap(await this.client.POST('/api/projects/{id}/cancel', { params: { path: { id } }, body: reason ? { reason } : {} }));
  }

  async logs(id: string): Promise<ComponentLog[]> {
    return unwrap(await this.client.GET('/api/projects/{id}/logs', { params: { path: { id } } })).components;
  }

  async log(id: string, component: string, offset = 0, limit?: number): Promise<LogChunk> {
    const query = limit === undefined ? { offset } : { offset, limit };
    return unwrap(await this.client.GET('/api/projects/{id}/logs/{component}', { params: { path: { id, component }, query } }));
  }

  /** Where the trained model can be downloaded (a link for browsers). */
  modelPath(id: string): string {
    return `/api/projects/${encodeURIComponent(id)}/model`;
  }

  /** The trained model's bytes (FLT1 tensors). */
  async model(id: string): Promise<Uint8Array> {
    const res = await this.fetchImpl(`${this.baseUrl.replace(/\/$/, '')}${this.modelPath(id)}`);
    if (!res.ok) throw new ApiError(res.status, messagesOf(await res.json().catch(() => undefined), res.statusText));
    return new Uint8Array(await res.arrayBuffer());
  }
}

function unwrap<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.response.ok && result.data !== undefined) return result.data;
  throw new ApiError(result.response.status, messagesOf(result.error, result.response.statusText));
}

function messagesOf(body: unknown, fallback: string): string[] {
  const message = (body as { message?: unknown } | undefined)?.message;
  if (Array.isArray(message)) return message.map(String);
  if (typeof message === 'string') return [message];
  return [fallback || 'request failed'];
}

/**
 * The request field a validation message is about: the API starts each message with the field's
 * path (`training.rounds must not be …`) or says `property <path> should not exist`.
 */
export function fieldOf(message: string): string | null {
  const unknown = /^property (\S+) should not exist/.exec(message);
  if (unknown) return unknown[1];
  const path = /^([A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)\s/.exec(message);
  return path ? path[1] : null;
}

/** Messages by field path; those naming no field under `''`. */
export function fieldErrors(messages: string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const message of messages) (out[fieldOf(message) ?? ''] ??= []).push(message);
  return out;
}

/** Whether a project has ended (its state is final), by the lifecycle's own rule. */
export function isEnded(state: ProjectState): boolean {
  return (TERMINAL_STATES as ReadonlySet<string>).has(state);
}
