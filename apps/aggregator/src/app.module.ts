import { Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { loadConfig } from '@flops/config';
import { MqttBus } from '@flops/messaging';
import { RegistryClient } from '@flops/oci-registry';
import { HealthController, MetricsController, READINESS_CHECKS, brokerCheck, registryCheck } from '@flops/service-kit';
import { trainingConfigOf } from '@flops/contracts';
import { AggregatorConfig } from './config';
import { DataPlaneController, UPLOAD_LIMITS } from './data-plane/data-plane.controller';
import { LearnerEventsHandler, PROJECT_ID } from './handlers/learner-events.handler';
import { AggregatorOutbox } from './training/aggregator-outbox';
import { TrainingRun } from './training/training-run';

@Module({
  controllers: [HealthController, MetricsController, DataPlaneController, LearnerEventsHandler],
  providers: [
    { provide: AggregatorConfig, useFactory: () => loadConfig(AggregatorConfig) },
    { provide: PROJECT_ID, inject: [AggregatorConfig], useFactory: (c: AggregatorConfig) => c.FLOPS_PROJECT_ID },
    {
      provide: UPLOAD_LIMITS,
      inject: [AggregatorConfig],
      useFactory: (c: AggregatorConfig) => ({ maxBytes: c.FLOPS_MAX_UPLOAD_BYTES, concurrency: c.FLOPS_UPLOAD_CONCURRENCY }),
    },
    {
      provide: MqttBus,
      inject: [AggregatorConfig],
      useFactory: (c: AggregatorConfig) => MqttBus.connect({ url: c.FLOPS_MQTT_URL, clientId: `flops-aggregator-${c.FLOPS_PROJECT_ID}` }),
    },
    {
      provide: READINESS_CHECKS,
      inject: [MqttBus, AggregatorConfig],
      useFactory: (bus: MqttBus, c: AggregatorConfig) => [brokerCheck(bus), registryCheck(new RegistryClient({ url: c.FLOPS_REGISTRY_URL, timeoutMs: 3_000 }))],
    },
    {
      provide: AggregatorOutbox,
      inject: [MqttBus, AggregatorConfig],
      useFactory: (bus: MqttBus, c: AggregatorConfig) =>
        new AggregatorOutbox(bus, new RegistryClient({ url: c.FLOPS_REGISTRY_URL }), c.FLOPS_PROJECT_ID, c.FLOPS_MODEL_REPOSITORY),
    },
    {
      provide: TrainingRun,
      inject: [AggregatorConfig, AggregatorOutbox],
      useFactory: (c: AggregatorConfig, outbox: AggregatorOutbox) =>
        new TrainingRun(
          { projectId: c.FLOPS_PROJECT_ID, config: trainingConfigOf(c), joinTimeoutMs: c.FLOPS_JOIN_TIMEOUT_SECONDS * 1000 },
          outbox,
        ),
    },
  ],
})
export class AppModule implements OnApplicationShutdown {
  constructor(
    private readonly run: TrainingRun,
    @Inject(MqttBus) private readonly bus: MqttBus,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    this.run.stop();
    await this.bus.close();
  }
}
