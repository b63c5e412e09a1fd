import { Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { join, resolve } from 'node:path';
import { Connection } from 'mongoose';
import { loadConfig } from '@flops/config';
import { MqttBus } from '@flops/messaging';
import { BuiltImages, MongoBuiltImages, connectDatabase } from '@flops/models';
import { RegistryClient } from '@flops/oci-registry';
import { HealthController, MetricsController, READINESS_CHECKS, brokerCheck, databaseCheck, registryCheck } from '@flops/service-kit';
import { BuildJournal, FileBuildJournal } from './build/build-journal';
import { BuildLog, FileBuildLog } from './build/build-log';
import { ImageBuilder } from './build/image-builder';
import { BuilderConfig } from './config';
import { BuildRequestsHandler } from './handlers/build-requests.handler';

const DB = Symbol('db');
/** dist/apps/builder-agent/ when built, apps/builder-agent/src/ in tests: three levels below the workspace. */
const WORKSPACE_ROOT = resolve(__dirname, '../../..');

@Module({
  controllers: [HealthController, MetricsController, BuildRequestsHandler],
  providers: [
    { provide: BuilderConfig, useFactory: () => loadConfig(BuilderConfig) },
    { provide: DB, inject: [BuilderConfig], useFactory: (c: BuilderConfig) => connectDatabase(c.MONGO_URL, c.FLOPS_DB_NAME) },
    { provide: BuiltImages, inject: [DB], useFactory: (db: Connection) => new MongoBuiltImages(db) },
    {
      provide: MqttBus,
      inject: [BuilderConfig],
      useFactory: (c: BuilderConfig) => MqttBus.connect({ url: c.FLOPS_MQTT_URL, clientId: c.FLOPS_BUILDER_CLIENT_ID }),
    },
    { provide: BuildLog, inject: [BuilderConfig], useFactory: (c: BuilderConfig) => new FileBuildLog(resolve(WORKSPACE_ROOT, c.FLOPS_DATA_DIR)) },
    // Beside the checkouts, which are temporary folders of their own: the journal outlives a restart.
    { provide: BuildJournal, inject: [BuilderConfig], useFactory: (c: BuilderConfig) => new FileBuildJournal(join(resolve(c.FLOPS_BUILDER_WORK_DIR), 'in-flight')) },
    {
      provide: READINESS_CHECKS,
      inject: [DB, MqttBus, BuilderConfig],
      useFactory: (db: Connection, bus: MqttBus, c: BuilderConfig) => [
        databaseCheck(db),
        brokerCheck(bus),
        registryCheck(new RegistryClient({ url: c.FLOPS_REGISTRY_URL, timeoutMs: 3_000 })),
      ],
    },
    {
      provide: ImageBuilder,
      inject: [BuilderConfig, BuiltImages],
      useFactory: (c: BuilderConfig, builtImages: BuiltImages) =>
        new ImageBuilder(new RegistryClient({ url: c.FLOPS_REGISTRY_URL }), builtImages, {
          workDir: resolve(c.FLOPS_BUILDER_WORK_DIR),
          maxRepoBytes: c.FLOPS_BUILDER_MAX_REPO_BYTES,
          gitTimeoutMs: c.FLOPS_BUILDER_GIT_TIMEOUT_MS,
        }),
    },
  ],
})
export class AppModule implements OnApplicationShutdown {
  constructor(
    private readonly bus: MqttBus,
    @Inject(DB) private readonly db: Connection,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    await this.bus.close();
    await this.db.close();
  }
}
