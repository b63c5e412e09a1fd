import { Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { Connection } from 'mongoose';
import { loadConfig } from '@flops/config';
import { MqttBus } from '@flops/messaging';
import { DeploymentStore, ProjectStore, TrackingStore, connectDatabase } from '@flops/models';
import { RegistryClient } from '@flops/oci-registry';
import { HealthController, MetricsController, READINESS_CHECKS, countProjectsWith, brokerCheck, databaseCheck, registryCheck } from '@flops/service-kit';
import { ManagerConfig } from './config';
import { resolve } from 'node:path';
import { FileProjectLogs, ProjectLogs } from './logs/project-logs';
import { ProjectErrorsFilter } from './projects/project-errors.filter';
import { ProjectsController } from './projects/projects.controller';
import { ProjectsService } from './projects/projects.service';

const DB = Symbol('db');
/** dist/apps/manager-api/ when built, apps/manager-api/src/ in tests: three levels below the workspace. */
const WORKSPACE_ROOT = resolve(__dirname, '../../..');

@Module({
  controllers: [HealthController, MetricsController, ProjectsController],
  providers: [
    { provide: ManagerConfig, useFactory: () => loadConfig(ManagerConfig) },
    { provide: DB, inject: [ManagerConfig], useFactory: (c: ManagerConfig) => connectDatabase(c.MONGO_URL, c.FLOPS_DB_NAME) },
    { provide: ProjectStore, inject: [DB], useFactory: (db: Connection) => new ProjectStore(db) },
    { provide: DeploymentStore, inject: [DB], useFactory: (db: Connection) => new DeploymentStore(db) },
    { provide: TrackingStore, inject: [DB], useFactory: (db: Connection) => new TrackingStore(db) },
    {
      provide: MqttBus,
      inject: [ManagerConfig],
      useFactory: (c: ManagerConfig) => MqttBus.connect({ url: c.FLOPS_MQTT_URL, clientId: `flops-manager-${process.pid}` }),
    },
    // Short timeout: a slow registry must not hold up GET /projects/:id (availability is then 'unknown').
    { provide: RegistryClient, inject: [ManagerConfig], useFactory: (c: ManagerConfig) => new RegistryClient({ url: c.FLOPS_REGISTRY_URL, timeoutMs: 3_000 }) },
    { provide: ProjectLogs, inject: [ManagerConfig], useFactory: (c: ManagerConfig) => new FileProjectLogs(resolve(WORKSPACE_ROOT, c.FLOPS_DATA_DIR)) },
    {
      provide: READINESS_CHECKS,
      inject: [DB, MqttBus, RegistryClient],
      useFactory: (db: Connection, bus: MqttBus, registry: RegistryClient) => [databaseCheck(db), brokerCheck(bus), registryCheck(registry)],
    },
    { provide: APP_FILTER, useClass: ProjectErrorsFilter },
    ProjectsService,
  ],
})
export class AppModule implements OnApplicationShutdown {
  constructor(
    @Inject(DB) private readonly db: Connection,
    private readonly bus: MqttBus,
    store: ProjectStore,
  ) {
    countProjectsWith(() => store.countByState());
  }

  async onApplicationShutdown(): Promise<void> {
    await this.bus.close();
    await this.db.close();
  }
}
