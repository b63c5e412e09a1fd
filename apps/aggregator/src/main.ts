import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '@flops/config';
import { bootstrapService, runService } from '@flops/service-kit';
import { AppModule } from './app.module';
import { AggregatorConfig } from './config';
import { AggregatorOutbox } from './training/aggregator-outbox';
import { TrainingRun } from './training/training-run';

/** One aggregator per project: announce the data plane, run every round, then leave. */
runService(async () => {
  const config = loadConfig(AggregatorConfig);
  const app = await bootstrapService({
    name: `aggregator ${config.FLOPS_PROJECT_ID}`,
    module: AppModule,
    logLevel: config.FLOPS_LOG_LEVEL,
    logFormat: config.FLOPS_LOG_FORMAT,
    projectId: config.FLOPS_PROJECT_ID,
    httpPort: config.FLOPS_AGGREGATOR_PORT,
    httpHost: config.FLOPS_AGGREGATOR_HOST,
    mqtt: { url: config.FLOPS_MQTT_URL, clientId: `flops-aggregator-${config.FLOPS_PROJECT_ID}-sub`, persistentSession: false },
  });
  const { port } = (app.getHttpServer() as { address(): AddressInfo }).address();
  const dataUrl = `http://${config.FLOPS_AGGREGATOR_ADVERTISE_HOST ?? config.FLOPS_AGGREGATOR_HOST}:${port}`;
  const outbox = app.get(AggregatorOutbox);
  await outbox.announce(dataUrl);
  // Non-zero when the outcome could not be reported, so the orchestrator learns of it from the exit.
  const reported = await app.get(TrainingRun).run(dataUrl);
  await outbox.clearRetained();
  await app.close();
  process.exit(reported ? 0 : 1);
});
