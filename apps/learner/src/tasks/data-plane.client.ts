import { setTimeout as sleep } from 'node:timers/promises';
import { TENSORS_MEDIA_TYPE } from '@flops/tensor-codec';

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
    if (!res.ok) throw new Error(`model download ${url} answered ${res.status}: ${await res.text()}`);
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
    if (!res.ok) throw new Error(`upload to ${url} refused with ${res.status}: ${await res.text()}`);
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
