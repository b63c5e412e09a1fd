import {
  AddServiceResult,
  OakestraApi,
  OakestraApplication,
  OakestraApplicationSpec,
  OakestraCluster,
  OakestraError,
  OakestraMicroservice,
  OakestraService,
} from './oakestra-api';

export interface OakestraHttpOptions {
  /** System Manager, e.g. `http://127.0.0.1:10000`. */
  url: string;
  user: string;
  password: string;
  /** oakestra-net's root service manager, e.g. `http://127.0.0.1:10099`. */
  netUrl: string;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

type Json = unknown;

/** Oakestra's System Manager over HTTP, with its quirks absorbed here and nowhere else. */
export class OakestraHttpClient extends OakestraApi {
  private token: string | null = null;
  private readonly fetchFn: typeof fetch;

  constructor(private readonly opts: OakestraHttpOptions) {
    super();
    this.fetchFn = opts.fetch ?? fetch;
  }

  async createApplication(spec: OakestraApplicationSpec): Promise<OakestraApplication> {
    const apps = (await this.call('POST', '/api/application/', {
      sla_version: 'v2.0',
      customerID: this.opts.user,
      applications: [{ applicationID: '', ...spec, microservices: [] }],
    })) as RawApplication[];
    // The answer lists all of the user's applications; ours is the newest of that name.
    const mine = apps.map(toApplication).filter((a) => a.application_name === spec.application_name && a.application_namespace === spec.application_namespace);
    const created = mine.at(-1);
    if (!created) throw new OakestraError(`Oakestra did not list the new application ${spec.application_name}`, 200, JSON.stringify(apps));
    return created;
  }

  async listApplications(): Promise<OakestraApplication[]> {
    const user = (await this.call('GET', `/api/user/${encodeURIComponent(this.opts.user)}`)) as { _id: RawId };
    const apps = (await this.call('GET', `/api/applications/${oid(user._id)}`)) as RawApplication[];
    return apps.map(toApplication);
  }

  async deleteApplication(applicationId: string): Promise<boolean> {
    const res = await this.request('DELETE', `/api/application/${encodeURIComponent(applicationId)}`);
    if (res.status === 200) return true;
    // 501 is also what a failed delete of an existing application answers: look before concluding.
    if (res.status === 501 && !(await this.listApplications()).some((a) => a.applicationID === applicationId)) return false;
    throw this.error('DELETE', `/api/application/${applicationId}`, res);
  }

  async addService(app: OakestraApplication, service: OakestraMicroservice): Promise<AddServiceResult> {
    const body = (await this.call('POST', '/api/service/', {
      sla_version: 'v2.0',
      customerID: this.opts.user,
      applications: [
        {
          applicationID: app.applicationID,
          application_name: app.application_name,
          application_namespace: app.application_namespace,
          application_desc: app.application_desc,
          microservices: [{ microserviceID: '', ...service }],
        },
      ],
    })) as { job_id?: string | null; failed_services?: { service_name?: string; message?: string; status?: number }[] };
    const failed = (body.failed_services ?? []).map((f) => ({
      serviceName: f.service_name ?? service.microservice_name,
      message: f.message ?? 'refused',
      status: f.status ?? 500,
    }));
    return { jobId: failed.length ? null : (body.job_id ?? null), failed };
  }

  async getService(serviceId: string): Promise<OakestraService | null> {
    const res = await this.request('GET', `/api/service/${encodeURIComponent(serviceId)}`);
    if (res.status === 404) return null;
    if (res.status !== 200) throw this.error('GET', `/api/service/${serviceId}`, res);
    return toService(parseBody(res.text) as RawService);
  }

  async listServices(applicationId: string): Promise<OakestraService[]> {
    const list = (await this.call('GET', `/api/services/${encodeURIComponent(applicationId)}`)) as RawService[];
    return list.map(toService);
  }

  async deployInstance(serviceId: string): Promise<void> {
    await this.call('POST', `/api/service/${encodeURIComponent(serviceId)}/instance`);
  }

  async deleteService(serviceId: string): Promise<boolean> {
    const res = await this.request('DELETE', `/api/service/${encodeURIComponent(serviceId)}`);
    if (res.status === 200) return true;
    // An unknown id answers 500, like a real failure: tell them apart by asking for the service.
    if (res.status === 500 && (await this.getService(serviceId)) === null) return false;
    throw this.error('DELETE', `/api/service/${serviceId}`, res);
  }

