import { INestApplication, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ClientRequest, IncomingMessage, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Socket } from 'node:net';
import { KernelBuffer, ScalarFoldKernel } from '@flops/fl-engine';
import { TENSORS_MEDIA_TYPE } from '@flops/tensor-codec';
import { DataPlaneClient } from '../../../learner/src/tasks/data-plane.client';
import { UpdateRejectedError } from '../training/training-errors';
import { TrainingRun } from '../training/training-run';
import { DataPlaneController, UPLOAD_LIMITS, UploadLimits, readBody } from './data-plane.controller';

// Generous: other test runs share this 2-core machine (the first engine also compiles its WebAssembly kernel).
jest.setTimeout(60_000);

/** The parts of TrainingRun the data plane uses, recording what it was asked. */
class FakeRun {
  checks = 0;
  readonly received: { taskId: string; learnerId: string; body: string }[] = [];
  /** What checkUpload does: return the expected size (undefined: unknown) or throw. */
  check: (taskId: string) => number | undefined = () => undefined;

  checkUpload(taskId: string): number | undefined {
    this.checks++;
    return this.check(taskId);
  }

  receiveUpload(taskId: string, learnerId: string, bytes: Uint8Array): void {
    this.received.push({ taskId, learnerId, body: Buffer.from(bytes).toString() });
  }

  /** Fit uploads are read into buffers of the fold kernel's memory; counted to show they are reused. */
  readonly kernel = new ScalarFoldKernel();
  buffersAllocated = 0;
  uploadBuffer(byteLength: number): KernelBuffer {
    this.buffersAllocated++;
    return this.kernel.buffer(byteLength);
  }
}

async function startDataPlane(run: FakeRun, limits: UploadLimits): Promise<{ app: INestApplication; port: number }> {
  @Module({
    controllers: [DataPlaneController],
    providers: [
      { provide: TrainingRun, useValue: run },
      { provide: UPLOAD_LIMITS, useValue: limits },
    ],
  })
  class TestModule {}
  const app = await NestFactory.create(TestModule, { logger: false });
  await app.listen(0, '127.0.0.1');
  return { app, port: (app.getHttpServer() as { address(): AddressInfo }).address().port };
}

interface Upload {
  req: ClientRequest;
  /** Status of the answer; rejects if none came within `ms`. */
  status(ms?: number): Promise<number>;
  /** The answer's JSON body. */
  body(ms?: number): Promise<any>;
}

/** Every request a test started; torn down after it, so the server can close. */
const requests: ClientRequest[] = [];

/** Starts an upload and sends `first` of its body; the rest is up to the test (`req.end(...)`). */
function startUpload(port: number, opts: { taskId?: string; length?: number; first?: string } = {}): Upload {
  const headers: Record<string, string | number> = { 'content-type': TENSORS_MEDIA_TYPE, 'x-flops-learner-id': 'learner-0' };
  if (opts.length !== undefined) headers['content-length'] = opts.length;
  const req = request({ port, host: '127.0.0.1', method: 'POST', path: `/v1/tasks/${opts.taskId ?? 'task-1'}/uploads`, headers });
  requests.push(req);
  const answered = new Promise<{ status: number; body: any }>((resolve, reject) => {
    req.on('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
  });
  answered.catch(() => undefined); // a test that destroys the request does not wait for an answer
  if (opts.first !== undefined) req.write(opts.first);
  else req.flushHeaders();
  const within = (ms: number) =>
    Promise.race([answered, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref())]);
  return { req, status: async (ms = 3_000) => (await within(ms)).status, body: async (ms = 3_000) => (await within(ms)).body };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (const started = Date.now(); !condition(); await new Promise((r) => setTimeout(r, 5))) {
    if (Date.now() - started > 3_000) throw new Error(`timed out waiting for ${what}`);
  }
}

