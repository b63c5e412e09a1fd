import { assertDigest, digestLike, isDigest, sha256Digest, verifyDigest } from './digest';
import {
  DigestMismatchError,
  InvalidReferenceError,
  RegistryError,
  RegistryUnavailableError,
  parseRegistryErrors,
} from './errors';
import { assertMediaType, assertRepository, assertTagOrDigest } from './reference';
import { Descriptor, MediaTypes, OciManifest } from './types';

export interface RegistryClientOptions {
  /** Base URL of the registry, e.g. `http://127.0.0.1:5000` (a path prefix is allowed). */
  url: string;
  /** Timeout of every metadata request (ping, HEAD, manifests, tags, upload sessions). Default 30 s. */
  timeoutMs?: number;
  /** Timeout of a single blob transfer (GET / PUT of the blob body). Default 10 min. */
  blobTimeoutMs?: number;
  /** fetch implementation (defaults to the global one); for tests. */
  fetch?: typeof fetch;
}

/** How a blob came to be present in the target repository. */
export type BlobPushStatus = 'uploaded' | 'existing' | 'mounted';

export interface BlobPushResult {
  descriptor: Descriptor;
  status: BlobPushStatus;
}

export interface PushBlobOptions {
  mediaType?: string;
  annotations?: Record<string, string>;
  /** Try a cross-repository mount from this repository (same registry) before uploading. */
  mountFrom?: string;
}

export interface ManifestResult {
  manifest: OciManifest;
  digest: string;
  /** Content-Type the registry served the manifest with. */
  mediaType: string;
  /** Exact manifest bytes (what the digest is computed over). */
  bytes: Buffer;
}

/** Media types sent as Accept for manifests (so HEAD reports the true digest of any image kind). */
const MANIFEST_ACCEPT = [
  MediaTypes.imageManifest,
  MediaTypes.imageIndex,
  MediaTypes.dockerManifest,
  MediaTypes.dockerManifestList,
].join(', ');

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_BLOB_TIMEOUT_MS = 600_000;

interface RequestOptions {
  headers?: Record<string, string>;
  body?: Uint8Array;
  /** Non-2xx statuses that are returned instead of thrown (e.g. 404 for "absent"). */
  allow?: number[];
  timeoutMs?: number;
}

/**
 * What FLOps does with an OCI registry (a port: services and the image/artifact helpers depend on
 * this; HttpRegistryClient speaks the distribution API behind it).
 */
export abstract class RegistryClient {
  /** `host[:port]` of the registry, as used in image references. */
  abstract readonly registryHost: string;
  /** Checks that the registry is reachable and speaks the v2 API. */
  abstract ping(): Promise<void>;
  /** Digest of the manifest `ref` (tag or digest) points to, or null when it does not exist. */
  abstract resolveTag(repo: string, ref: string): Promise<string | null>;
  abstract hasBlob(repo: string, digest: string): Promise<boolean>;
  /** Pushes a blob unless present, reporting whether it was uploaded, already there, or cross-mounted. */
  abstract uploadBlob(repo: string, data: Uint8Array, opts?: PushBlobOptions): Promise<BlobPushResult>;
  /** Downloads a blob verified against its digest (and its size, given a descriptor). */
  abstract getBlob(repo: string, digestOrDescriptor: string | Descriptor): Promise<Buffer>;
  /** Uploads a manifest under a tag (or by digest) and returns its digest. Referenced blobs must exist. */
  abstract pushManifest(repo: string, ref: string, manifest: OciManifest): Promise<string>;
  /** An image manifest by tag or digest, with its digest, media type and exact bytes. Indexes are rejected. */
  abstract getManifestRaw(repo: string, ref: string): Promise<ManifestResult>;
  /** Tags of a repository; [] when the repository does not exist. */
  abstract listTags(repo: string): Promise<string[]>;
  /** Deletes a manifest by digest; false if it did not exist. */
  abstract deleteManifest(repo: string, digest: string): Promise<boolean>;

  /** Pushes a blob (skipping the upload if the repository already has it) and returns its descriptor. */
  async pushBlob(repo: string, data: Uint8Array, mediaType: string = MediaTypes.octetStream): Promise<Descriptor> {
    return (await this.uploadBlob(repo, data, { mediaType })).descriptor;
  }

  async getManifest(repo: string, ref: string): Promise<{ manifest: OciManifest; digest: string }> {
    const result = await this.getManifestRaw(repo, ref);
    return { manifest: result.manifest, digest: result.digest };
  }
}

