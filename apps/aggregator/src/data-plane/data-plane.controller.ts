import { Controller, Get, HttpException, Inject, Param, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { IncomingMessage } from 'node:http';
import { DATA_PLANE_ERRORS, DATA_PLANE_ROUTES, DataPlaneErrorBody, DataPlaneErrorCode, LEARNER_ID_HEADER } from '@flops/contracts';
import { KernelBuffer, UploadTooLargeError, readInto } from '@flops/fl-engine';
import { Metrics } from '@flops/service-kit';
import { TENSORS_MEDIA_TYPE } from '@flops/tensor-codec';
import { TrainingRun } from '../training/training-run';
import { UpdateRejectedError } from '../training/training-errors';
import { Semaphore } from './semaphore';

export const UPLOAD_LIMITS = Symbol('upload-limits');
export interface UploadLimits {
  maxBytes: number;
  concurrency: number;
}

/** How long the rest of a refused upload is read and thrown away, so the learner can read the answer. */
const LINGER_MS = 10_000;

/** A refusal as the data plane contract (@flops/contracts) words it: a code, its status, a message. */
export function refusal(code: DataPlaneErrorCode, message: string, extra: Partial<DataPlaneErrorBody> = {}): HttpException {
  const status = DATA_PLANE_ERRORS[code];
  return new HttpException({ statusCode: status, code, message, ...extra } satisfies DataPlaneErrorBody, status);
}

/**
 * The binary data path: learners download the global model and upload weights here, in the
 * tensor codec format. Uploads are read one bounded batch at a time, so however many learners
 * upload at once the aggregator holds at most `concurrency` updates besides the running sum.
 */
@Controller()
export class DataPlaneController {
  private readonly uploads: Semaphore;
  /** Upload buffers in the fold kernel's memory not in use right now. */
  private readonly spare: KernelBuffer[] = [];

  constructor(
    private readonly run: TrainingRun,
    @Inject(UPLOAD_LIMITS) private readonly limits: UploadLimits,
  ) {
    this.uploads = new Semaphore(limits.concurrency);
  }

  @Get(DATA_PLANE_ROUTES.model)
  model(@Param('version') version: string, @Res() res: Response): void {
    const bytes = this.guard(() => this.run.modelBytes(version));
    res.status(200).type(TENSORS_MEDIA_TYPE).setHeader('Content-Length', bytes.length);
    res.end(bytes);
  }

  @Post(DATA_PLANE_ROUTES.upload)
  async upload(@Param('taskId') taskId: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    try {
      const bytes = await this.receive(taskId, req);
      Metrics.uploads.inc();
      Metrics.uploadBytes.inc(bytes);
    } catch (error) {
      const code = error instanceof HttpException ? (error.getResponse() as Partial<DataPlaneErrorBody>).code : undefined;
      Metrics.refusedUpdates.inc({ code: code ?? 'internal' });
      throw error;
    }
    res.status(202).json({ accepted: true });
  }

  /** Reads and hands over one upload; answers its size in bytes. */
  private async receive(taskId: string, req: Request): Promise<number> {
    const learnerId = req.header(LEARNER_ID_HEADER);
    if (!learnerId) throw refusal('missing-learner-id', `${LEARNER_ID_HEADER} header is required`);
    if (!req.is(TENSORS_MEDIA_TYPE)) throw refusal('wrong-media-type', `Content-Type must be ${TENSORS_MEDIA_TYPE}`);
    // Refuse what cannot be accepted before queueing for a slot, and again once we have one
    // (the task may have closed meanwhile): neither costs reading the body.
    this.guard(() => this.run.checkUpload(taskId, learnerId));
    return this.uploads.use(async () => {
      const expected = this.guard(() => this.run.checkUpload(taskId, learnerId));
      const limit = Math.min(this.limits.maxBytes, expected ?? Infinity);
      const buffer = expected === undefined ? undefined : this.acquire(limit);
      if (!buffer) {
        const body = await readBody(req, limit);
        this.guard(() => this.run.receiveUpload(taskId, learnerId, body));
        return body.length;
      }
      try {
        // Straight into the fold kernel's memory: one copy from the socket, checked and folded where it lies.
        const bytes = await readUpload(req, buffer);
        this.guard(() => this.run.receiveUpload(taskId, learnerId, bytes));
        return bytes.length;
      } finally {
        this.spare.push(buffer);
      }
    });
  }

  /** SCAFFOLD: the learner's correction for a fit task. */
  @Get(DATA_PLANE_ROUTES.correction)
  correction(@Param('taskId') taskId: string, @Req() req: Request, @Res() res: Response): void {
    const learnerId = req.header(LEARNER_ID_HEADER);
    if (!learnerId) throw refusal('missing-learner-id', `${LEARNER_ID_HEADER} header is required`);
    const bytes = this.guard(() => this.run.correctionBytes(taskId, learnerId));
    res.status(200).type(TENSORS_MEDIA_TYPE).setHeader('Content-Length', bytes.length);
    res.end(bytes);
  }

  /**
   * An upload buffer of at least `byteLength` bytes: reused, so that the aggregator holds at most `concurrency`
   * of them (the model's size does not change, so they are allocated once).
   */
  private acquire(byteLength: number): KernelBuffer | undefined {
    const index = this.spare.findIndex((b) => b.byteLength >= byteLength);
    if (index >= 0) return this.spare.splice(index, 1)[0];
    this.spare.splice(0).forEach((b) => b.release()); // too small for this model: let them go
    return this.run.uploadBuffer(byteLength);
  }

  private guard<T>(work: () => T): T {
    try {
      return work();
    } catch (error) {
      if (error instanceof UpdateRejectedError) throw refusal(error.code, error.message);
      throw error;
    }
  }
}

/**
 * The request body, at most `maxBytes` (413 beyond, as soon as it is known). The rest of a body
 * that is too large is read and thrown away for a while rather than cut off, because a reset
 * connection would lose the answer before the learner reads it. Iterating the stream, rather
 * than waiting for events, also rejects for a request destroyed before we got to it (the client
 * went away while queued for a slot), so the slot is always given back.
 */
export async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const tooLarge = (): HttpException => {
    discardRest(req);
    return refusal('upload-too-large', `upload larger than ${maxBytes} bytes`, { limitBytes: maxBytes });
  };
  if (Number(req.headers['content-length'] ?? NaN) > maxBytes) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBytes) throw tooLarge();
      chunks.push(chunk);
    }
  } catch (error) {
    if (error instanceof HttpException) throw error;
    // The learner went away mid-upload: its fault, not ours (and nobody is left to answer).
    throw refusal('upload-interrupted', `upload interrupted: ${error instanceof Error ? error.message : String(error)}`);
  }
  return Buffer.concat(chunks, size);
}

/** A fit upload read into a kernel buffer: 413 as soon as it outgrows it, like readBody. */
async function readUpload(req: IncomingMessage, buffer: KernelBuffer): Promise<Uint8Array> {
  const tooLarge = (): HttpException => {
    discardRest(req);
    return refusal('upload-too-large', `upload larger than ${buffer.byteLength} bytes`, { limitBytes: buffer.byteLength });
  };
  if (Number(req.headers['content-length'] ?? NaN) > buffer.byteLength) throw tooLarge();
  try {
    return await readInto(buffer, req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>);
  } catch (error) {
    if (error instanceof UploadTooLargeError) throw tooLarge();
    throw refusal('upload-interrupted', `upload interrupted: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function discardRest(req: IncomingMessage): void {
  const timer = setTimeout(() => req.destroy(), LINGER_MS);
  timer.unref();
  req.once('close', () => clearTimeout(timer));
  req.resume();
}
