import { Controller, Get, HttpCode, Inject, Optional, Res } from '@nestjs/common';
import { HiddenFromOpenApi } from './openapi';
import type { Response } from 'express';
import type { Connection } from 'mongoose';
import type { MqttBus } from '@flops/messaging';

/** One dependency that must answer for the service to be ready (database, broker, registry). */
export interface ReadinessCheck {
  readonly name: string;
  /** Resolves when the dependency answered for real; rejects (or times out) otherwise. */
  check(): Promise<void>;
}

/** The checks of a service's `/health/ready`, provided by its AppModule. */
export const READINESS_CHECKS = Symbol('READINESS_CHECKS');

const CHECK_TIMEOUT_MS = 3_000;

export const databaseCheck = (db: Connection): ReadinessCheck => ({
  name: 'database',
  check: async () => {
    if (!db.db) throw new Error('not connected');
    await db.db.admin().ping();
  },
});

export const brokerCheck = (bus: MqttBus): ReadinessCheck => ({ name: 'broker', check: () => bus.ping(CHECK_TIMEOUT_MS) });

export const registryCheck = (registry: { ping(): Promise<void> }): ReadinessCheck => ({ name: 'registry', check: () => registry.ping() });

export interface CheckResult {
  status: 'up' | 'down';
  ms: number;
  error?: string;
}

export interface ReadinessReport {
  status: 'ready' | 'unready';
  checks: Record<string, CheckResult>;
}

/** Every check at once, each bounded by a timeout: a hung dependency is as down as a dead one. */
export async function runChecks(checks: readonly ReadinessCheck[], timeoutMs = CHECK_TIMEOUT_MS): Promise<ReadinessReport> {
  const results = await Promise.all(
    checks.map(async (c): Promise<[string, CheckResult]> => {
      const started = Date.now();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      });
      try {
        await Promise.race([c.check(), timeout]);
        return [c.name, { status: 'up', ms: Date.now() - started }];
      } catch (error) {
        return [c.name, { status: 'down', ms: Date.now() - started, error: error instanceof Error ? error.message : String(error) }];
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  const down = results.some(([, r]) => r.status === 'down');
  return { status: down ? 'unready' : 'ready', checks: Object.fromEntries(results) };
}

/**
 * `/health/live`: the process answers (restart it if not). `/health/ready`: the database, broker
 * and registry the service uses answer right now (503 otherwise: send it no work). `/health` is
 * kept as an alias of live for older probes.
 */
@HiddenFromOpenApi()
@Controller('health')
export class HealthController {
  constructor(@Optional() @Inject(READINESS_CHECKS) private readonly checks: ReadinessCheck[] | null) {}

  @Get()
  health(): { status: 'ok'; pid: number; uptimeSeconds: number } {
    return this.live();
  }

  @Get('live')
  live(): { status: 'ok'; pid: number; uptimeSeconds: number } {
    return { status: 'ok', pid: process.pid, uptimeSeconds: Math.round(process.uptime()) };
  }

  @Get('ready')
  @HttpCode(200)
  async ready(@Res({ passthrough: true }) res: Response): Promise<ReadinessReport> {
    const report = await runChecks(this.checks ?? []);
    if (report.status !== 'ready') res.status(503);
    return report;
  }
}
