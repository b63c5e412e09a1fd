import { Injectable } from '@nestjs/common';
import { MAX_REASON_LENGTH, Topics } from '@flops/contracts';
import { ProjectState } from '@flops/lifecycle';
import { MessageBus } from '@flops/messaging';
import { ProjectRecord } from '@flops/models';

/** Tells watchers (ui-gateway, tools) that a project changed state. */
@Injectable()
export class StateChangePublisher {
  constructor(private readonly bus: MessageBus) {}

  async stateChanged(project: ProjectRecord, from: ProjectState, reason?: string): Promise<void> {
    await this.bus.publish(Topics.projectStateChanged, project._id, {
      from,
      to: project.state,
      version: project.version,
      at: new Date().toISOString(),
      // Reasons come from components and errors; the contract bounds what the wire carries.
      ...(reason ? { reason: reason.slice(0, MAX_REASON_LENGTH) } : {}),
    });
  }
}
