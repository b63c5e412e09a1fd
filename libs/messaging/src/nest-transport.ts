import { ArgumentsHost, Catch, Controller, ExecutionContext, Logger, RpcExceptionFilter, UseFilters, UseInterceptors, applyDecorators, createParamDecorator } from '@nestjs/common';
import { MicroserviceOptions, MqttContext, Transport } from '@nestjs/microservices';
import { EMPTY, Observable } from 'rxjs';
import { Envelope, InvalidMessageError, TopicDef, parseMessage } from '@flops/contracts';
import { ProjectLogContextInterceptor } from './log-context';
import { countDropped, countReceived } from './mqtt-metrics';

export interface MqttServerOptions {
  url: string;
  clientId: string;
  /**
   * A persistent session (clean=false) makes the broker keep QoS 1 messages for us while we are
   * down, so a restarted service misses nothing. Per-project components use clean sessions.
   */
  persistentSession: boolean;
}

/** Options for `app.connectMicroservice` so that every FLOps app subscribes the same way. */
export function mqttServerOptions(options: MqttServerOptions): MicroserviceOptions {
  return {
    transport: Transport.MQTT,
    options: {
      url: options.url,
      clientId: options.clientId,
      clean: !options.persistentSession,
      reconnectPeriod: 1000,
      subscribeOptions: { qos: 1 },
    },
  };
}

/**
 * Injects the validated message of a handler's topic, read from the raw MQTT packet (Nest's own
 * payload has been through a string conversion). Invalid messages throw InvalidMessageError,
 * which DropInvalidMessagesFilter turns into a log line.
 */
export const Message = createParamDecorator(<P extends object>(def: TopicDef<P>, ctx: ExecutionContext): Envelope<P> => {
  const mqtt = ctx.switchToRpc().getContext<MqttContext>();
  const message = parseMessage(def, mqtt.getTopic(), mqtt.getPacket().payload);
  countReceived(mqtt.getTopic());
  return message;
});

/** Global filter for MQTT handlers: a bad message or a failing handler is logged, never fatal. */
@Catch()
export class DropInvalidMessagesFilter implements RpcExceptionFilter<unknown> {
  private readonly logger = new Logger('MqttHandlers');

  catch(error: unknown, host: ArgumentsHost): Observable<never> {
    const topic = host.getType() === 'rpc' ? host.switchToRpc().getContext<MqttContext>().getTopic?.() : undefined;
    if (error instanceof InvalidMessageError) {
      const payload: unknown = host.switchToRpc().getContext<MqttContext>().getPacket?.()?.payload;
      const empty = Buffer.isBuffer(payload) && payload.length === 0;
      // An empty payload is a cleared retained message, not a fault.
      if (!empty) {
        countDropped(topic, 'invalid');
        this.logger.warn(`dropped ${error.message}`);
      }
    } else {
      countDropped(topic, 'handler-failed');
      this.logger.error(`handler for ${topic ?? 'unknown topic'} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    }
    return EMPTY;
  }
}

/**
 * Marks a class of MQTT handlers: a Nest controller whose invalid messages and failures are
 * logged and dropped by DropInvalidMessagesFilter (scoped here so HTTP keeps its own errors), and
 * whose handlers log with the project id of their topic.
 */
export function MqttHandlers(): ClassDecorator {
  return applyDecorators(Controller(), UseFilters(new DropInvalidMessagesFilter()), UseInterceptors(ProjectLogContextInterceptor));
}
