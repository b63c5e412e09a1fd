import { TopicDef, TopicName, Topics, createMessage } from '@flops/contracts';
import { MessageBus } from '@flops/messaging';

export interface PublishedMessage {
  /** The topic's name in `Topics`, e.g. `projectSubmitted`. */
  topic: TopicName;
  projectId: string;
  payload: object;
}

/** A MessageBus that records what would go to the broker. Payloads are checked against the contract, like MqttBus does. */
export class RecordingBus extends MessageBus {
  readonly published: PublishedMessage[] = [];
  readonly cleared: string[] = [];
  /** When set, every publish, clear and ping fails with it (a broker that does not answer). */
  failWith?: Error;
  closed = false;

  /** `log` can be shared with other fakes to check the order of their calls. */
  constructor(private readonly log: string[] = []) {
    super();
  }

  async publish<P extends object>(def: TopicDef<P>, projectId: string, payload: P, correlationId?: string): Promise<void> {
    if (this.failWith) throw this.failWith;
    createMessage(def, projectId, payload, correlationId); // throws on a payload the contract rejects
    const topic = (Object.keys(Topics) as TopicName[]).find((name) => Topics[name] === (def as TopicDef<object>));
    if (!topic) throw new Error(`unknown topic ${def.template}`);
    this.published.push({ topic, projectId, payload });
    this.log.push(`publish ${topic}`);
  }

  async clearRetained(projectId: string): Promise<void> {
    if (this.failWith) throw this.failWith;
    this.cleared.push(projectId);
    this.log.push(`clearRetained ${projectId}`);
  }

  async ping(_timeoutMs: number): Promise<void> {
    if (this.failWith) throw this.failWith;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** The payloads published on `topic` (for `projectId`, if given). */
  of(topic: TopicName, projectId?: string): object[] {
    return this.published.filter((p) => p.topic === topic && (!projectId || p.projectId === projectId)).map((p) => p.payload);
  }
}
