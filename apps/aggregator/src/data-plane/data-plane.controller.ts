import { Controller, Get, HttpException, Inject, Param, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { IncomingMessage } from 'node:http';
import { TENSORS_MEDIA_TYPE } from '@flops/tensor-codec';
import { TrainingRun } from '../training/training-run';
import { UpdateRejectedError } from '../training/training-errors';
import { Semaphore } from './semaphore';

export const UPLOAD_LIMITS = Symbol('upload-limits');
export interface UploadLimits {
  maxBytes: number;
  concurrency: number;
}

/**
 * The binary data path: learners download the global model and upload weights here, in the
 * tensor codec format. Uploads are read one bounded batch at a time, so however many learners
 * upload at once the aggregator holds at most `concurrency` updates besides the running sum.
 */
@Controller('v1')
export class DataPlaneController {
  private readonly uploads: Semaphore;

  constructor(
    private readonly run: TrainingRun,
    @Inject(UPLOAD_LIMITS) private readonly limits: UploadLimits,
  ) {
    this.uploads = new Semaphore(limits.concurrency);
  }

  @Get('models/:version')
  model(@Param('version') version: string, @Res() res: Response): void {
    const bytes = this.guard(() => this.run.modelBytes(version));
    res.status(200).type(TENSORS_MEDIA_TYPE).setHeader('Content-Length', bytes.length);
    res.end(bytes);
  }

  @Post('tasks/:taskId/uploads')
  async upload(@Param('taskId') taskId: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    const learnerId = req.header('x-flops-learner-id');
    if (!learnerId) throw new HttpException('x-flops-learner-id header is required', 400);
    if (!req.is(TENSORS_MEDIA_TYPE)) throw new HttpException(`Content-Type must be ${TENSORS_MEDIA_TYPE}`, 415);
    // Refuse what cannot be accepted before queueing for a slot, and again once we have one
    // (the task may have closed meanwhile): neither costs reading the body.
    this.guard(() => this.run.checkUpload(taskId, learnerId));
    await this.uploads.use(async () => {
      const expected = this.guard(() => this.run.checkUpload(taskId, learnerId));
      const body = await readBody(req, Math.min(this.limits.maxBytes, expected ?? Infinity));
      this.guard(() => this.run.receiveUpload(taskId, learnerId, body));
    });
    res.status(202).json({ accepted: true });
  }

  private guard<T>(work: () => T): T {
    try {
      return work();
    } catch (error) {
      if (error instanceof UpdateRejectedError) throw new HttpException(error.message, error.status);
      throw error;
    }
  }
}

/**
 * The request body, at most `maxBytes` (413 beyond). Iterating the stream, rather than waiting
 * for events, also rejects for a request that was destroyed before we got to it (the client went
 * away while queued for a slot), so the slot is always given back.
 */
export async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const tooLarge = (): HttpException => new HttpException(`upload larger than ${maxBytes} bytes`, 413);
  if (Number(req.headers['content-length'] ?? NaN) > maxBytes) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBytes) {
        req.destroy();
        throw tooLarge();
      }
      chunks.push(chunk);
    }
  } catch (error) {
    if (error instanceof HttpException) throw error;
    // The learner went away mid-upload: its fault, not ours (and nobody is left to answer).
    throw new HttpException(`upload interrupted: ${error instanceof Error ? error.message : String(error)}`, 400);
  }
  return Buffer.concat(chunks, size);
}
