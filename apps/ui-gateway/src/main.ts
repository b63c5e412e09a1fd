import 'reflect-metadata';
import { loadConfig } from '@flops/config';
import { bootstrapService, runService } from '@flops/service-kit';
import { AppModule } from './app.module';
import { UiGatewayConfig } from './config';

runService(async () => {
  const config = loadConfig(UiGatewayConfig);
  await bootstrapService({
    name: 'ui-gateway',
    module: AppModule,
    logLevel: config.FLOPS_LOG_LEVEL,
    logFormat: config.FLOPS_LOG_FORMAT,
    httpPort: config.FLOPS_UI_PORT,
    httpHost: config.FLOPS_UI_HOST,
    // A clean session: the gateway shows live events; what happens while it is down is not queued.
    mqtt: { url: config.FLOPS_MQTT_URL, clientId: config.FLOPS_UI_CLIENT_ID, persistentSession: false },
  });
});
