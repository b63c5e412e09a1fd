import { Module, OnModuleDestroy } from '@nestjs/common';
import { loadConfig } from '@flops/config';
import { HealthController } from '@flops/service-kit';
import { UiGatewayConfig } from './config';
import { EventsController } from './events/events.controller';
import { ProjectEventStream } from './events/project-event-stream';
import { ProjectEventsHandler } from './handlers/project-events.handler';
import { PageController } from './page/page.controller';

@Module({
  controllers: [HealthController, PageController, EventsController, ProjectEventsHandler],
  providers: [
    { provide: UiGatewayConfig, useFactory: () => loadConfig(UiGatewayConfig) },
    {
      provide: ProjectEventStream,
      inject: [UiGatewayConfig],
      useFactory: (c: UiGatewayConfig) =>
        new ProjectEventStream({ eventsPerProject: c.FLOPS_UI_REPLAY_EVENTS, projects: c.FLOPS_UI_REPLAY_PROJECTS, bytes: c.FLOPS_UI_REPLAY_BYTES }),
    },
  ],
})
export class AppModule implements OnModuleDestroy {
  constructor(private readonly stream: ProjectEventStream) {}

  // Before the HTTP server closes: it waits for open responses, and event streams never end by themselves.
  onModuleDestroy(): void {
    this.stream.close();
  }
}
