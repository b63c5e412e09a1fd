import { randomUUID } from 'node:crypto';

/** Version tag of the wire format; bumped only with a new topic namespace. */
export const WIRE_SCHEMA = 'flops/v1';

/**
 * The envelope every MQTT message carries. Owned by FLOps rather than Nest's `{pattern, data}`
 * so that learners and tools in any language can speak the protocol. The field is `payload`,
 * not `data`: Nest would otherwise mistake the envelope for its own packet format and unwrap it.
 */
export interface Envelope<P> {
  schema: typeof WIRE_SCHEMA;
  messageId: string;
  correlationId?: string;
  sentAt: string;
  projectId: string;
  payload: P;
}

export function envelope<P>(projectId: string, payload: P, correlationId?: string): Envelope<P> {
  return {
    schema: WIRE_SCHEMA,
    messageId: randomUUID(),
    ...(correlationId ? { correlationId } : {}),
    sentAt: new Date().toISOString(),
    projectId,
    payload,
  };
}
