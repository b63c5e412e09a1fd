import { setTimeout as sleep } from 'node:timers/promises';
import { LEARNER_ID_HEADER, STALE_TASK_ERRORS, isDataPlaneErrorBody } from '@flops/contracts';
import { TENSORS_MEDIA_TYPE } from '@flops/tensor-codec';

/**
 * The aggregator has moved past the task: it answered with one of the data plane's stale-task
 * codes (task closed, a retried upload had already arrived, model superseded). Nothing is wrong
 * with this learner, so it is not a failure.
 */
export class StaleTaskError extends Error {}

/**
 * The aggregator refused the update after reading it (it failed the update checks): the refusal is counted
 * on the aggregator's side and the round goes on without it. Not a failure of the learner's task.
 */
export class UpdateRefusedError extends Error {}

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
    if (!res.ok) throw await refusalError(res, `model download ${url} answered ${res.status}`);
    const bytes = Buffer.from(await res.arrayBuffer());
    this.cached = { url, bytes };
    return bytes;
  }

  /** A download that names this learner (SCAFFOLD's per-learner correction); never cached. */
  async downloadOwn(url: string): Promise<Buffer> {
    const res = await this.withRetry(() => fetch(url, { headers: { [LEARNER_ID_HEADER]: this.learnerId }, signal: AbortSignal.timeout(this.timeoutMs) }));
    if (!res.ok) throw await refusalError(res, `download ${url} answered ${res.status}`);
    return Buffer.from(await res.arrayBuffer());
  }

  async upload(url: string, body: Buffer): Promise<void> {
    const res = await this.withRetry(() =>
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': TENSORS_MEDIA_TYPE, [LEARNER_ID_HEADER]: this.learnerId },
        body,
        signal: AbortSignal.timeout(this.timeoutMs),
      }),
    );
    if (res.ok) return;
    const refused = await refusalError(res, `upload to ${url} refused with ${res.status}`);
    throw refused.code === 'upload-too-large' && refused.limitBytes !== undefined
      ? new Error(
          `the update is ${body.length} bytes, more than the ${refused.limitBytes} bytes the aggregator accepts for it ` +
            '(its FLOPS_MAX_UPLOAD_BYTES, or the size of the global model)',
        )
      : refused;
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

/** The error for a refusal, read from the data plane's machine-readable body (its code decides, never its text). */
async function refusalError(res: Response, what: string): Promise<Error & { code?: string; limitBytes?: number }> {
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (!isDataPlaneErrorBody(body)) return new Error(`${what}: ${text}`);
  const error = STALE_TASK_ERRORS.has(body.code)
    ? new StaleTaskError(`${what}: ${body.message}`)
    : body.code === 'update-refused'
      ? new UpdateRefusedError(`${what}: ${body.message}`)
      : new Error(`${what}: ${body.message}`);
  return Object.assign(error, { code: body.code, limitBytes: body.limitBytes });
}
