import { IsIn, IsInt, IsUrl, Matches, Max, Min } from 'class-validator';

export const LOG_LEVELS = ['error', 'warn', 'log', 'debug', 'verbose'] as const;

/**
 * Where the shared infrastructure is. Every FLOps service extends this with its own settings;
 * a service that does not use one of these simply never reads it.
 */
export class InfraConfig {
  @Matches(/^mqtts?:\/\/[^\s]+$/, { message: 'must be an mqtt:// or mqtts:// URL' })
  FLOPS_MQTT_URL = 'mqtt://127.0.0.1:1883';

  @Matches(/^mongodb(\+srv)?:\/\/[^\s]+$/, { message: 'must be a mongodb:// URL' })
  MONGO_URL = 'mongodb://127.0.0.1:27017/';

  /** Database name inside MONGO_URL's server; one per FLOps installation (tests use their own). */
  @Matches(/^[A-Za-z0-9_-]{1,60}$/) FLOPS_DB_NAME = 'flops';

  @IsUrl({ require_tld: false, require_protocol: true, protocols: ['http', 'https'] })
  FLOPS_REGISTRY_URL = 'http://127.0.0.1:5000';

  /** Address the service's HTTP endpoints (health, API) bind to; 0.0.0.0 inside containers. */
  @Matches(/^[\w.:-]+$/) FLOPS_HTTP_HOST = '127.0.0.1';

  @IsIn(LOG_LEVELS) FLOPS_LOG_LEVEL: (typeof LOG_LEVELS)[number] = 'log';
}

/** A TCP port; 0 lets the OS choose. */
export function IsPort(): PropertyDecorator {
  return (target, key) => {
    IsInt()(target, key);
    Min(0)(target, key);
    Max(65535)(target, key);
  };
}

/** Nest's logger levels at and above `level`. */
export function logLevelsFrom(level: (typeof LOG_LEVELS)[number]): (typeof LOG_LEVELS)[number][] {
  return LOG_LEVELS.slice(0, LOG_LEVELS.indexOf(level) + 1);
}