  async activeClusters(): Promise<OakestraCluster[]> {
    const list = (await this.call('GET', '/api/clusters/active')) as { _id: RawId; cluster_name?: string; candidate_name?: string; active_nodes?: number }[];
    return list.map((c) => ({ id: oid(c._id), name: c.cluster_name ?? c.candidate_name ?? '', activeNodes: c.active_nodes ?? 0 }));
  }

  async freeServiceIps(count: number): Promise<string[]> {
    const body = (await this.call('GET', `/api/pubnet/service/netinfo/available-ip/${count}?v=4`, undefined, this.opts.netUrl)) as {
      available_service_ips?: { Address?: string | null }[];
    };
    return (body.available_service_ips ?? []).map((a) => a.Address).filter((a): a is string => typeof a === 'string' && a.length > 0);
  }

  // ---- transport

  private async login(): Promise<string> {
    const res = await this.raw('POST', `${this.opts.url}/api/auth/login`, { username: this.opts.user, password: this.opts.password }, null);
    if (res.status !== 200) throw new OakestraError(`Oakestra login as ${this.opts.user} failed (${res.status}): ${res.text.slice(0, 300)}`, res.status, res.text);
    const token = (parseBody(res.text) as { token?: string }).token;
    if (!token) throw new OakestraError('Oakestra login answered without a token', res.status, res.text);
    this.token = token;
    return token;
  }

  /** One request with the bearer token; logs in first, and again once on a 401. */
  private async request(method: string, path: string, body?: Json, base = this.opts.url): Promise<RawResponse> {
    const res = await this.raw(method, base + path, body, this.token ?? (await this.login()));
    if (res.status !== 401) return res;
    return this.raw(method, base + path, body, await this.login());
  }

  private async call(method: string, path: string, body?: Json, base = this.opts.url): Promise<Json> {
    const res = await this.request(method, path, body, base);
    if (res.status !== 200) throw this.error(method, path, res);
    return parseBody(res.text);
  }

  private async raw(method: string, url: string, body: Json, token: string | null): Promise<RawResponse> {
    const headers: Record<string, string> = {};
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res: Response;
    try {
      res = await this.fetchFn(url, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 30_000),
      });
    } catch (err) {
      throw new OakestraError(`Oakestra unreachable: ${method} ${url}: ${(err as Error).message}`, null, '');
    }
    return { status: res.status, text: await res.text() };
  }

  private error(method: string, path: string, res: RawResponse): OakestraError {
    return new OakestraError(`Oakestra ${method} ${path} answered ${res.status}: ${oakestraMessage(res.text)}`, res.status, res.text);
  }
}

interface RawResponse {
  status: number;
  text: string;
}
type RawId = string | { $oid: string };
interface RawApplication {
  _id?: RawId;
  applicationID?: string;
  application_name: string;
  application_namespace: string;
  application_desc?: string;
  microservices?: string[];
}
interface RawService {
  _id?: RawId;
  microserviceID?: string;
  microservice_name: string;
  microservice_namespace: string;
  applicationID: string;
  code?: string;
  image?: string;
  instance_list?: OakestraService['instance_list'];
}

/** Several endpoints answer a JSON string that holds the JSON document (json_util.dumps). */
export function parseBody(text: string): Json {
  let v: Json = text.length ? JSON.parse(text) : null;
  if (typeof v === 'string' && /^\s*[[{]/.test(v)) v = JSON.parse(v);
  return v;
}

/** Oakestra's own reason out of an error body (flask-smorest: {message} or {errors}). */
export function oakestraMessage(text: string): string {
  try {
    const v = parseBody(text) as { message?: unknown; errors?: unknown; description?: unknown } | null;
    const m = v?.message ?? v?.description ?? v?.errors;
    if (m !== undefined) return typeof m === 'string' ? m : JSON.stringify(m);
  } catch {
    // not JSON
  }
  return text.slice(0, 500);
}

function oid(id: RawId | undefined): string {
  if (id === undefined) return '';
  return typeof id === 'string' ? id : id.$oid;
}

function toApplication(a: RawApplication): OakestraApplication {
  return {
    applicationID: a.applicationID ?? oid(a._id),
    application_name: a.application_name,
    application_namespace: a.application_namespace,
    application_desc: a.application_desc ?? '',
    microservices: a.microservices ?? [],
  };
}

function toService(s: RawService): OakestraService {
  return {
    microserviceID: s.microserviceID ?? oid(s._id),
    microservice_name: s.microservice_name,
    microservice_namespace: s.microservice_namespace,
    applicationID: s.applicationID,
    code: s.code ?? s.image ?? '',
    instance_list: s.instance_list ?? [],
  };
}
