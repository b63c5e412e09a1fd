import { Logger } from '@nestjs/common';
import { connectAsync } from 'mqtt';
import { Topics, topicFor } from '@flops/contracts';
import { MqttBus } from './mqtt-bus';

jest.mock('mqtt', () => ({ connectAsync: jest.fn() }));

/** An MQTT client whose broker acknowledges at once, or never (it is gone). */
function fakeClient(broker: 'up' | 'gone') {
  return {
    published: [] as { topic: string; payload: string | Buffer; options: unknown }[],
    publishAsync(topic: string, payload: string | Buffer, options: unknown): Promise<undefined> {
      this.published.push({ topic, payload, options });
      return broker === 'up' ? Promise.resolve(undefined) : new Promise<undefined>(() => undefined);
    },
  };
}

async function busWith(client: ReturnType<typeof fakeClient>, publishTimeoutMs?: number): Promise<MqttBus> {
  jest.mocked(connectAsync).mockResolvedValueOnce(client as never);
  return MqttBus.connect({ url: 'mqtt://127.0.0.1:1', clientId: 'test', publishTimeoutMs });
}

beforeAll(() => Logger.overrideLogger(false));

describe('MqttBus.publish', () => {
  it('resolves once the broker acknowledged a contract-checked message', async () => {
    const client = fakeClient('up');
    const bus = await busWith(client, 50);

    await bus.publish(Topics.trainingFailed, 'p-1', { reason: 'boom' });

    expect(client.published).toHaveLength(1);
    const [sent] = client.published;
    expect(sent.topic).toBe(topicFor(Topics.trainingFailed, 'p-1'));
    expect(sent.options).toEqual({ qos: 1, retain: Topics.trainingFailed.retained });
    expect(JSON.parse(sent.payload as string)).toMatchObject({ projectId: 'p-1', payload: { reason: 'boom' } });
  });

  it('fails, naming the topic, when the broker does not acknowledge in time instead of waiting forever', async () => {
    const bus = await busWith(fakeClient('gone'), 50);
    const began = Date.now();

    await expect(bus.publish(Topics.trainingFailed, 'p-1', { reason: 'boom' })).rejects.toThrow(
      `publish to ${topicFor(Topics.trainingFailed, 'p-1')} got no acknowledgement from the broker within 50 ms`,
    );
    expect(Date.now() - began).toBeLessThan(1_000);
    await expect(bus.clearRetained('p-1')).rejects.toThrow(/no acknowledgement/);
  });

  it('waits 30 s by default', async () => {
    jest.useFakeTimers();
    try {
      const bus = await busWith(fakeClient('gone'));
      const outcome = bus.publish(Topics.trainingFailed, 'p-1', { reason: 'boom' }).then(
        () => 'acknowledged',
        () => 'timed out',
      );
      await jest.advanceTimersByTimeAsync(29_999);
      await expect(Promise.race([outcome, Promise.resolve('pending')])).resolves.toBe('pending');
      await jest.advanceTimersByTimeAsync(1);
      await expect(outcome).resolves.toBe('timed out');
    } finally {
      jest.useRealTimers();
    }
  });
});
