import { Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpDataPlaneClient, StaleTaskError } from './data-plane.client';

/** An aggregator data plane that answers every request with `status` and a data-plane error body. */
async function answering(status: number, message: string, extra: Record<string, unknown> = {}): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () =>
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ statusCode: status, message, ...extra })),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** What `work` rejects with. */
async function rejectionOf(work: Promise<unknown>): Promise<Error> {
  try {
    await work;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

describe('DataPlaneClient: refusals', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
  });

  async function client(status: number, message: string, extra: Record<string, unknown> = {}): Promise<{ client: HttpDataPlaneClient; url: string }> {
    const { server, url } = await answering(status, message, extra);
    servers.push(server);
    return { client: new HttpDataPlaneClient('learner-0', 5_000), url };
  }

  it.each([
    [410, 'task-closed', 'task t-1 is not open'],
    [409, 'already-answered', 'your retry arrived after the first attempt'],
  ])('an upload answered %i %s is stale, not a failure, whatever the text says', async (status, code, message) => {
    const { client: c, url } = await client(status, message, { code });
    const error = await rejectionOf(c.upload(`${url}/v1/tasks/t-1/uploads`, Buffer.from('update')));
    expect(error).toBeInstanceOf(StaleTaskError);
    expect(error.message).toContain(String(status));
  });

  it.each([
    [409, 'not-selected', 'learner-0 already answered? no: it was not selected for task t-1'],
    [400, 'invalid-update', 'the update does not have the layout of the global model'],
    [409, undefined, 'learner-0 already answered task t-1 (but no code says so)'],
  ])('an upload answered %i %s is a failure', async (status, code, message) => {
    const { client: c, url } = await client(status, message, code ? { code } : {});
    const error = await rejectionOf(c.upload(`${url}/v1/tasks/t-1/uploads`, Buffer.from('update')));
    expect(error).not.toBeInstanceOf(StaleTaskError);
    expect(error.message).toContain(message);
  });

  it('an update larger than the aggregator accepts is reported clearly, with both sizes', async () => {
    const { client: c, url } = await client(413, 'upload larger than 100 bytes', { code: 'upload-too-large', limitBytes: 100 });
    const error = await rejectionOf(c.upload(`${url}/v1/tasks/t-1/uploads`, Buffer.alloc(250)));
    expect(error).not.toBeInstanceOf(StaleTaskError);
    expect(error.message).toBe(
      'the update is 250 bytes, more than the 100 bytes the aggregator accepts for it (its FLOPS_MAX_UPLOAD_BYTES, or the size of the global model)',
    );
  });

  it('a model that is no longer served (410) means the task was superseded; other refusals are failures', async () => {
    const gone = await client(410, 'model r1 is not the current model (r2)', { code: 'model-not-current' });
    expect(await rejectionOf(gone.client.download(`${gone.url}/v1/models/r1`))).toBeInstanceOf(StaleTaskError);

    const broken = await client(500, 'Internal server error');
    const error = await rejectionOf(broken.client.download(`${broken.url}/v1/models/r1`));
    expect(error).not.toBeInstanceOf(StaleTaskError);
    expect(error.message).toContain('500');
  });
});
