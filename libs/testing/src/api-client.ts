import { setTimeout as sleep } from 'node:timers/promises';
import { OpenApiContract } from './openapi-contract';

/** The parts of a project the tests look at (the manager API's ProjectView). */
export interface ProjectJson {
  id: string;
  state: string;
  version: number;
  image?: { reference: string; digest: string; cacheHit: boolean; sourceRevision: string };
  training?: { strategy: string; strategyParams: Record<string, unknown>; privacy?: Record<string, unknown> };
  rounds: {
    round: number;
    learners: number;
    evalMetrics: Record<string, number>;
    trainMetrics: Record<string, number>;
    refused?: number;
    privacy?: { epsilon: number | null; epsilonRound: number | null; delta: number; clipNorm: number; noiseStddev: number };
  }[];
  /** Updates refused per learner (the aggregator's update checks). */
  refusals?: { learnerId: string; total: number; byReason: Record<string, number>; lastReason: string; lastRound: number }[];
  privacy?: { epsilon: number | null; delta: number; rounds: number };
  finalMetrics?: Record<string, number>;
  model?: { reference: string; digest: string; sizeBytes: number };
  failure?: { stage: string; reason: string };
  history: { from: string | null; to: string; event: string; reason?: string }[];
  /** Only on GET /api/projects/:id. */
  components?: { component: string; status: string; logFile?: string; exitCode?: number | null }[];
}

export const TERMINAL = ['COMPLETED', 'FAILED', 'CANCELLED'];

/**
 * A small client of manager-api, used the way a user would use it. Made with `checked()`, it
 * checks every response it gets against the OpenAPI document the server serves, and throws
 * ContractViolationError for one the document does not describe.
 */
export class ApiClient {
  /** Responses checked against the served document. */
  checkedResponses = 0;

  constructor(
    private readonly baseUrl: string,
    private readonly contract?: OpenApiContract,
  ) {}

  static async checked(baseUrl: string): Promise<ApiClient> {
    return new ApiClient(baseUrl, await OpenApiContract.served(baseUrl));
  }

  async request(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    const json = text ? JSON.parse(text) : undefined;
    if (this.contract && path.startsWith('/api/') && !path.startsWith('/api/docs')) {
      this.contract.check(method, path, res.status, json);
      this.checkedResponses++;
    }
    return { status: res.status, json };
  }

  async submit(body: unknown): Promise<ProjectJson> {
    const { status, json } = await this.request('POST', '/api/projects', body);
    if (status !== 201) throw new Error(`submit answered ${status}: ${JSON.stringify(json)}`);
    return json as ProjectJson;
  }

  async get(id: string): Promise<ProjectJson> {
    const { status, json } = await this.request('GET', `/api/projects/${id}`);
    if (status !== 200) throw new Error(`GET ${id} answered ${status}`);
    return json as ProjectJson;
  }

  /** Polls until `done(project)` holds; throws with the last state seen on timeout. */
  async waitFor(id: string, done: (p: ProjectJson) => boolean, timeoutMs = 60_000): Promise<ProjectJson> {
    const deadline = Date.now() + timeoutMs;
    let last: ProjectJson | undefined;
    while (Date.now() < deadline) {
      last = await this.get(id);
      if (done(last)) return last;
      await sleep(100);
    }
    throw new Error(`project ${id} timed out in ${last?.state}: ${JSON.stringify(last?.history)} ${JSON.stringify(last?.failure)}`);
  }

  waitForEnd(id: string, timeoutMs?: number): Promise<ProjectJson> {
    return this.waitFor(id, (p) => TERMINAL.includes(p.state), timeoutMs);
  }
}
