/**
 * /health/ready checks the database, the broker and the registry for real: the manager-api runs
 * on private instances of each (the shared ones stay untouched); stopping one makes it answer
 * 503 naming that dependency, starting it again brings back 200. /metrics is served as well.
 */
import { INestApplication } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { bootstrapService } from '@flops/service-kit';
import { ScratchService } from '@flops/testing';
import { AppModule } from './app.module';
import { configureHttp } from './http-setup';

jest.setTimeout(240_000);

interface Report {
  status: string;
  checks: Record<string, { status: string; error?: string }>;
}

describe('manager-api readiness against real dependencies', () => {
  const dir = ScratchService.scratchDir(`readiness-${randomBytes(4).toString('hex')}`);
  let services: Record<'database' | 'broker' | 'registry', ScratchService>;
  let app: INestApplication;
  let base: string;

  const ready = async (): Promise<{ status: number; body: Report }> => {
    const res = await fetch(`${base}/health/ready`, { signal: AbortSignal.timeout(20_000) });
    return { status: res.status, body: (await res.json()) as Report };
  };

  /** Polls until /health/ready answers `status` (the client libraries notice an outage on their own time). */
  async function until(status: number, what: string): Promise<Report> {
    const deadline = Date.now() + 90_000;
    let last: { status: number; body: Report } | undefined;
    while (Date.now() < deadline) {
      last = await ready();
      if (last.status === status) return last.body;
      await sleep(250);
    }
    throw new Error(`${what}: /health/ready still answers ${last?.status} ${JSON.stringify(last?.body)}`);
  }

  beforeAll(async () => {
    services = {
      database: await ScratchService.database(dir),
      broker: await ScratchService.broker(dir),
      registry: await ScratchService.registry(dir),
    };
    await Promise.all(Object.values(services).map((s) => s.start()));
    Object.assign(process.env, {
      MONGO_URL: services.database.url,
      FLOPS_MQTT_URL: services.broker.url,
      FLOPS_REGISTRY_URL: services.registry.url,
      FLOPS_DB_NAME: 'readiness',
      FLOPS_LOG_LEVEL: 'error',
    });
    app = await bootstrapService({ name: 'manager-api', module: AppModule, logLevel: 'error', httpPort: 0, configure: configureHttp });
    base = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  });

  afterAll(async () => {
    await app?.close().catch(() => undefined);
    await Promise.all(Object.values(services ?? {}).map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('is ready and live with everything up, and serves Prometheus metrics', async () => {
    const report = await until(200, 'all up');
    expect(report).toEqual({
      status: 'ready',
      checks: {
        database: expect.objectContaining({ status: 'up' }),
        broker: expect.objectContaining({ status: 'up' }),
        registry: expect.objectContaining({ status: 'up' }),
      },
    });
    expect((await fetch(`${base}/health/live`)).status).toBe(200);
    const metrics = await fetch(`${base}/metrics`);
    expect(metrics.headers.get('content-type')).toContain('text/plain');
    const text = await metrics.text();
    expect(text).toContain('# TYPE flops_projects gauge');
    expect(text).toContain('# TYPE flops_mqtt_messages_sent_total counter');
    expect(text).toContain('flops_process_resident_memory_bytes');
  });

  it.each(['registry', 'broker', 'database'] as const)('answers 503 while the %s is down, 200 once it is back', async (name) => {
    await services[name].stop();
    const down = await until(503, `${name} stopped`);
    expect(down.status).toBe('unready');
    expect(down.checks[name].status).toBe('down');
    expect(down.checks[name].error).toEqual(expect.any(String));
    // The process itself is fine: liveness does not depend on the others.
    expect((await fetch(`${base}/health/live`)).status).toBe(200);

    await services[name].start();
    const up = await until(200, `${name} restarted`);
    expect(up.checks[name].status).toBe('up');
  });
});
