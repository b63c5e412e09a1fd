import { Observable, Subject, concat, defer, filter, from } from 'rxjs';
import type { ProjectEvent } from '@flops/contracts';

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
  /** Bytes of events (as JSON) kept in all; past this, the oldest events are forgotten. */
  bytes?: number;
}

export const DEFAULT_STREAM_LIMITS: Required<ProjectEventStreamLimits> = { eventsPerProject: 200, projects: 1000, bytes: 64 * 1024 * 1024 };

/** A remembered event and what it costs. */
interface Retained extends StreamedEvent {
  bytes: number;
}

/**
 * The project events of this process, fanned out to every watcher. Keeps the last few events of
 * each project so that someone who starts watching a project late sees its recent history. The
 * events per project, the number of projects and the bytes of all kept events are bounded, so
 * memory is too, whatever the events carry.
 */
export class ProjectEventStream {
  private readonly live = new Subject<StreamedEvent>();
  private readonly limits: Required<ProjectEventStreamLimits>;
  /** Recent events by project; Map order is least recently published first (LRU). */
  private readonly recent = new Map<string, Retained[]>();
  /** Every remembered event with its project, oldest first: what the byte budget forgets first. */
  private readonly order = new Map<Retained, string>();
  private bytes = 0;
  private ended = false;

  constructor(limits: ProjectEventStreamLimits = DEFAULT_STREAM_LIMITS) {
    this.limits = { ...DEFAULT_STREAM_LIMITS, ...limits };
    const { eventsPerProject, projects, bytes } = this.limits;
    if (!(eventsPerProject >= 1 && projects >= 1 && bytes >= 1)) throw new Error('stream limits must be at least 1');
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
    const entry: Retained = { id, event, bytes: Buffer.byteLength(JSON.stringify(event)) };
    // An event larger than the whole budget is streamed, never remembered.
    if (entry.bytes <= this.limits.bytes) {
      buffer.push(entry);
      this.order.set(entry, projectId);
      this.bytes += entry.bytes;
      for (const old of buffer.splice(0, Math.max(0, buffer.length - this.limits.eventsPerProject))) this.forget(old);
      this.recent.delete(projectId); // re-inserted last: the most recently active project
      this.recent.set(projectId, buffer);
    }
    for (const [oldest, events] of this.recent) {
      if (this.recent.size <= this.limits.projects) break;
      this.recent.delete(oldest);
      events.forEach((e) => this.forget(e));
    }
    while (this.bytes > this.limits.bytes) {
      const [oldest, owner] = this.order.entries().next().value!;
      const events = this.recent.get(owner)!;
      events.splice(events.indexOf(oldest), 1); // the first: a project's events are in publish order
      if (events.length === 0) this.recent.delete(owner);
      this.forget(oldest);
    }
    this.live.next({ id, event });
    return true;
  }

  /** Bytes of the events kept for replay (each as JSON). */
  retainedBytes(): number {
    return this.bytes;
  }

  private forget(entry: Retained): void {
    if (this.order.delete(entry)) this.bytes -= entry.bytes;
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
    return buffer.slice(after + 1).map(({ id, event }) => ({ id, event }));
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
    this.order.clear();
    this.bytes = 0;
  }
}