/**
 * Minimal client for an OCI distribution (v2) registry over plain HTTP without auth,
 * e.g. CNCF Distribution (`registry:2`).
 *
 * Every method validates repository names / tags / digests before any request, fails with
 * RegistryUnavailableError when the registry cannot be reached (or times out), and with
 * RegistryError (method, URL, status, registry error codes) on any unexpected non-2xx answer.
 */
export class HttpRegistryClient extends RegistryClient {
  /** Normalised base URL without trailing slash. */
  readonly url: string;
  readonly registryHost: string;
  readonly timeoutMs: number;
  readonly blobTimeoutMs: number;
  private readonly fetchImpl: typeof fetch;

  constructor(opts: RegistryClientOptions) {
    super();
    let parsed: URL;
    try {
      parsed = new URL(opts.url);
    } catch {
      throw new InvalidReferenceError('registry', String(opts.url), 'expected an http(s) URL such as http://127.0.0.1:5000');
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new InvalidReferenceError('registry', opts.url, 'only http:// and https:// URLs are supported');
    }
    this.url = `${parsed.origin}${parsed.pathname.replace(/\/+$/, '')}`;
    this.registryHost = parsed.host;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.blobTimeoutMs = opts.blobTimeoutMs ?? DEFAULT_BLOB_TIMEOUT_MS;
    this.fetchImpl = opts.fetch ?? ((input, init) => fetch(input, init));
  }

  /** Checks that the registry speaks the v2 API (`GET /v2/` → 200). */
  async ping(): Promise<void> {
    const url = `${this.url}/v2/`;
    try {
      const res = await this.request('GET', url);
      await discard(res);
    } catch (err) {
      if (err instanceof RegistryError) {
        throw new RegistryUnavailableError(
          url,
          err.status === 401
            ? 'registry requires authentication (not supported by this client)'
            : `GET /v2/ answered ${err.status}; is this an OCI distribution registry?`,
          { cause: err },
        );
      }
      throw err;
    }
  }

  /** Digest of the manifest `ref` (tag or digest) points to, or null when it does not exist. */
  async resolveTag(repo: string, ref: string): Promise<string | null> {
    assertRepository(repo);
    assertTagOrDigest(ref);
    const res = await this.request('HEAD', this.manifestUrl(repo, ref), {
      headers: { Accept: MANIFEST_ACCEPT },
      allow: [404],
    });
    await discard(res);
    if (res.status === 404) return null;
    const header = res.headers.get('docker-content-digest');
    if (header && isDigest(header)) return header;
    return (await this.getManifestRaw(repo, ref)).digest;
  }

  async hasBlob(repo: string, digest: string): Promise<boolean> {
    assertRepository(repo);
    assertDigest(digest);
    const res = await this.request('HEAD', this.blobUrl(repo, digest), { allow: [404] });
    await discard(res);
    return res.status !== 404;
  }

  /**
   * Like pushBlob, but reports whether the bytes were uploaded, already present, or cross-mounted.
   * Upload protocol: `POST /v2/<repo>/blobs/uploads/` → 202 + Location, then `PUT <location>?digest=`.
   */
  async uploadBlob(repo: string, data: Uint8Array, opts: PushBlobOptions = {}): Promise<BlobPushResult> {
    assertRepository(repo);
    const mediaType = opts.mediaType ?? MediaTypes.octetStream;
    assertMediaType(mediaType);
    if (opts.mountFrom !== undefined) assertRepository(opts.mountFrom);
    const digest = sha256Digest(data);
    const descriptor: Descriptor = {
      mediaType,
      digest,
      size: data.byteLength,
      ...(opts.annotations && Object.keys(opts.annotations).length > 0 ? { annotations: { ...opts.annotations } } : {}),
    };

    if (await this.hasBlob(repo, digest)) return { descriptor, status: 'existing' };

    const uploadsUrl = `${this.url}/v2/${repo}/blobs/uploads/`;
    let startUrl = uploadsUrl;
    if (opts.mountFrom !== undefined && opts.mountFrom !== repo) {
      startUrl += `?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(opts.mountFrom)}`;
    }
    const start = await this.request('POST', startUrl, { headers: { 'Content-Length': '0' } });
    await discard(start);
    if (start.status === 201) return { descriptor, status: 'mounted' };

    const location = start.headers.get('location');
    if (!location) {
      throw new RegistryError('POST', startUrl, start.status, [], 'upload session started without a Location header');
    }
    const sessionUrl = new URL(location, `${this.url}/`).toString();
    const putUrl = `${sessionUrl}${sessionUrl.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`;
    let done: Response;
    try {
      done = await this.request('PUT', putUrl, {
        headers: { 'Content-Type': 'application/octet-stream' },
        body: data,
        timeoutMs: this.blobTimeoutMs,
      });
    } catch (err) {
      // best effort: cancel the dangling upload session
      await this.fetchImpl(sessionUrl, { method: 'DELETE', signal: AbortSignal.timeout(this.timeoutMs) })
        .then(discard)
        .catch(() => undefined);
      throw err;
    }
    await discard(done);
    const stored = done.headers.get('docker-content-digest');
    if (stored && isDigest(stored) && stored !== digest) {
      throw new DigestMismatchError(`blob uploaded to ${repo}`, digest, stored);
    }
    return { descriptor, status: 'uploaded' };
  }

