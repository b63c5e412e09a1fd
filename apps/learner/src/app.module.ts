import { DynamicModule, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { MqttBus } from '@flops/messaging';
import { HealthController, MetricsController, READINESS_CHECKS, brokerCheck } from '@flops/service-kit';
import { AggregatorEventsHandler, PROJECT_ID } from './handlers/aggregator-events.handler';
import { LearnerRole } from './tasks/learner-role';

/** The learner's Nest shell; main.ts picks its role (it needs the user's code loaded first). */
@Module({})
export class AppModule implements OnApplicationShutdown {
  constructor(
    private readonly runner: LearnerRole,
    @Inject(MqttBus) private readonly bus: MqttBus,
  ) {}

  static with(projectId: string, runner: LearnerRole, bus: MqttBus): DynamicModule {
    return {
      module: AppModule,
      controllers: [HealthController, MetricsController, AggregatorEventsHandler],
      providers: [
        { provide: PROJECT_ID, useValue: projectId },
        { provide: LearnerRole, useValue: runner },
        { provide: MqttBus, useValue: bus },
        // The registry is read once, before the app starts; from then on the learner needs only the broker.
        { provide: READINESS_CHECKS, useValue: [brokerCheck(bus)] },
      ],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    this.runner.close();
    await this.bus.close();
  }
}
