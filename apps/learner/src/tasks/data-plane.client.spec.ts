import { Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DataPlaneClient, StaleTaskError } from './data-plane.client';

/** An aggregator data plane that answers every request with `status` and a Nest-style error body. */
async function answering(status: number, message: string): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ statusCode: status, message })));
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

  async function client(status: number, message: string): Promise<{ client: DataPlaneClient; url: string }> {
    const { server, url } = await answering(status, message);
    servers.push(server);
    return { client: new DataPlaneClient('learner-0', 5_000), url };
  }

  it.each([
    [410, 'task t-1 is not open'],
    [409, 'learner-0 already answered task t-1'],
  ])('an upload answered %i (%s) is stale, not a failure', async (status, message) => {
    const { client: c, url } = await client(status, message);
    const error = await rejectionOf(c.upload(`${url}/v1/tasks/t-1/uploads`, Buffer.from('update')));
    expect(error).toBeInstanceOf(StaleTaskError);
    expect(error.message).toContain(String(status));
  });

  it.each([
    [409, 'learner-0 was not selected for task t-1'],
    [400, 'the update does not have the layout of the global model'],
    [413, 'upload larger than 100 bytes'],
  ])('an upload answered %i (%s) is a failure', async (status, message) => {
    const { client: c, url } = await client(status, message);
    const error = await rejectionOf(c.upload(`${url}/v1/tasks/t-1/uploads`, Buffer.from('update')));
    expect(error).not.toBeInstanceOf(StaleTaskError);
    expect(error.message).toContain(message);
  });

  it('a model that is no longer served (410) means the task was superseded; other refusals are failures', async () => {
    const gone = await client(410, 'model r1 is not the current model (r2)');
    expect(await rejectionOf(gone.client.download(`${gone.url}/v1/models/r1`))).toBeInstanceOf(StaleTaskError);

    const broken = await client(500, 'Internal server error');
    const error = await rejectionOf(broken.client.download(`${broken.url}/v1/models/r1`));
    expect(error).not.toBeInstanceOf(StaleTaskError);
    expect(error.message).toContain('500');
  });
});
