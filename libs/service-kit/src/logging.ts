import { ConsoleLogger, Logger } from '@nestjs/common';
import { logLevelsFrom } from '@flops/config';
import type { LogFormat, LogLevel } from '@flops/contracts';
import { currentProjectId } from '@flops/messaging';

type JsonLogOptions = Parameters<ConsoleLogger['getJsonLogObject']>[1];

/**
 * Nest's console logger; with FLOPS_LOG_FORMAT=json one JSON object per line, carrying the
 * project id of the work being logged (or the process's own, for per-project components).
 */
export class FlopsLogger extends ConsoleLogger {
  constructor(
    format: LogFormat,
    level: LogLevel,
    private readonly processProjectId?: string,
  ) {
    super({ json: format === 'json', logLevels: logLevelsFrom(level), colors: format === 'json' ? false : undefined });
  }

  protected override getJsonLogObject(message: unknown, options: JsonLogOptions): ReturnType<ConsoleLogger['getJsonLogObject']> & { projectId?: string } {
    const entry = super.getJsonLogObject(message, options);
    const projectId = currentProjectId() ?? this.processProjectId;
    return projectId ? { ...entry, projectId } : entry;
  }
}

/** Makes every Nest Logger (also those created before the app) write through a FlopsLogger. */
export function setUpLogging(options: { format: LogFormat; level: LogLevel; projectId?: string }): FlopsLogger {
  const logger = new FlopsLogger(options.format, options.level, options.projectId);
  Logger.overrideLogger(logger);
  return logger;
}
