import { open, readdir, stat } from 'node:fs/promises';
import { componentLogFile, componentOfLogFile, projectLogDir } from '@flops/config';
import { IDENTIFIER } from '@flops/contracts';

export interface ComponentLogInfo {
  component: string;
  sizeBytes: number;
  updatedAt: Date;
}

export interface LogChunk {
  component: string;
  /** Byte offset the lines start at. */
  offset: number;
  /** Where to ask from next time: after the last complete line returned. */
  nextOffset: number;
  sizeBytes: number;
  lines: string[];
}

/** Where the API reads the logs of a project's components (builder, aggregator, learners). */
export abstract class ProjectLogs {
  /** Components with a log, sorted by name. */
  abstract components(projectId: string): Promise<ComponentLogInfo[]>;
  /** Complete lines from `offset`, at most `maxBytes` of them (at least one line if there is one); null if there is no such log. */
  abstract read(projectId: string, component: string, offset: number, maxBytes: number): Promise<LogChunk | null>;
}

/**
 * Logs as the local driver and the builder write them, one file per component under
 * FLOPS_DATA_DIR: the API must run on the machine (or share the folder) where they are written.
 */
export class FileProjectLogs extends ProjectLogs {
  constructor(private readonly dataDir: string) {
    super();
  }

  async components(projectId: string): Promise<ComponentLogInfo[]> {
    let files: string[];
    try {
      files = await readdir(projectLogDir(this.dataDir, checked(projectId)));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const logs: ComponentLogInfo[] = [];
    for (const file of files.sort()) {
      const component = componentOfLogFile(file);
      if (!component || !IDENTIFIER.test(component)) continue;
      const st = await stat(componentLogFile(this.dataDir, projectId, component)).catch(() => null);
      if (st?.isFile()) logs.push({ component, sizeBytes: st.size, updatedAt: st.mtime });
    }
    return logs;
  }

  async read(projectId: string, component: string, offset: number, maxBytes: number): Promise<LogChunk | null> {
    let file;
    try {
      file = await open(componentLogFile(this.dataDir, checked(projectId), checked(component)), 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    try {
      const { size } = await file.stat();
      const start = Math.min(offset, size);
      const buffer = Buffer.alloc(Math.min(maxBytes, size - start));
      const { bytesRead } = await file.read(buffer, 0, buffer.length, start);
      let text = buffer.subarray(0, bytesRead);
      let end = text.lastIndexOf(0x0a) + 1;
      // A line longer than maxBytes is returned cut rather than never.
      if (end === 0 && bytesRead === maxBytes) end = bytesRead;
      text = text.subarray(0, end);
      const lines = end === 0 ? [] : text.toString('utf8').replace(/\n$/, '').split('\n');
      return { component, offset: start, nextOffset: start + end, sizeBytes: size, lines };
    } finally {
      await file.close();
    }
  }
}

/** Ids become path segments: only identifiers get that far. */
function checked(id: string): string {
  if (!IDENTIFIER.test(id)) throw new Error(`not an identifier: ${JSON.stringify(id)}`);
  return id;
}
