/**
 * The part of Oakestra's System Manager API (and of oakestra-net's root service manager) that FLOps
 * uses, as a port: the driver's logic is tested against fakes of it, the HTTP client against the
 * real Oakestra.
 */

/** SLA v2.0 microservice, as `POST /api/service/` takes it (`microserviceID` must stay empty). */
export interface OakestraMicroservice {
  microservice_name: string;
  microservice_namespace: string;
  virtualization: 'container';
  cmd: string[];
  memory: number;
  vcpus: number;
  vgpus: number;
  storage: number;
  code: string;
  port: string;
  environment: string[];
  one_shot: boolean;
  addresses?: { rr_ip?: string };
  constraints: OakestraConstraint[];
}

/** Oakestra's schedulers place by `direct` constraints only (a node name and/or a cluster name). */
export type OakestraConstraint = { type: 'direct'; node?: string; cluster?: string };

export interface OakestraApplicationSpec {
  application_name: string;
  application_namespace: string;
  application_desc: string;
}

export interface OakestraApplication extends OakestraApplicationSpec {
  applicationID: string;
  /** Service (job) ids. */
  microservices: string[];
}

export interface OakestraInstance {
  instance_number: number;
  /** REQUESTED, …, CLUSTER_SCHEDULED, NODE_SCHEDULED, RUNNING, COMPLETED, FAILED, DEAD, … */
  status: string;
  status_detail?: string;
  cluster_id?: string;
  worker_id?: string;
}

export interface OakestraService {
  microserviceID: string;
  microservice_name: string;
  microservice_namespace: string;
  applicationID: string;
  code: string;
  instance_list: OakestraInstance[];
}

export interface AddServiceResult {
  /** Set when Oakestra created the service (it still answers 200 when the network plugin refused it). */
  jobId: string | null;
  failed: { serviceName: string; message: string; status: number }[];
}

export interface OakestraCluster {
  id: string;
  name: string;
  activeNodes: number;
}

/** An answer of Oakestra that the driver cannot work with; `status` is Oakestra's HTTP status. */
export class OakestraError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
    readonly body: string,
  ) {
    super(message);
    this.name = 'OakestraError';
  }
}

export abstract class OakestraApi {
  /** Creates an application with no service and returns it. */
  abstract createApplication(spec: OakestraApplicationSpec): Promise<OakestraApplication>;
  /** The logged-in user's applications. */
  abstract listApplications(): Promise<OakestraApplication[]>;
  /** `false` when Oakestra did not know the id (it answers 501 then). */
  abstract deleteApplication(applicationId: string): Promise<boolean>;
  abstract addService(app: OakestraApplication, service: OakestraMicroservice): Promise<AddServiceResult>;
  /** `null` when the service does not exist. */
  abstract getService(serviceId: string): Promise<OakestraService | null>;
  abstract listServices(applicationId: string): Promise<OakestraService[]>;
  /** Asks for one more instance of the service. */
  abstract deployInstance(serviceId: string): Promise<void>;
  /** Removes the service with all its instances; `false` when the id was unknown (500 then). */
  abstract deleteService(serviceId: string): Promise<boolean>;
  abstract activeClusters(): Promise<OakestraCluster[]>;
  /** The next free service (round-robin) IPv4 addresses, from oakestra-net; not reserved. */
  abstract freeServiceIps(count: number): Promise<string[]>;
}
