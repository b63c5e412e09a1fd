import { Connection, Model, Schema } from 'mongoose';

/** `starting`: recorded before the component is started (its intent), so a crash in between cannot start it twice. */
export const DEPLOYMENT_STATUSES = ['starting', 'running', 'stopped', 'exited'] as const;
export type DeploymentStatus = (typeof DEPLOYMENT_STATUSES)[number];

/**
 * One component a driver started for a project. The local driver keeps its process table here,
 * so a restarted orchestrator can find, watch and stop what an earlier incarnation started.
 */
export interface DeploymentRecord {
  _id: string; // `${projectId}/${component}`
  projectId: string;
  component: string;
  driver: string;
  image: string;
  status: DeploymentStatus;
  /**
   * Driver-specific handle: for the local driver the pid and the process start time (pid reuse
   * guard); for the Oakestra driver the application, the service (job) and its round-robin IP;
   * for the podman driver the container's id and name.
   */
  handle: {
    pid?: number;
    startTicks?: number;
    launchId?: string;
    serviceId?: string;
    applicationId?: string;
    rrIp?: string;
    instanceRequested?: boolean;
    containerId?: string;
    containerName?: string;
  };
  logFile?: string;
  exitCode?: number | null;
  exitSignal?: string | null;
  startedAt: Date;
  endedAt?: Date;
}

const deploymentSchema = new Schema<DeploymentRecord>(
  {
    _id: { type: String, required: true },
    projectId: { type: String, required: true, index: true },
    component: { type: String, required: true },
    driver: { type: String, required: true },
    image: { type: String, required: true },
    status: { type: String, enum: DEPLOYMENT_STATUSES, required: true, index: true },
    handle: {
      pid: Number,
      startTicks: Number,
      launchId: String,
      serviceId: String,
      applicationId: String,
      rrIp: String,
      instanceRequested: Boolean,
      containerId: String,
      containerName: String,
    },
    logFile: String,
    exitCode: { type: Number, default: null },
    exitSignal: { type: String, default: null },
    startedAt: { type: Date, required: true },
    endedAt: Date,
  },
  { versionKey: false, minimize: false },
);

export type DeploymentModel = Model<DeploymentRecord>;

export function deploymentModel(connection: Connection): DeploymentModel {
  return (
    (connection.models.Deployment as DeploymentModel | undefined) ??
    connection.model<DeploymentRecord>('Deployment', deploymentSchema, 'deployments')
  );
}

/** Read access to what drivers deployed, for the API. */
export class DeploymentStore {
  private readonly model: DeploymentModel;

  constructor(connection: Connection) {
    this.model = deploymentModel(connection);
  }

  /** What was deployed for a project, oldest first. */
  async forProject(projectId: string): Promise<DeploymentRecord[]> {
    return this.model.find({ projectId }).sort({ startedAt: 1, _id: 1 }).lean<DeploymentRecord[]>().exec();
  }
}
