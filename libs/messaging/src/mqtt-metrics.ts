import { Counter } from 'prom-client';
import { topicDefOf } from '@flops/contracts';

// MQTT traffic counters (served with the other metrics at GET /metrics). Labelled by the topic's
// name in the contracts, never by the concrete topic: one series per kind, not per project.

const received = new Counter({ name: 'flops_mqtt_messages_received_total', help: 'MQTT messages taken in by handlers', labelNames: ['topic'] as const });
const sent = new Counter({ name: 'flops_mqtt_messages_sent_total', help: 'MQTT messages published and acknowledged', labelNames: ['topic'] as const });
const dropped = new Counter({
  name: 'flops_mqtt_messages_dropped_total',
  help: 'MQTT messages dropped: invalid, or their handler failed',
  labelNames: ['topic', 'reason'] as const,
});

/** The contracts' name of a concrete topic, `other` for anything else. */
function topicLabel(topic: string | undefined): string {
  return (topic && topicDefOf(topic)?.[0]) || 'other';
}

export const countReceived = (topic: string | undefined): void => received.inc({ topic: topicLabel(topic) });
export const countSent = (topic: string): void => sent.inc({ topic: topicLabel(topic) });
export const countDropped = (topic: string | undefined, reason: 'invalid' | 'handler-failed'): void =>
  dropped.inc({ topic: topicLabel(topic), reason });