  /**
   * Downloads a blob and verifies it hashes to `digest` (DigestMismatchError otherwise).
   * Passing a descriptor also verifies its size.
   */
  async getBlob(repo: string, digestOrDescriptor: string | Descriptor): Promise<Buffer> {
    assertRepository(repo);
    const digest = typeof digestOrDescriptor === 'string' ? digestOrDescriptor : digestOrDescriptor.digest;
    assertDigest(digest);
    const url = this.blobUrl(repo, digest);
    const res = await this.request('GET', url, { timeoutMs: this.blobTimeoutMs });
    const data = await readBuffer(res, 'GET', url, this.blobTimeoutMs);
    if (typeof digestOrDescriptor !== 'string' && data.byteLength !== digestOrDescriptor.size) {
      throw new DigestMismatchError(
        `size of blob ${digest} in ${repo}`,
        String(digestOrDescriptor.size),
        String(data.byteLength),
      );
    }
    verifyDigest(data, digest, `blob ${digest} in ${repo}`);
    return data;
  }

  /** Uploads a manifest under a tag (or by digest) and returns its digest. Referenced blobs must exist. */
  async pushManifest(repo: string, ref: string, manifest: OciManifest): Promise<string> {
    assertRepository(repo);
    assertTagOrDigest(ref);
    const mediaType = manifest.mediaType ?? MediaTypes.imageManifest;
    assertMediaType(mediaType);
    const bytes = Buffer.from(JSON.stringify(manifest), 'utf8');
    const digest = sha256Digest(bytes);
    if (isDigest(ref) && digestLike(bytes, ref) !== ref) {
      throw new DigestMismatchError(`manifest pushed to ${repo}@${ref}`, ref, digestLike(bytes, ref));
    }
    const url = this.manifestUrl(repo, ref);
    const res = await this.request('PUT', url, { headers: { 'Content-Type': mediaType }, body: bytes });
    await discard(res);
    const stored = res.headers.get('docker-content-digest');
    if (stored && stored.startsWith('sha256:') && stored !== digest) {
      throw new DigestMismatchError(`manifest pushed to ${repo}:${ref}`, digest, stored);
    }
    return digest;
  }

  /**
   * The digest is computed from the received bytes (and checked against the requested digest /
   * Docker-Content-Digest).
   */
  async getManifestRaw(repo: string, ref: string): Promise<ManifestResult> {
    assertRepository(repo);
    assertTagOrDigest(ref);
    const url = this.manifestUrl(repo, ref);
    const res = await this.request('GET', url, { headers: { Accept: MANIFEST_ACCEPT } });
    const bytes = await readBuffer(res, 'GET', url, this.timeoutMs);
    const digest = sha256Digest(bytes);
    if (isDigest(ref)) verifyDigest(bytes, ref, `manifest ${repo}@${ref}`);
    const header = res.headers.get('docker-content-digest');
    if (header && header.startsWith('sha256:') && header !== digest) {
      throw new DigestMismatchError(`manifest ${repo}:${ref} (Docker-Content-Digest)`, header, digest);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(bytes.toString('utf8'));
    } catch {
      throw new RegistryError('GET', url, res.status, [], `manifest is not valid JSON: ${bytes.toString('utf8', 0, 200)}`);
    }
    const contentType = (res.headers.get('content-type') ?? '').split(';')[0].trim();
    const mediaType =
      (parsed && typeof parsed === 'object' && typeof (parsed as { mediaType?: unknown }).mediaType === 'string'
        ? (parsed as { mediaType: string }).mediaType
        : '') || contentType;
    if (mediaType === MediaTypes.imageIndex || mediaType === MediaTypes.dockerManifestList) {
      throw new RegistryError('GET', url, res.status, [], `${repo}:${ref} is an image index (${mediaType}); only image manifests are supported`);
    }
    const m = parsed as Partial<OciManifest>;
    if (!m || m.schemaVersion !== 2 || !m.config || !Array.isArray(m.layers)) {
      throw new RegistryError('GET', url, res.status, [], `unsupported manifest (media type "${mediaType}")`);
    }
    return { manifest: m as OciManifest, digest, mediaType, bytes };
  }

