import { setTimeout as sleep } from 'node:timers/promises';
import { TENSORS_MEDIA_TYPE } from '@flops/tensor-codec';

/**
 * The aggregator has moved past the task: its upload was answered 410 (task closed) or 409
 * "already answered" (a retried upload that had arrived), or its model is no longer served (410,
 * only the current model is). Nothing is wrong with this learner, so it is not a failure.
 */
export class StaleTaskError extends Error {}

/** Binary transfers to and from the aggregator, retried on network faults (not on refusals). */
export class DataPlaneClient {
  private cached?: { url: string; bytes: Buffer };

  constructor(
    private readonly learnerId: string,
    private readonly timeoutMs = 120_000,
  ) {}

  /** The evaluate and next fit task often name the same model: it is downloaded once. */
  async download(url: string): Promise<Buffer> {
    if (this.cached?.url === url) return this.cached.bytes;
    const res = await this.withRetry(() => fetch(url, { signal: AbortSignal.timeout(this.timeoutMs) }));
    if (!res.ok) {
      const message = `model download ${url} answered ${res.status}: ${await res.text()}`;
      throw res.status === 410 ? new StaleTaskError(message) : new Error(message);
    }
    const bytes = Buffer.from(await res.arrayBuffer());
    this.cached = { url, bytes };
    return bytes;
  }

  async upload(url: string, body: Buffer): Promise<void> {
    const res = await this.withRetry(() =>
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': TENSORS_MEDIA_TYPE, 'x-flops-learner-id': this.learnerId },
        body,
        signal: AbortSignal.timeout(this.timeoutMs),
      }),
    );
    if (!res.ok) {
      const text = await res.text();
      const message = `upload to ${url} refused with ${res.status}: ${text}`;
      throw res.status === 410 || (res.status === 409 && text.includes('already answered')) ? new StaleTaskError(message) : new Error(message);
    }
  }

  private async withRetry(request: () => Promise<Response>): Promise<Response> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await request();
      } catch (error) {
        if (attempt >= 4) throw error;
        await sleep(250 * 2 ** attempt);
      }
    }
  }
}
