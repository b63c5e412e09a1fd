import { Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { DeploymentModel, DeploymentRecord } from '@flops/models';
import { ComponentExit, ComponentSpec, DeploymentDriver, ProjectQueue, componentKind } from '../deployment-driver';
import { OakestraApi, OakestraApplication, OakestraError, OakestraService } from './oakestra-api';
import { SlaSettings, applicationSpec, microservice, serviceName, serviceOutcome } from './oakestra-sla';

export interface OakestraDriverSettings extends SlaSettings {
  /** How often running services are checked. */
  pollIntervalMs: number;
  /** Attempts at a free rr_ip when Oakestra's network plugin refuses the one offered. */
  rrIpAttempts?: number;
}

/**
 * Runs components on Oakestra, the way the original FLOps add-on did: one application per project,
 * created empty; one service per component (`POST /api/service/`), its job id kept in the
 * deployments collection; one instance each; status polled until RUNNING, then COMPLETED or
 * FAILED/DEAD. Undeploy removes the project's application. A restarted orchestrator finds its
 * services again, by record or by name, and never creates one twice.
 */
export class OakestraDriver extends DeploymentDriver {
  readonly name = 'oakestra';
  private readonly logger = new Logger(OakestraDriver.name);
  private readonly listeners: ((exit: ComponentExit) => void)[] = [];
  private readonly stopping = new Set<string>();
  private readonly queue = new ProjectQueue();
  private pollTimer?: NodeJS.Timeout;
  private polling = false;
  private checked?: Promise<void>;

  constructor(
    private readonly api: OakestraApi,
    private readonly deployments: DeploymentModel,
    private readonly settings: OakestraDriverSettings,
  ) {
    super();
  }

  onExit(listener: (exit: ComponentExit) => void): void {
    this.listeners.push(listener);
  }

  /** Components of one project are deployed one after the other: they share one application. */
  deploy(spec: ComponentSpec): Promise<void> {
    return this.queue.run(spec.projectId, () => this.deployNow(spec));
  }

  async undeployProject(projectId: string): Promise<void> {
    await this.queue.run(projectId, async () => {
      const records = await this.deployments.find({ projectId, driver: this.name }).lean<DeploymentRecord[]>().exec();
      for (const r of records) this.stopping.add(r._id);
      try {
        // Services first, then the application: deleting a service removes all its instances,
        // whatever their numbers are by now.
        for (const r of records) if (r.handle.serviceId && r.status === 'running') await this.api.deleteService(r.handle.serviceId);
        const appIds = new Set(records.map((r) => r.handle.applicationId).filter((id): id is string => !!id));
        for (const app of await this.projectApplications(projectId)) appIds.add(app.applicationID);
        for (const id of appIds) await this.api.deleteApplication(id);
        await this.deployments
          .updateMany({ projectId, driver: this.name, status: 'running' }, { $set: { status: 'stopped', endedAt: new Date() } })
          .exec();
        this.logger.log(`undeployed ${projectId} (${records.length} services, ${appIds.size} application(s))`);
      } finally {
        for (const r of records) this.stopping.delete(r._id);
      }
    });
  }

  async resume(): Promise<void> {
    await this.checkSystemManager();
    const running = await this.deployments.find({ driver: this.name, status: 'running' }).lean<DeploymentRecord[]>().exec();
    for (const record of running) {
      const service = record.handle.serviceId ? await this.api.getService(record.handle.serviceId) : null;
      const outcome = service ? serviceOutcome(service.instance_list) : ({ ended: true, exitCode: null, detail: 'service gone' } as const);
      if (outcome.ended) {
        await this.markEnded(record._id, 'exited', outcome.exitCode);
        this.logger.log(`${record._id} ended while the orchestrator was away (${outcome.detail})`);
      } else {
        this.logger.log(`adopted ${record._id} (Oakestra service ${record.handle.serviceId})`);
      }
    }
    this.pollTimer ??= setInterval(() => void this.poll(), this.settings.pollIntervalMs);
    this.pollTimer.unref();
  }

  close(): Promise<void> {
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = undefined;
    return Promise.resolve();
  }

  /**
   * Refuses a System Manager older than v0.4.301. It has no version endpoint; what FLOps depends
   * on is the 30-character names of v0.4.301 (before, 10): an application with such a name is
   * created and deleted once.
   */
  checkSystemManager(): Promise<void> {
    this.checked ??= (async () => {
      const name = `flopscheck${randomBytes(10).toString('hex')}`;
      let app: OakestraApplication;
      try {
        app = await this.api.createApplication({ application_name: name, application_namespace: this.settings.namespace, application_desc: 'FLOps version check' });
      } catch (err) {
        if (err instanceof OakestraError && err.status !== null && err.status >= 400 && err.status < 500) {
          throw new Error(`the Oakestra System Manager refuses 30-character names: FLOps needs v0.4.301 or later (${err.message})`);
        }
        throw err;
      }
      await this.api.deleteApplication(app.applicationID);
    })().catch((err: unknown) => {
      this.checked = undefined;
      throw err;
    });
    return this.checked;
  }

  private async deployNow(spec: ComponentSpec): Promise<void> {
    await this.checkSystemManager();
    const id = `${spec.projectId}/${spec.component}`;
    const name = serviceName(spec.component);
    microservice(spec, '10.30.0.0', this.settings); // a bad name or unplaceable learner fails before anything is created
    const record = await this.deployments.findById(id).lean<DeploymentRecord>().exec();
    const app = await this.applicationFor(spec.projectId);
    // Ours already? By the recorded job id, else by name: the record may not have been written
    // before a crash, and a service must never be created twice.
    let service =
      (record?.handle.serviceId ? await this.api.getService(record.handle.serviceId) : null) ??
      (await this.api.listServices(app.applicationID)).find((s) => s.microservice_name === name) ??
      null;
    if (service && serviceOutcome(service.instance_list).ended) {
      // It ran and ended: deploying again means a fresh service, not an instance beside the old ones.
      await this.api.deleteService(service.microserviceID);
      service = null;
    }
    let rrIp = record?.handle.rrIp;
    // An instance asked for shows in instance_list only once scheduled: the record remembers the ask.
    const requested = !!service && (service.instance_list.length > 0 || (record?.handle.serviceId === service.microserviceID && !!record.handle.instanceRequested));
    if (!service) ({ service, rrIp } = await this.createService(app, spec));
    await this.record(spec, app.applicationID, service.microserviceID, rrIp, requested);
    if (requested) {
      this.logger.log(`${id} already deployed (Oakestra service ${service.microserviceID})`);
      return;
    }
    await this.api.deployInstance(service.microserviceID);
    await this.deployments.updateOne({ _id: id }, { $set: { 'handle.instanceRequested': true } }).exec();
    this.logger.log(`deployed ${id}: Oakestra service ${service.microserviceID} of application ${app.applicationID}`);
  }

  /** The rr_ip comes from oakestra-net's free-address endpoint, which reserves nothing: if the
   * network plugin refuses it (taken meanwhile), the next free one is tried. */
  private async createService(app: OakestraApplication, spec: ComponentSpec): Promise<{ service: OakestraService; rrIp: string }> {
    const tried = new Set<string>();
    const attempts = this.settings.rrIpAttempts ?? 3;
    let lastRefusal = '';
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const rrIp = (await this.api.freeServiceIps(attempts + tried.size)).find((ip) => !tried.has(ip));
      if (!rrIp) throw new Error('oakestra-net has no free service IP left');
      tried.add(rrIp);
      const result = await this.api.addService(app, microservice(spec, rrIp, this.settings));
      if (result.jobId) {
        const service = await this.api.getService(result.jobId);
        if (!service) throw new Error(`Oakestra created service ${result.jobId} but does not show it`);
        return { service, rrIp };
      }
      // A 200 that lists the service as failed: Oakestra rolled it back.
      lastRefusal = result.failed.map((f) => `${f.serviceName}: ${f.message} (${f.status})`).join('; ') || 'no job id';
      this.logger.warn(`Oakestra refused ${spec.projectId}/${spec.component} with rr_ip ${rrIp}: ${lastRefusal}`);
    }
    throw new Error(`Oakestra refused service ${serviceName(spec.component)} of ${spec.projectId}: ${lastRefusal}`);
  }

  /** The project's application: recorded, else found by name (a crash may have lost the record), else created empty. */
  private async applicationFor(projectId: string): Promise<OakestraApplication> {
    const apps = await this.projectApplications(projectId);
    const recorded = await this.deployments.findOne({ projectId, driver: this.name, 'handle.applicationId': { $exists: true } }).lean<DeploymentRecord>().exec();
    const found = apps.find((a) => a.applicationID === recorded?.handle.applicationId) ?? apps[0];
    if (found) return found;
    const app = await this.api.createApplication(applicationSpec(projectId, this.settings));
    this.logger.log(`created Oakestra application ${app.applicationID} for ${projectId}`);
    return app;
  }

  private async projectApplications(projectId: string): Promise<OakestraApplication[]> {
    const { application_name, application_namespace } = applicationSpec(projectId, this.settings);
    return (await this.api.listApplications()).filter((a) => a.application_name === application_name && a.application_namespace === application_namespace);
  }

  private async record(spec: ComponentSpec, applicationId: string, serviceId: string, rrIp: string | undefined, instanceRequested: boolean): Promise<void> {
    const id = `${spec.projectId}/${spec.component}`;
    await this.deployments
      .replaceOne(
        { _id: id },
        {
          _id: id,
          projectId: spec.projectId,
          component: spec.component,
          driver: this.name,
          image: spec.image,
          status: 'running',
          handle: { applicationId, serviceId, instanceRequested, ...(rrIp ? { rrIp } : {}) },
          exitCode: null,
          exitSignal: null,
          startedAt: new Date(),
        },
        { upsert: true },
      )
      .exec();
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const running = await this.deployments.find({ driver: this.name, status: 'running' }).lean<DeploymentRecord[]>().exec();
      for (const record of running) {
        if (this.stopping.has(record._id) || !record.handle.serviceId) continue;
        // A service that is not found is asked for twice before it counts as gone.
        const service = (await this.api.getService(record.handle.serviceId)) ?? (await this.api.getService(record.handle.serviceId));
        const outcome = service ? serviceOutcome(service.instance_list) : ({ ended: true, exitCode: null, detail: 'service gone' } as const);
        if (!outcome.ended || this.stopping.has(record._id)) continue;
        if (!(await this.markEnded(record._id, 'exited', outcome.exitCode))) continue;
        this.logger.log(`${record._id} ended on Oakestra: ${outcome.detail}`);
        this.emit({ projectId: record.projectId, component: record.component, kind: componentKind(record.component), exitCode: outcome.exitCode, signal: null });
      }
    } catch (error) {
      this.logger.warn(`could not check Oakestra services: ${String(error)}`);
    } finally {
      this.polling = false;
    }
  }

  private emit(exit: ComponentExit): void {
    for (const listener of this.listeners) listener(exit);
  }

  private async markEnded(id: string, status: 'stopped' | 'exited', code: number | null): Promise<boolean> {
    const result = await this.deployments
      .updateOne({ _id: id, status: 'running' }, { $set: { status, exitCode: code, exitSignal: null, endedAt: new Date() } })
      .exec();
    return result.matchedCount > 0;
  }
}
