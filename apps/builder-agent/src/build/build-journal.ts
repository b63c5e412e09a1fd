import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BuildRequested, Envelope } from '@flops/contracts';

/** A build request taken from the broker and not yet answered, and how often it was begun. */
export interface InFlightBuild {
  request: Envelope<BuildRequested>;
  attempts: number;
}

/**
 * The builder's in-flight builds on disk. The broker forgets a request once the builder has
 * taken it, so a builder killed mid-build would lose it; the journal makes the restarted builder
 * carry on with every request it had not answered yet. One file per request, written atomically.
 */
export abstract class BuildJournal {
  /** Record that a build of `request` begins (again); the number of this attempt. */
  abstract begin(request: Envelope<BuildRequested>): number;
  /** The request was answered (succeeded or failed): forget it. */
  abstract done(messageId: string): void;
  /** Every request begun and not answered, oldest first. */
  abstract pending(): InFlightBuild[];
}

export class FileBuildJournal extends BuildJournal {
  constructor(private readonly dir: string) {
    super();
    mkdirSync(dir, { recursive: true });
  }

  begin(request: Envelope<BuildRequested>): number {
    const attempts = (this.read(request.messageId)?.attempts ?? 0) + 1;
    const file = this.file(request.messageId);
    writeFileSync(`${file}.tmp`, JSON.stringify({ request, attempts, at: Date.now() }));
    renameSync(`${file}.tmp`, file);
    return attempts;
  }

  done(messageId: string): void {
    rmSync(this.file(messageId), { force: true });
  }

  pending(): InFlightBuild[] {
    const entries = readdirSync(this.dir).filter((name) => name.endsWith('.json'));
    const builds = entries.flatMap((name) => {
      const entry = this.readFile(join(this.dir, name));
      return entry ? [entry] : [];
    });
    return builds.sort((a, b) => a.at - b.at).map(({ request, attempts }) => ({ request, attempts }));
  }

  private read(messageId: string): (InFlightBuild & { at: number }) | null {
    return this.readFile(this.file(messageId));
  }

  private readFile(file: string): (InFlightBuild & { at: number }) | null {
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as InFlightBuild & { at: number };
    } catch {
      return null; // never written completely (the rename makes that rare) or gone meanwhile
    }
  }

  /** Message ids are UUIDs; anything else is reduced to a safe file name. */
  private file(messageId: string): string {
    return join(this.dir, `${messageId.replace(/[^A-Za-z0-9-]/g, '_')}.json`);
  }
}
