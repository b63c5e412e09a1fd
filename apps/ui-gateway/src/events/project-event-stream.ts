import { Observable, Subject, concat, defer, filter, from } from 'rxjs';
import { ProjectEvent } from './project-event';

/** An event with the id of the message that carried it (the SSE event id). */
export interface StreamedEvent {
  id: string;
  event: ProjectEvent;
}

export interface ProjectEventStreamLimits {
  /** Recent events kept per project for replay. */
  eventsPerProject: number;
  /** Projects kept; past this, the project with the oldest last event is forgotten. */
  projects: number;
}

export const DEFAULT_STREAM_LIMITS: ProjectEventStreamLimits = { eventsPerProject: 200, projects: 1000 };

/**
 * The project events of this process, fanned out to every watcher. Keeps the last few events of
 * each project so that someone who starts watching a project late sees its recent history; both
 * the events per project and the number of projects are bounded, so memory is too.
 */
export class ProjectEventStream {
  private readonly live = new Subject<StreamedEvent>();
  /** Recent events by project; Map order is least recently published first (LRU). */
  private readonly recent = new Map<string, StreamedEvent[]>();
  private ended = false;

  constructor(private readonly limits: ProjectEventStreamLimits = DEFAULT_STREAM_LIMITS) {
    if (!(limits.eventsPerProject >= 1 && limits.projects >= 1)) throw new Error('stream limits must be at least 1');
  }

  /**
   * Record an event and send it to every watcher. A message seen again (MQTT delivers at least
   * once) is ignored if its project still remembers it. Returns whether the event was new.
   */
  publish(id: string, event: ProjectEvent): boolean {
    if (this.ended) return false;
    const { projectId } = event;
    const buffer = this.recent.get(projectId) ?? [];
    if (buffer.some((e) => e.id === id)) return false;
    const entry: StreamedEvent = { id, event };
    buffer.push(entry);
    if (buffer.length > this.limits.eventsPerProject) buffer.splice(0, buffer.length - this.limits.eventsPerProject);
    this.recent.delete(projectId); // re-inserted last: the most recently active project
    this.recent.set(projectId, buffer);
    for (const oldest of this.recent.keys()) {
      if (this.recent.size <= this.limits.projects) break;
      this.recent.delete(oldest);
    }
    this.live.next(entry);
    return true;
  }

  /** Every project's events from now on (no history). */
  all(): Observable<StreamedEvent> {
    return this.live.asObservable();
  }

  /**
   * One project's recent events, then its live ones. With `afterId` (an EventSource's
   * Last-Event-ID) the history starts after that event if it is still remembered.
   */
  project(projectId: string, afterId?: string): Observable<StreamedEvent> {
    // The history is read and the live events subscribed to in the same tick: nothing falls between.
    return defer(() => concat(from(this.history(projectId, afterId)), this.live.pipe(filter((e) => e.event.projectId === projectId))));
  }

  /** The remembered events of a project, oldest first. */
  history(projectId: string, afterId?: string): StreamedEvent[] {
    const buffer = this.recent.get(projectId) ?? [];
    const after = afterId === undefined ? -1 : buffer.findIndex((e) => e.id === afterId);
    return buffer.slice(after + 1);
  }

  /** Projects remembered, least recently active first. */
  projects(): string[] {
    return [...this.recent.keys()];
  }

  /** Ends every watcher's stream (so open HTTP responses finish) and ignores later events. */
  close(): void {
    if (this.ended) return;
    this.ended = true;
    this.live.complete();
    this.recent.clear();
  }
}
