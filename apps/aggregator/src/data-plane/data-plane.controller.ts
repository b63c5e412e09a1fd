import { Controller, Get, HttpException, Inject, Param, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
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
    await this.uploads.use(async () => {
      const body = await readBody(req, this.limits.maxBytes);
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

function readBody(req: Request, maxBytes: number): Promise<Buffer> {
  const declared = Number(req.header('content-length') ?? NaN);
  if (declared > maxBytes) return Promise.reject(new HttpException(`upload larger than ${maxBytes} bytes`, 413));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        reject(new HttpException(`upload larger than ${maxBytes} bytes`, 413));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks, size)));
    req.on('error', reject);
  });
}
