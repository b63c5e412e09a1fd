import { Logger } from '@nestjs/common';
import { IClientPublishOptions, MqttClient, connectAsync } from 'mqtt';
import { Topics, TopicDef, createMessage, healthProbeTopic, topicFor } from '@flops/contracts';
import { countSent } from './mqtt-metrics';

export interface MqttBusOptions {
  url: string;
  clientId: string;
  /** Sent by the broker on our behalf if we vanish without saying goodbye. */
  will?: { topic: string; payload: string };
  /**
   * How long a publish may wait for the broker's acknowledgement before it fails (default 30 s).
   * Without a bound, a service whose broker is gone would wait forever instead of exiting.
   */
  publishTimeoutMs?: number;
}

/**
 * Publishes contract-checked messages with QoS 1. Subscribing is Nest's job (`@EventPattern`);
 * this is the one way FLOps code sends anything over MQTT.
 */
export class MqttBus {
  private readonly logger = new Logger(MqttBus.name);

  private constructor(
    private readonly client: MqttClient,
    private readonly publishTimeoutMs: number,
    private readonly clientId: string,
  ) {}

  static async connect(options: MqttBusOptions): Promise<MqttBus> {
    const client = await connectAsync(options.url, {
      clientId: `${options.clientId}-pub`,
      clean: true,
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      will: options.will ? { topic: options.will.topic, payload: Buffer.from(options.will.payload), qos: 1, retain: false } : undefined,
    });
    return new MqttBus(client, options.publishTimeoutMs ?? 30_000, options.clientId);
  }

  /** Resolves once the broker acknowledged the message (PUBACK). */
  async publish<P extends object>(def: TopicDef<P>, projectId: string, payload: P, correlationId?: string): Promise<void> {
    const { topic, message } = createMessage(def, projectId, payload, correlationId);
    await this.send(topic, JSON.stringify(message), { qos: 1, retain: def.retained });
    this.logger.debug(`→ ${topic}`);
  }

  /** Remove every retained message of a project, so nothing stale greets a later subscriber. */
  async clearRetained(projectId: string): Promise<void> {
    for (const def of Object.values(Topics) as TopicDef<object>[]) {
      if (def.retained) await this.send(topicFor(def, projectId), '', { qos: 1, retain: true });
    }
  }

  /**
   * A real round trip to the broker (QoS 1 publish, acknowledged) for readiness probes; fails at
   * once while disconnected instead of waiting in the offline queue.
   */
  async ping(timeoutMs: number): Promise<void> {
    if (!this.client.connected) throw new Error('not connected to the broker');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`broker did not acknowledge within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([this.client.publishAsync(healthProbeTopic(this.clientId), '', { qos: 1 }), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** For tests and tools: publish arbitrary bytes, bypassing the contract. */
  async publishRaw(topic: string, payload: string | Buffer): Promise<void> {
    await this.send(topic, payload, { qos: 1 });
  }

  /** publishAsync, but failing after `publishTimeoutMs` rather than waiting for a broker that may never come back. */
  private async send(topic: string, payload: string | Buffer, options: IClientPublishOptions): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`publish to ${topic} got no acknowledgement from the broker within ${this.publishTimeoutMs} ms`)),
        this.publishTimeoutMs,
      );
    });
    try {
      await Promise.race([this.client.publishAsync(topic, payload, options), timeout]);
      countSent(topic);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    await this.client.endAsync();
  }
}
