import 'reflect-metadata';
import { loadConfig } from '@flops/config';
import { bootstrapService, runService } from '@flops/service-kit';
import { AppModule } from './app.module';
import { BuilderConfig } from './config';

runService(async () => {
  const config = loadConfig(BuilderConfig);
  await bootstrapService({
    name: 'builder-agent',
    module: AppModule,
    logLevel: config.FLOPS_LOG_LEVEL,
    logFormat: config.FLOPS_LOG_FORMAT,
    httpPort: config.FLOPS_BUILDER_PORT,
    httpHost: config.FLOPS_HTTP_HOST,
    // A persistent session keeps build requests queued at the broker while the builder restarts.
    mqtt: { url: config.FLOPS_MQTT_URL, clientId: config.FLOPS_BUILDER_CLIENT_ID, persistentSession: true },
  });
});
