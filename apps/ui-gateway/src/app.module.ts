import { Module, OnApplicationShutdown, OnModuleDestroy } from '@nestjs/common';
import { loadConfig } from '@flops/config';
import { MqttBus } from '@flops/messaging';
import { HealthController, MetricsController, READINESS_CHECKS, brokerCheck } from '@flops/service-kit';
import { UiGatewayConfig } from './config';
import { EventsController } from './events/events.controller';
import { ProjectEventStream } from './events/project-event-stream';
import { ProjectEventsHandler } from './handlers/project-events.handler';
import { PageController } from './page/page.controller';

@Module({
  controllers: [HealthController, MetricsController, PageController, EventsController, ProjectEventsHandler],
  providers: [
    { provide: UiGatewayConfig, useFactory: () => loadConfig(UiGatewayConfig) },
    // Only for readiness: the gateway's events come through Nest's MQTT transport.
    {
      provide: MqttBus,
      inject: [UiGatewayConfig],
      useFactory: (c: UiGatewayConfig) => MqttBus.connect({ url: c.FLOPS_MQTT_URL, clientId: `flops-ui-${process.pid}` }),
    },
    { provide: READINESS_CHECKS, inject: [MqttBus], useFactory: (bus: MqttBus) => [brokerCheck(bus)] },
    {
      provide: ProjectEventStream,
      inject: [UiGatewayConfig],
      useFactory: (c: UiGatewayConfig) =>
        new ProjectEventStream({ eventsPerProject: c.FLOPS_UI_REPLAY_EVENTS, projects: c.FLOPS_UI_REPLAY_PROJECTS, bytes: c.FLOPS_UI_REPLAY_BYTES }),
    },
  ],
})
export class AppModule implements OnModuleDestroy, OnApplicationShutdown {
  constructor(
    private readonly stream: ProjectEventStream,
    private readonly bus: MqttBus,
  ) {}

  // Before the HTTP server closes: it waits for open responses, and event streams never end by themselves.
  onModuleDestroy(): void {
    this.stream.close();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.bus.close();
  }
}
