import type { TopicDef } from '@flops/contracts';

/**
 * The one way FLOps code sends messages (a port: services depend on this; MqttBus is the broker
 * behind it). Every payload is checked against its contract before it leaves.
 */
export abstract class MessageBus {
  /** Resolves once the message was accepted by the transport (for MQTT: PUBACK). */
  abstract publish<P extends object>(def: TopicDef<P>, projectId: string, payload: P, correlationId?: string): Promise<void>;
  /** Remove every retained message of a project, so nothing stale greets a later subscriber. */
  abstract clearRetained(projectId: string): Promise<void>;
  /** A real round trip to the transport, for readiness probes; fails at once while disconnected. */
  abstract ping(timeoutMs: number): Promise<void>;
  abstract close(): Promise<void>;
}
