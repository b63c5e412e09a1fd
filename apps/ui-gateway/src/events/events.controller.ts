import { IDENTIFIER, UI_EVENT_ROUTES } from '@flops/contracts';
import { BadRequestException, Controller, Headers, MessageEvent, Param, Req, Sse } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Observable, map } from 'rxjs';
import { ProjectEventStream, StreamedEvent } from './project-event-stream';

/** A comment line this often keeps idle connections from being cut by proxies. */
export const HEARTBEAT_MS = 25_000;

/**
 * Server-Sent Events of project events. Each event's `data` is a ProjectEvent (JSON) and its `id`
 * the id of the MQTT message, so an EventSource that reconnects resumes a project's history.
 */
@Controller()
export class EventsController {
  constructor(private readonly stream: ProjectEventStream) {}

  /** Every project's events, live only. */
  @Sse(UI_EVENT_ROUTES.all)
  all(@Req() req: IncomingMessage): Observable<MessageEvent> {
    closeConnectionWhenDone(req);
    return withHeartbeat(this.stream.all().pipe(map(toMessageEvent)));
  }

  /** One project's recent events (after Last-Event-ID when it is given), then its live ones. */
  @Sse(UI_EVENT_ROUTES.project)
  project(@Req() req: IncomingMessage, @Param('id') id: string, @Headers('last-event-id') lastEventId?: string): Observable<MessageEvent> {
    if (!IDENTIFIER.test(id)) throw new BadRequestException('project id must be 1-64 letters, digits, "_" or "-"');
    closeConnectionWhenDone(req);
    return withHeartbeat(this.stream.project(id, lastEventId || undefined).pipe(map(toMessageEvent)));
  }
}

/**
 * An event stream ends when the gateway shuts down. Its connection would then be kept alive for
 * another request, holding up the HTTP server's close until the keep-alive timeout; an
 * EventSource reconnects on a new connection anyway, so this one is closed as soon as it ends.
 */
function closeConnectionWhenDone(req: IncomingMessage): void {
  const res = (req as IncomingMessage & { res?: ServerResponse }).res;
  res?.once('finish', () => req.socket.end());
}

function toMessageEvent({ id, event }: StreamedEvent): MessageEvent {
  return { id, data: event };
}

/** `events`, with an empty comment every `ms` while they last. */
function withHeartbeat(events: Observable<MessageEvent>, ms = HEARTBEAT_MS): Observable<MessageEvent> {
  return new Observable<MessageEvent>((subscriber) => {
    const timer = setInterval(() => subscriber.next({ comment: '' }), ms);
    const subscription = events.subscribe(subscriber);
    return () => {
      clearInterval(timer);
      subscription.unsubscribe();
    };
  });
}
