import type { LearnerTask } from '@flops/contracts';

/** What a learner does with the aggregator's messages; the MQTT handlers only forward them. */
export abstract class LearnerRole {
  abstract aggregatorReady(): void;
  abstract task(task: LearnerTask): void;
  abstract close(): void;
}

/**
 * A learner whose user code could not be loaded. It still waits for the aggregator before
 * saying so: a failure published before the aggregator listens would be lost, and the round
 * would wait for a learner that never comes. It gives up waiting after `waitMs`.
 */
export class BrokenLearner extends LearnerRole {
  private readonly timer: NodeJS.Timeout;
  private reported = false;

  constructor(
    private readonly reason: string,
    private readonly ports: { failed(reason: string): Promise<void>; finished(reason: string): void },
    waitMs: number,
  ) {
    super();
    this.timer = setTimeout(() => this.ports.finished(reason), waitMs);
    this.timer.unref();
  }

  aggregatorReady(): void {
    if (this.reported) return;
    this.reported = true;
    void this.ports
      .failed(this.reason)
      .catch(() => undefined)
      .finally(() => this.ports.finished(this.reason));
  }

  task(): void {
    // nothing to do: this learner cannot train
  }

  close(): void {
    clearTimeout(this.timer);
  }
}
