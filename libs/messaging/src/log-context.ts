import { CallHandler, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
import { MqttContext } from '@nestjs/microservices';
import { AsyncLocalStorage } from 'node:async_hooks';
import { Observable } from 'rxjs';
import { projectIdOfTopic } from '@flops/contracts';

/** The project a piece of work is for, carried along async calls so every log line can name it. */
const projectContext = new AsyncLocalStorage<{ projectId: string }>();

export function withProject<T>(projectId: string, work: () => T): T {
  return projectContext.run({ projectId }, work);
}

export function currentProjectId(): string | undefined {
  return projectContext.getStore()?.projectId;
}

/** Runs each MQTT handler inside the project of its topic (used by @MqttHandlers). */
@Injectable()
export class ProjectLogContextInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const projectId = context.getType() === 'rpc' ? projectIdOfTopic(context.switchToRpc().getContext<MqttContext>().getTopic?.() ?? '') : null;
    if (!projectId) return next.handle();
    // Subscribing starts the handler: do it inside the context so everything it awaits inherits it.
    return new Observable((subscriber) => withProject(projectId, () => next.handle().subscribe(subscriber)));
  }
}
