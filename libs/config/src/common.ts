import { join } from 'node:path';
import { IsInt, IsOptional, IsString, IsUrl, Matches, Max, Min, MinLength } from 'class-validator';
import { LOG_LEVELS, LogLevel, PlatformEnvironment } from '@flops/contracts';

export { LOG_LEVELS };

/**
 * Where the shared infrastructure is. Every platform service extends this with its own settings
 * (components deployed for a project load their environment from @flops/contracts instead); a
 * service that does not use one of these simply never reads it.
 */
export class InfraConfig extends PlatformEnvironment {
  @Matches(/^mongodb(\+srv)?:\/\/[^\s]+$/, { message: 'must be a mongodb:// URL' })
  MONGO_URL = 'mongodb://127.0.0.1:27017/';

  /** Database name inside MONGO_URL's server; one per FLOps installation (tests use their own). */
  @Matches(/^[A-Za-z0-9_-]{1,60}$/) FLOPS_DB_NAME = 'flops';

  /**
   * MLflow tracking server (tools/infra.sh writes it into .flops/infra/env). Set: the orchestrator
   * records every project there and the API links each project's run; unset: no tracking.
   */
  @IsOptional() @IsUrl({ require_tld: false, require_protocol: true, protocols: ['http', 'https'] }) FLOPS_MLFLOW_URL?: string = undefined;

  /** Address the service's HTTP endpoints (health, API) bind to; 0.0.0.0 inside containers. */
  @Matches(/^[\w.:-]+$/) FLOPS_HTTP_HOST = '127.0.0.1';
  /** This machine's FLOps data (component and build logs, work folders); relative to the workspace. */
  @IsString() @MinLength(1) FLOPS_DATA_DIR = '.flops/data';
}

/** Where a project's logs are kept under FLOPS_DATA_DIR, one file per component (`builder` included). */
export function projectLogDir(dataDir: string, projectId: string): string {
  return join(dataDir, 'projects', projectId);
}

export function componentLogFile(dataDir: string, projectId: string, component: string): string {
  return join(projectLogDir(dataDir, projectId), `${component}.log`);
}

/** The component name of a log file in projectLogDir, or null for another file. */
export function componentOfLogFile(file: string): string | null {
  return file.endsWith('.log') ? file.slice(0, -'.log'.length) : null;
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
export function logLevelsFrom(level: LogLevel): LogLevel[] {
  return LOG_LEVELS.slice(0, LOG_LEVELS.indexOf(level) + 1);
}
