import { Logger } from '@nestjs/common';
import { MqttClient, connectAsync } from 'mqtt';
import { Topics, TopicDef, createMessage, topicFor } from '@flops/contracts';

export interface MqttBusOptions {
  url: string;
  clientId: string;
  /** Sent by the broker on our behalf if we vanish without saying goodbye. */
  will?: { topic: string; payload: string };
}

/**
 * Publishes contract-checked messages with QoS 1. Subscribing is Nest's job (`@EventPattern`);
 * this is the one way FLOps code sends anything over MQTT.
 */
export class MqttBus {
  private readonly logger = new Logger(MqttBus.name);

  private constructor(private readonly client: MqttClient) {}

  static async connect(options: MqttBusOptions): Promise<MqttBus> {
    const client = await connectAsync(options.url, {
      clientId: `${options.clientId}-pub`,
      clean: true,
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      will: options.will ? { topic: options.will.topic, payload: Buffer.from(options.will.payload), qos: 1, retain: false } : undefined,
    });
    return new MqttBus(client);
  }

  /** Resolves once the broker acknowledged the message (PUBACK). */
  async publish<P extends object>(def: TopicDef<P>, projectId: string, payload: P, correlationId?: string): Promise<void> {
    const { topic, message } = createMessage(def, projectId, payload, correlationId);
    await this.client.publishAsync(topic, JSON.stringify(message), { qos: 1, retain: def.retained });
    this.logger.debug(`→ ${topic}`);
  }

  /** Remove every retained message of a project, so nothing stale greets a later subscriber. */
  async clearRetained(projectId: string): Promise<void> {
    for (const def of Object.values(Topics) as TopicDef<object>[]) {
      if (def.retained) await this.client.publishAsync(topicFor(def, projectId), '', { qos: 1, retain: true });
    }
  }

  /** For tests and tools: publish arbitrary bytes, bypassing the contract. */
  async publishRaw(topic: string, payload: string | Buffer): Promise<void> {
    await this.client.publishAsync(topic, payload, { qos: 1 });
  }

  async close(): Promise<void> {
    await this.client.endAsync();
  }
}