describe('DataPlaneController: uploads', () => {
  let app: INestApplication | undefined;
  afterEach(async () => {
    for (const req of requests.splice(0)) req.destroy();
    await app?.close();
    app = undefined;
  });

  it('gives the slot back when a client went away while queued, so later uploads are still accepted', async () => {
    const run = new FakeRun();
    const started = await startDataPlane(run, { maxBytes: 1024, concurrency: 1 });
    app = started.app;
    const { port } = started;

    const holder = startUpload(port, { length: 10, first: 'hello' }); // holds the only slot while its body trickles in
    await until(() => run.checks === 2, 'the first upload to take the slot');
    const quitter = startUpload(port, { length: 10, first: 'bye' });
    await until(() => run.checks === 3, 'the second upload to queue');
    quitter.req.destroy(); // Node destroys its request before the controller reads it
    await new Promise((r) => setTimeout(r, 50));

    holder.req.end('world');
    await expect(holder.status()).resolves.toBe(202);

    const later = startUpload(port, { length: 5, first: '' });
    later.req.end('again');
    await expect(later.status()).resolves.toBe(202);
    expect(run.received.map((r) => r.body)).toEqual(['helloworld', 'again']);
  });

  it('refuses an upload that cannot be accepted without queueing for a slot or reading the body', async () => {
    const run = new FakeRun();
    run.check = (taskId) => {
        if (taskId === 'closed') throw new UpdateRejectedError('task-closed', 'task closed is not open');
      if (taskId === 'answered') throw new UpdateRejectedError('already-answered', 'learner-0 already answered task answered');
      return undefined;
    };
    const started = await startDataPlane(run, { maxBytes: 1024, concurrency: 1 });
    app = started.app;

    const holder = startUpload(started.port, { length: 10, first: 'hello' });
    await until(() => run.checks === 2, 'the first upload to take the slot');
    // the only slot is taken, yet these are answered at once, before their bodies are sent
    const closed = startUpload(started.port, { taskId: 'closed', length: 100 });
    await expect(closed.status()).resolves.toBe(410);
    await expect(closed.body()).resolves.toEqual({ statusCode: 410, code: 'task-closed', message: 'task closed is not open' });
    const answered = startUpload(started.port, { taskId: 'answered', length: 100 });
    await expect(answered.status()).resolves.toBe(409);
    await expect(answered.body()).resolves.toMatchObject({ code: 'already-answered' });

    holder.req.end('world');
    await expect(holder.status()).resolves.toBe(202);
    expect(run.received.map((r) => r.taskId)).toEqual(['task-1']);
  });

  it('bounds the body by the expected update size when known, else by the configured maximum', async () => {
    const run = new FakeRun();
    let expected: number | undefined = 8;
    run.check = () => expected;
    const started = await startDataPlane(run, { maxBytes: 16, concurrency: 2 });
    app = started.app;

    const declared = startUpload(started.port, { length: 9, first: '' });
    await expect(declared.status()).resolves.toBe(413);
    await expect(declared.body()).resolves.toMatchObject({ code: 'upload-too-large', limitBytes: 8 });
    const fits = startUpload(started.port, { length: 8, first: '12345678' });
    fits.req.end();
    await expect(fits.status()).resolves.toBe(202);
    const again = startUpload(started.port, { length: 8, first: 'abcdefgh' });
    again.req.end();
    await expect(again.status()).resolves.toBe(202);
    expect(run.received.map((r) => r.body)).toEqual(['12345678', 'abcdefgh']);
    expect(run.buffersAllocated).toBe(1); // one kernel buffer, read into again and again: no copies pile up

    expected = undefined; // initial weights: only the configured maximum applies
    const init = startUpload(started.port, { length: 16, first: '0123456789abcdef' });
    init.req.end();
    await expect(init.status()).resolves.toBe(202);
    await expect(startUpload(started.port, { length: 17, first: '' }).status()).resolves.toBe(413);

    // a body without a declared length is refused as soon as it grows too large, with an answer
    // the learner can read (not a connection reset), even while the learner goes on sending
    expected = 8;
    const chunked = startUpload(started.port, { first: '1234' });
    chunked.req.write('56789');
    const more = setInterval(() => chunked.req.write('x'.repeat(1024)), 5);
    try {
      await expect(chunked.body()).resolves.toEqual({ statusCode: 413, code: 'upload-too-large', message: expect.stringContaining('8 bytes'), limitBytes: 8 });
      await expect(chunked.status()).resolves.toBe(413);
    } finally {
      clearInterval(more);
    }
    expect(run.received.map((r) => r.body)).toEqual(['12345678', 'abcdefgh', '0123456789abcdef']);
  });
});

describe('DataPlaneController with the learner’s DataPlaneClient', () => {
  it('an update larger than the aggregator accepts is refused with a 413 the learner reads and reports clearly', async () => {
    const run = new FakeRun();
    const { app, port } = await startDataPlane(run, { maxBytes: 4096, concurrency: 1 });
    try {
      const client = new DataPlaneClient('learner-0', 5_000);
      await expect(client.upload(`http://127.0.0.1:${port}/v1/tasks/t-1/uploads`, Buffer.alloc(100_000))).rejects.toThrow(
        'the update is 100000 bytes, more than the 4096 bytes the aggregator accepts for it',
      );
      await client.upload(`http://127.0.0.1:${port}/v1/tasks/t-1/uploads`, Buffer.alloc(4096));
      expect(run.received).toHaveLength(1);
    } finally {
      await app.close();
    }
  });
});

describe('readBody', () => {
  it('rejects for a request that was destroyed before it was read, instead of waiting forever', async () => {
    const req = new IncomingMessage(new Socket());
    req.destroy();
    const hung = new Promise((_, reject) => setTimeout(() => reject(new Error('readBody did not settle')), 1_000).unref());
    await expect(Promise.race([readBody(req, 1024), hung])).rejects.toThrow(/premature close|aborted/i);
  });
});
