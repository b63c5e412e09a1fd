import { Logger } from '@nestjs/common';
import { appendFile, mkdir } from 'node:fs/promises';
import { componentLogFile, projectLogDir } from '@flops/config';

/** The component name of build logs, beside the aggregator's and learners' logs. */
export const BUILD_LOG_COMPONENT = 'builder';

/** Where a project's build log goes: people follow it through the API while the build runs. */
export abstract class BuildLog {
  abstract append(projectId: string, line: string): Promise<void>;
}

/** One log file per project under FLOPS_DATA_DIR, next to the local driver's component logs. */
export class FileBuildLog extends BuildLog {
  private readonly logger = new Logger(FileBuildLog.name);
  /** Appends of one project in order, whatever the file system does. */
  private readonly tails = new Map<string, Promise<void>>();

  constructor(private readonly dataDir: string) {
    super();
  }

  append(projectId: string, line: string): Promise<void> {
    const text = `${new Date().toISOString()} ${line.replace(/\n/g, ' ')}\n`;
    const next = (this.tails.get(projectId) ?? Promise.resolve())
      .then(async () => {
        await mkdir(projectLogDir(this.dataDir, projectId), { recursive: true });
        await appendFile(componentLogFile(this.dataDir, projectId, BUILD_LOG_COMPONENT), text);
      })
      // A log that cannot be written must not fail the build.
      .catch((error: unknown) => this.logger.warn(`${projectId}: could not write the build log: ${String(error)}`));
    this.tails.set(projectId, next);
    void next.finally(() => this.tails.get(projectId) === next && this.tails.delete(projectId));
    return next;
  }
}
