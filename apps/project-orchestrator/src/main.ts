import 'reflect-metadata';
import { loadConfig } from '@flops/config';
import { bootstrapService, runService } from '@flops/service-kit';
import { AppModule } from './app.module';
import { OrchestratorConfig } from './config';

runService(async () => {
  const config = loadConfig(OrchestratorConfig);
  await bootstrapService({
    name: 'project-orchestrator',
    module: AppModule,
    logLevel: config.FLOPS_LOG_LEVEL,
    logFormat: config.FLOPS_LOG_FORMAT,
    httpPort: config.FLOPS_ORCHESTRATOR_PORT,
    httpHost: config.FLOPS_HTTP_HOST,
    mqtt: { url: config.FLOPS_MQTT_URL, clientId: config.FLOPS_ORCHESTRATOR_CLIENT_ID, persistentSession: true },
  });
});
