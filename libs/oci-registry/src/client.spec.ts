import { HttpRegistryClient } from './client';
import { sha256Digest } from './digest';
import { DigestMismatchError, InvalidReferenceError, RegistryError, RegistryUnavailableError } from './errors';

interface Call {
  method: string;
  url: string;
  body?: Buffer;
}

/** A scripted fetch: each handler gets the request and returns a Response. */
function fakeFetch(handler: (call: Call) => Response | Promise<Response>) {
  const calls: Call[] = [];
  const fn = (async (input: string | URL | Request, init?: RequestInit) => {
    const call: Call = {
      method: init?.method ?? 'GET',
      url: String(input),
      ...(init?.body ? { body: Buffer.from(init.body as Uint8Array) } : {}),
    };
    calls.push(call);
    return handler(call);
  }) as typeof fetch;
  return { fn, calls };
}

const data = Buffer.from('hello blob');
const digest = sha256Digest(data);

describe('RegistryClient (scripted fetch)', () => {
  it.each([
    ['relative Location without query', '/v2/r/blobs/uploads/abc', `http://reg.test:5000/v2/r/blobs/uploads/abc?digest=${encodeURIComponent(digest)}`],
    ['relative Location with query', '/v2/r/blobs/uploads/abc?_state=x%3Dy', `http://reg.test:5000/v2/r/blobs/uploads/abc?_state=x%3Dy&digest=${encodeURIComponent(digest)}`],
    ['absolute Location', 'http://other:5000/up/1?a=b', `http://other:5000/up/1?a=b&digest=${encodeURIComponent(digest)}`],
  ])('uploads with POST + PUT (%s)', async (_name, location, expectedPut) => {
    const { fn, calls } = fakeFetch(({ method }) => {
      if (method === 'HEAD') return new Response(null, { status: 404 });
      if (method === 'POST') return new Response(null, { status: 202, headers: { Location: location } });
      return new Response(null, { status: 201, headers: { 'Docker-Content-Digest': digest } });
    });
    const client = new HttpRegistryClient({ url: 'http://reg.test:5000/', fetch: fn });
    const result = await client.uploadBlob('r', data, { mediaType: 'application/x-test' });
    expect(result).toEqual({ status: 'uploaded', descriptor: { mediaType: 'application/x-test', digest, size: data.length } });
    expect(calls.map((c) => `${c.method} ${c.url}`)).toEqual([
      `HEAD http://reg.test:5000/v2/r/blobs/${digest}`,
      'POST http://reg.test:5000/v2/r/blobs/uploads/',
      `PUT ${expectedPut}`,
    ]);
    expect(calls[2].body?.equals(data)).toBe(true);
  });

  it('skips the upload when the blob exists, and reports mounts', async () => {
    const existing = fakeFetch(() => new Response(null, { status: 200 }));
    const c1 = new HttpRegistryClient({ url: 'http://reg.test', fetch: existing.fn });
    expect((await c1.uploadBlob('r', data)).status).toBe('existing');
    expect(existing.calls).toHaveLength(1);

    const mount = fakeFetch(({ method }) => new Response(null, { status: method === 'HEAD' ? 404 : 201 }));
    const c2 = new HttpRegistryClient({ url: 'http://reg.test', fetch: mount.fn });
    expect((await c2.uploadBlob('r', data, { mountFrom: 'base/img' })).status).toBe('mounted');
    expect(mount.calls[1].url).toBe(`http://reg.test/v2/r/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=base%2Fimg`);
  });

  it('turns non-2xx answers into RegistryError with method, URL, status and registry message', async () => {
    const { fn } = fakeFetch(
      () =>
        new Response(JSON.stringify({ errors: [{ code: 'MANIFEST_INVALID', message: 'manifest invalid', detail: { why: 'x' } }] }), {
          status: 400,
          statusText: 'Bad Request',
        }),
    );
    const client = new HttpRegistryClient({ url: 'http://reg.test', fetch: fn });
    const err = await client
      .pushManifest('r', 't', { schemaVersion: 2, config: { mediaType: 'a/b', digest, size: 1 }, layers: [] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    const re = err as RegistryError;
    expect(re.method).toBe('PUT');
    expect(re.url).toBe('http://reg.test/v2/r/manifests/t');
    expect(re.status).toBe(400);
    expect(re.code).toBe('MANIFEST_INVALID');
    expect(re.message).toContain('PUT http://reg.test/v2/r/manifests/t → 400 Bad Request: MANIFEST_INVALID: manifest invalid');
  });

  it('maps network failures and timeouts to RegistryUnavailableError', async () => {
    const refused = new HttpRegistryClient({
      url: 'http://reg.test',
      fetch: (async () => {
        throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
      }),
    });
    await expect(refused.ping()).rejects.toThrow(RegistryUnavailableError);
    await expect(refused.listTags('x')).rejects.toThrow(/ECONNREFUSED/);

    const slow = new HttpRegistryClient({
      url: 'http://reg.test',
      timeoutMs: 50,
      fetch: ((_: unknown, init?: RequestInit) =>
        new Promise((_resolve, reject) => {
          init?.signal?.addEventListener('abort', () => reject(init.signal!.reason));
        })),
    });
    await expect(slow.hasBlob('x', digest)).rejects.toThrow(/timed out after 50 ms/);

    const notRegistry = new HttpRegistryClient({ url: 'http://reg.test', fetch: fakeFetch(() => new Response('nope', { status: 404 })).fn });
    await expect(notRegistry.ping()).rejects.toThrow(RegistryUnavailableError);
  });

  it('verifies blob and manifest digests', async () => {
    const { fn } = fakeFetch(() => new Response('tampered', { status: 200 }));
    const client = new HttpRegistryClient({ url: 'http://reg.test', fetch: fn });
    await expect(client.getBlob('r', digest)).rejects.toThrow(DigestMismatchError);
    await expect(client.getManifest('r', digest)).rejects.toThrow(DigestMismatchError);
  });

  it('validates names before any request', async () => {
    const { fn, calls } = fakeFetch(() => new Response(null, { status: 200 }));
    const client = new HttpRegistryClient({ url: 'http://reg.test', fetch: fn });
    await expect(client.resolveTag('Bad/Name', 'v1')).rejects.toThrow(InvalidReferenceError);
    await expect(client.resolveTag('ok', 'bad/tag')).rejects.toThrow(/Invalid tag/);
    await expect(client.hasBlob('ok', 'sha256:xyz')).rejects.toThrow(/Invalid digest/);
    await expect(client.deleteManifest('ok', 'latest')).rejects.toThrow(/only be deleted by digest/);
    await expect(client.pushBlob('a//b', data)).rejects.toThrow(InvalidReferenceError);
    expect(calls).toHaveLength(0);
    expect(() => new HttpRegistryClient({ url: 'ftp://x' })).toThrow(InvalidReferenceError);
  });

  it('follows tag-list pagination and treats an unknown repository as empty', async () => {
    const { fn } = fakeFetch(({ url }) => {
      if (url.includes('unknown')) return new Response('{"errors":[{"code":"NAME_UNKNOWN","message":"x"}]}', { status: 404 });
      if (url.includes('last=b')) return new Response(JSON.stringify({ name: 'r', tags: ['c'] }));
      return new Response(JSON.stringify({ name: 'r', tags: ['a', 'b'] }), {
        headers: { Link: '</v2/r/tags/list?last=b&n=2>; rel="next"' },
      });
    });
    const client = new HttpRegistryClient({ url: 'http://reg.test', fetch: fn });
    expect(await client.listTags('r')).toEqual(['a', 'b', 'c']);
    expect(await client.listTags('unknown')).toEqual([]);
  });
});
