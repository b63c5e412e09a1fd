import { DynamicModule, INestApplication, Logger, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { LOG_LEVELS } from '@flops/config';
import type { LogFormat } from '@flops/contracts';
import { mqttServerOptions } from '@flops/messaging';
import { setUpLogging } from './logging';

export interface ServiceOptions {
  name: string;
  module: Type<unknown> | DynamicModule;
  /** The least severe level logged (FLOPS_LOG_LEVEL). */
  logLevel: (typeof LOG_LEVELS)[number];
  /** FLOPS_LOG_FORMAT: `json` for one JSON object per line (default `text`). */
  logFormat?: LogFormat;
  /** The project a per-project component works for: named in every JSON log line. */
  projectId?: string;
  /** HTTP port; 0 picks a free one. */
  httpPort: number;
  httpHost?: string;
  /** Subscribe to MQTT through Nest's transport (omit for HTTP-only services). */
  mqtt?: { url: string; clientId: string; persistentSession: boolean };
  /** Extra HTTP setup (Swagger, global pipes) before listening. */
  configure?: (app: INestApplication) => unknown;
}

/**
 * Starts a FLOps service the same way everywhere: a hybrid HTTP + MQTT Nest app whose MQTT
 * handlers are classes decorated with `@MqttHandlers()`, with shutdown hooks so SIGTERM drains.
 * Every service module lists HealthController and MetricsController (/health/*, /metrics).
 */
export async function bootstrapService(options: ServiceOptions): Promise<INestApplication> {
  const logger = new Logger(options.name);
  const flopsLogger = setUpLogging({ format: options.logFormat ?? 'text', level: options.logLevel, projectId: options.projectId });
  const app = await NestFactory.create(options.module, { logger: flopsLogger, bufferLogs: false });
  app.enableShutdownHooks();
  if (options.mqtt) {
    app.connectMicroservice(mqttServerOptions(options.mqtt));
  }
  await options.configure?.(app);
  // Initialise (and run bootstrap hooks such as recovery) before any message is taken in.
  await app.init();
  if (options.mqtt) await app.startAllMicroservices();
  await app.listen(options.httpPort, options.httpHost ?? '127.0.0.1');
  logger.log(`${options.name} listening on ${await app.getUrl()}`);
  return app;
}

/** Run `main`, and exit non-zero with a readable message if it throws (e.g. bad configuration). */
export function runService(main: () => Promise<unknown>): void {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
