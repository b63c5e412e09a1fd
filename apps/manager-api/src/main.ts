import 'reflect-metadata';
import { loadConfig } from '@flops/config';
import { bootstrapService, runService } from '@flops/service-kit';
import { AppModule } from './app.module';
import { ManagerConfig } from './config';
import { configureHttp } from './http-setup';

runService(async () => {
  const config = loadConfig(ManagerConfig);
  await bootstrapService({
    name: 'manager-api',
    module: AppModule,
    logLevel: config.FLOPS_LOG_LEVEL,
    logFormat: config.FLOPS_LOG_FORMAT,
    httpPort: config.FLOPS_MANAGER_PORT,
    httpHost: config.FLOPS_MANAGER_HOST,
    configure: configureHttp,
  });
});
