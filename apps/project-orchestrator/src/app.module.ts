import { Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { Connection } from 'mongoose';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadConfig } from '@flops/config';
import { MqttBus } from '@flops/messaging';
import { ProjectStore, TrackingStore, connectDatabase, deploymentModel } from '@flops/models';
import { RegistryClient } from '@flops/oci-registry';
import { HealthController, MetricsController, READINESS_CHECKS, brokerCheck, databaseCheck, registryCheck } from '@flops/service-kit';
import { OrchestratorConfig, parseDeadlines } from './config';
import { ComponentPlanner } from './deployment/component-planner';
import { DeploymentDriver } from './deployment/deployment-driver';
import { LocalProcessDriver } from './deployment/local-process.driver';
import { oakestraDriver } from './deployment/oakestra/oakestra-driver.factory';
import { podmanDriver } from './deployment/podman/podman-driver.factory';
import { ProjectEventsHandler } from './handlers/project-events.handler';
import { ProjectLifecycleService } from './lifecycle/project-lifecycle.service';
import { RecoveryService } from './lifecycle/recovery.service';
import { StateChangePublisher } from './lifecycle/state-change.publisher';
import { StateEffects } from './lifecycle/state-effects';
import { MlflowTracker } from './tracking/mlflow.tracker';
import { ProjectTracking } from './tracking/project-tracking';
import { TrackingRetrier } from './tracking/tracking-retrier';

export const WORKSPACE_ROOT = resolve(__dirname, '../../..');
const DB = Symbol('db');


@Module({
  controllers: [HealthController, MetricsController, ProjectEventsHandler],
  providers: [
    { provide: OrchestratorConfig, useFactory: () => loadConfig(OrchestratorConfig) },
    { provide: DB, inject: [OrchestratorConfig], useFactory: (c: OrchestratorConfig) => connectDatabase(c.MONGO_URL, c.FLOPS_DB_NAME) },
    { provide: ProjectStore, inject: [DB], useFactory: (db: Connection) => new ProjectStore(db) },
    {
      provide: MqttBus,
      inject: [OrchestratorConfig],
      useFactory: (c: OrchestratorConfig) => MqttBus.connect({ url: c.FLOPS_MQTT_URL, clientId: c.FLOPS_ORCHESTRATOR_CLIENT_ID }),
    },
    {
      provide: DeploymentDriver,
      inject: [OrchestratorConfig, DB],
      useFactory: (c: OrchestratorConfig, db: Connection): DeploymentDriver => {
        const dataDir = resolve(WORKSPACE_ROOT, c.FLOPS_DATA_DIR);
        switch (c.FLOPS_DRIVER) {
          case 'oakestra':
            return oakestraDriver(c, deploymentModel(db));
          case 'podman':
            return podmanDriver(c, deploymentModel(db), dataDir);
          case 'local':
            return new LocalProcessDriver(deploymentModel(db), { workspaceRoot: WORKSPACE_ROOT, dataDir });
        }
      },
    },
    {
      provide: ComponentPlanner,
      inject: [OrchestratorConfig],
      useFactory: (c: OrchestratorConfig) =>
        new ComponentPlanner({
          mqttUrl: c.FLOPS_MQTT_URL,
          registryUrl: c.FLOPS_REGISTRY_URL,
          registryNamespace: c.FLOPS_REGISTRY_NAMESPACE,
          runtimeVersion: (JSON.parse(readFileSync(resolve(WORKSPACE_ROOT, 'package.json'), 'utf8')) as { version: string }).version,
          logLevel: c.FLOPS_LOG_LEVEL,
          logFormat: c.FLOPS_LOG_FORMAT,
        }),
    },
    { provide: RegistryClient, inject: [OrchestratorConfig], useFactory: (c: OrchestratorConfig) => new RegistryClient({ url: c.FLOPS_REGISTRY_URL }) },
    {
      provide: READINESS_CHECKS,
      inject: [DB, MqttBus, RegistryClient],
      useFactory: (db: Connection, bus: MqttBus, registry: RegistryClient) => [databaseCheck(db), brokerCheck(bus), registryCheck(registry)],
    },
    StateChangePublisher,
    StateEffects,
    {
      provide: ProjectLifecycleService,
      inject: [ProjectStore, StateEffects, StateChangePublisher, OrchestratorConfig],
      useFactory: (store: ProjectStore, effects: StateEffects, publisher: StateChangePublisher, c: OrchestratorConfig) =>
        new ProjectLifecycleService(store, effects, publisher, parseDeadlines(c.FLOPS_DEADLINES)),
    },
    {
      provide: ProjectTracking,
      inject: [OrchestratorConfig, DB, ProjectStore, RegistryClient],
      useFactory: (c: OrchestratorConfig, db: Connection, store: ProjectStore, registry: RegistryClient) =>
        c.FLOPS_MLFLOW_URL
          ? new ProjectTracking(new MlflowTracker(c.FLOPS_MLFLOW_URL), new TrackingStore(db), store, registry, {
              retryMs: c.FLOPS_TRACKING_RETRY_MS,
              maxRetryMs: c.FLOPS_TRACKING_MAX_RETRY_MS,
            })
          : null,
    },
    {
      provide: TrackingRetrier,
      inject: [ProjectTracking, ProjectLifecycleService, OrchestratorConfig],
      useFactory: (tracking: ProjectTracking | null, lifecycle: ProjectLifecycleService, c: OrchestratorConfig) =>
        tracking ? new TrackingRetrier(tracking, lifecycle, c.FLOPS_SWEEP_INTERVAL_MS) : null,
    },
    {
      provide: RecoveryService,
      inject: [ProjectStore, ProjectLifecycleService, StateEffects, DeploymentDriver, OrchestratorConfig],
      useFactory: (...deps: [ProjectStore, ProjectLifecycleService, StateEffects, DeploymentDriver, OrchestratorConfig]) =>
        new RecoveryService(deps[0], deps[1], deps[2], deps[3], deps[4].FLOPS_SWEEP_INTERVAL_MS),
    },
  ],
})
export class AppModule implements OnApplicationShutdown {
  constructor(
    @Inject(DB) private readonly db: Connection,
    private readonly bus: MqttBus,
    private readonly driver: DeploymentDriver,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    await this.driver.close();
    await this.bus.close();
    await this.db.close();
  }
}

