import { Controller, Get, Header } from '@nestjs/common';
import { HiddenFromOpenApi } from './openapi';
import { Counter, Gauge, Histogram, collectDefaultMetrics, register } from 'prom-client';

// Every FLOps metric, defined once on prom-client's default registry; each service updates the
// ones it measures and serves them all at GET /metrics (MQTT counters live in @flops/messaging).

collectDefaultMetrics({ prefix: 'flops_' });

type ProjectCounts = () => Promise<Record<string, number>>;
let projectCounts: ProjectCounts | null = null;

/** Where `flops_projects` reads its numbers from at scrape time (the service that owns the store). */
export function countProjectsWith(source: ProjectCounts): void {
  projectCounts = source;
}

export const Metrics = {
  projects: new Gauge({
    name: 'flops_projects',
    help: 'Projects by lifecycle state',
    labelNames: ['state'] as const,
    async collect(this: Gauge<'state'>) {
      if (!projectCounts) return;
      this.reset();
      for (const [state, n] of Object.entries(await projectCounts())) this.set({ state }, n);
    },
  }),
  roundDuration: new Histogram({
    name: 'flops_round_duration_seconds',
    help: 'Duration of finished federated rounds',
    buckets: [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800],
  }),
  uploadBytes: new Counter({ name: 'flops_upload_bytes_total', help: 'Bytes of model updates accepted by the data plane' }),
  uploads: new Counter({ name: 'flops_uploads_total', help: 'Model updates accepted by the data plane' }),
  refusedUpdates: new Counter({
    name: 'flops_refused_updates_total',
    help: 'Model updates refused by the data plane, by error code',
    labelNames: ['code'] as const,
  }),
  buildDuration: new Histogram({
    name: 'flops_build_duration_seconds',
    help: 'Learner image builds by phase (fetch, check, build, push)',
    labelNames: ['phase'] as const,
    buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600],
  }),
  imageCache: new Counter({
    name: 'flops_image_cache_total',
    help: 'Learner image requests by outcome: hit (already in the registry) or miss (built)',
    labelNames: ['result'] as const,
  }),
  trackingFailures: new Counter({
    name: 'flops_tracking_failures_total',
    help: 'Experiment-tracking calls that failed (retried later)',
  }),
};

/** GET /metrics in Prometheus text format, for every service. */
@HiddenFromOpenApi()
@Controller('metrics')
export class MetricsController {
  @Get()
  @Header('Content-Type', register.contentType)
  async metrics(): Promise<string> {
    return register.metrics();
  }
}
