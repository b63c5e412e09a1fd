import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { ProjectLifecycleService } from '../lifecycle/project-lifecycle.service';
import { ProjectTracking } from './project-tracking';

/** Hooks tracking to the lifecycle and retries what an MLflow outage left owed (also after a restart). */
@Injectable()
export class TrackingRetrier implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(TrackingRetrier.name);
  private timer?: NodeJS.Timeout;
  private busy = false;

  constructor(
    private readonly tracking: ProjectTracking,
    private readonly lifecycle: ProjectLifecycleService,
    private readonly intervalMs: number,
  ) {}

  onApplicationBootstrap(): void {
    this.lifecycle.observe((project) => this.tracking.changed(project));
    this.timer = setInterval(() => void this.retry(), this.intervalMs);
    void this.retry();
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private async retry(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      await this.tracking.retryDue();
    } catch (error) {
      this.logger.warn(`tracking retry pass failed: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      this.busy = false;
    }
  }
}