  /** Tags of a repository (all pages); [] when the repository does not exist. */
  async listTags(repo: string): Promise<string[]> {
    assertRepository(repo);
    const tags: string[] = [];
    let url: string | null = `${this.url}/v2/${repo}/tags/list`;
    for (let page = 0; url && page < 1000; page++) {
      const res = await this.request('GET', url, { allow: [404] });
      if (res.status === 404) {
        await discard(res);
        return [];
      }
      const body = (await readJson(res, 'GET', url, this.timeoutMs)) as { tags?: string[] | null };
      tags.push(...(body.tags ?? []));
      url = nextLink(res.headers.get('link'), url);
    }
    return tags;
  }

  /**
   * Deletes a manifest by digest (the registry does not delete by tag; resolve the tag first).
   * Returns false if it did not exist. Requires `storage.delete.enabled` on the registry.
   */
  async deleteManifest(repo: string, digest: string): Promise<boolean> {
    assertRepository(repo);
    if (typeof digest === 'string' && !digest.includes(':')) {
      throw new InvalidReferenceError('digest', digest, 'manifests can only be deleted by digest; use resolveTag() first');
    }
    assertDigest(digest);
    const res = await this.request('DELETE', this.manifestUrl(repo, digest), { allow: [404] });
    await discard(res);
    return res.status !== 404;
  }

  private manifestUrl(repo: string, ref: string): string {
    return `${this.url}/v2/${repo}/manifests/${ref}`;
  }

  private blobUrl(repo: string, digest: string): string {
    return `${this.url}/v2/${repo}/blobs/${digest}`;
  }

  private async request(method: string, url: string, opts: RequestOptions = {}): Promise<Response> {
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    let res: Response;
    try {
      res = await this.fetchImpl(url, {
        method,
        headers: opts.headers,
        body: opts.body,
        redirect: 'follow',
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      throw unavailable(err, method, url, timeoutMs);
    }
    if (res.ok || opts.allow?.includes(res.status)) return res;
    let body = '';
    if (method !== 'HEAD') {
      try {
        body = await res.text();
      } catch {
        body = '';
      }
    }
    throw new RegistryError(method, url, res.status, parseRegistryErrors(body), body, res.statusText);
  }
}

function unavailable(err: unknown, method: string, url: string, timeoutMs: number): RegistryUnavailableError {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') {
    return new RegistryUnavailableError(url, `${method} timed out after ${timeoutMs} ms`, { cause: err });
  }
  const detail = e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err);
  return new RegistryUnavailableError(url, `${method} failed: ${detail}`, { cause: err });
}

async function discard(res: Response): Promise<void> {
  try {
    await res.body?.cancel();
  } catch {
    /* ignore */
  }
}

async function readBuffer(res: Response, method: string, url: string, timeoutMs: number): Promise<Buffer> {
  try {
    return Buffer.from(await res.arrayBuffer());
  } catch (err) {
    throw unavailable(err, `${method} (reading body)`, url, timeoutMs);
  }
}

async function readJson(res: Response, method: string, url: string, timeoutMs: number): Promise<unknown> {
  const buf = await readBuffer(res, method, url, timeoutMs);
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch {
    throw new RegistryError(method, url, res.status, [], `expected JSON, got: ${buf.toString('utf8', 0, 200)}`);
  }
}

/** Follows an RFC 5988 `Link: <url>; rel="next"` header (tag-list pagination). */
function nextLink(header: string | null, current: string): string | null {
  if (!header) return null;
  const m = /<([^>]+)>\s*;\s*rel="?next"?/.exec(header);
  return m ? new URL(m[1], current).toString() : null;
}
