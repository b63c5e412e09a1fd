import {
  BlobPushResult,
  Descriptor,
  ManifestResult,
  MediaTypes,
  OciManifest,
  PushBlobOptions,
  RegistryClient,
  isDigest,
  sha256Digest,
} from '@flops/oci-registry';

/**
 * An OCI registry in memory: tags, manifests and content-addressed blobs per repository. Records
 * which refs it was asked to resolve; `failWith` plays a registry that cannot be reached.
 */
export class InMemoryRegistry extends RegistryClient {
  readonly resolved: { repo: string; ref: string }[] = [];
  /** When set, every call fails with it. */
  failWith?: Error;
  private readonly tags = new Map<string, string>();
  private readonly manifests = new Map<string, { manifest: OciManifest; bytes: Buffer; mediaType: string }>();
  private readonly blobs = new Map<string, Buffer>();

  constructor(readonly registryHost = '127.0.0.1:5000') {
    super();
  }

  /** Stores `manifest` under `repo:tag` as `digest` (any digest a test likes), bypassing the blob checks. */
  put(repo: string, tag: string, digest: string, manifest: OciManifest): void {
    const bytes = Buffer.from(JSON.stringify(manifest));
    this.manifests.set(`${repo}@${digest}`, { manifest: structuredClone(manifest), bytes, mediaType: manifest.mediaType ?? MediaTypes.imageManifest });
    this.tags.set(`${repo}:${tag}`, digest);
  }

  /** Stores `data` as the blob `digest` of `repo` (any digest a test likes). */
  putBlob(repo: string, digest: string, data: Buffer): void {
    this.blobs.set(`${repo}@${digest}`, Buffer.from(data));
  }

  /** Forgets a manifest and every tag pointing at it (someone deleted it behind our back). */
  remove(repo: string, digest: string): void {
    this.manifests.delete(`${repo}@${digest}`);
    for (const [key, value] of this.tags) if (value === digest && key.startsWith(`${repo}:`)) this.tags.delete(key);
  }

  async ping(): Promise<void> {
    this.check();
  }

  async resolveTag(repo: string, ref: string): Promise<string | null> {
    this.resolved.push({ repo, ref });
    this.check();
    if (isDigest(ref)) return this.manifests.has(`${repo}@${ref}`) ? ref : null;
    return this.tags.get(`${repo}:${ref}`) ?? null;
  }

  async hasBlob(repo: string, digest: string): Promise<boolean> {
    this.check();
    return this.blobs.has(`${repo}@${digest}`);
  }

  async uploadBlob(repo: string, data: Uint8Array, opts: PushBlobOptions = {}): Promise<BlobPushResult> {
    this.check();
    const digest = sha256Digest(data);
    const descriptor: Descriptor = {
      mediaType: opts.mediaType ?? MediaTypes.octetStream,
      digest,
      size: data.byteLength,
      ...(opts.annotations && Object.keys(opts.annotations).length > 0 ? { annotations: { ...opts.annotations } } : {}),
    };
    if (this.blobs.has(`${repo}@${digest}`)) return { descriptor, status: 'existing' };
    const mounted = opts.mountFrom !== undefined && opts.mountFrom !== repo && this.blobs.has(`${opts.mountFrom}@${digest}`);
    this.blobs.set(`${repo}@${digest}`, Buffer.from(data));
    return { descriptor, status: mounted ? 'mounted' : 'uploaded' };
  }

  async getBlob(repo: string, digestOrDescriptor: string | Descriptor): Promise<Buffer> {
    this.check();
    const key = `${repo}@${typeof digestOrDescriptor === 'string' ? digestOrDescriptor : digestOrDescriptor.digest}`;
    const blob = this.blobs.get(key);
    if (!blob) throw new Error(`blob unknown: ${key}`);
    return Buffer.from(blob);
  }

  async pushManifest(repo: string, ref: string, manifest: OciManifest): Promise<string> {
    this.check();
    for (const d of [manifest.config, ...manifest.layers]) {
      if (!this.blobs.has(`${repo}@${d.digest}`)) throw new Error(`manifest of ${repo}:${ref} refers to an unknown blob ${d.digest}`);
    }
    const bytes = Buffer.from(JSON.stringify(manifest));
    const digest = sha256Digest(bytes);
    this.manifests.set(`${repo}@${digest}`, { manifest: structuredClone(manifest), bytes, mediaType: manifest.mediaType ?? MediaTypes.imageManifest });
    if (!isDigest(ref)) this.tags.set(`${repo}:${ref}`, digest);
    return digest;
  }

  async getManifestRaw(repo: string, ref: string): Promise<ManifestResult> {
    this.check();
    const digest = isDigest(ref) ? ref : this.tags.get(`${repo}:${ref}`);
    const stored = digest ? this.manifests.get(`${repo}@${digest}`) : undefined;
    if (!digest || !stored) throw new Error(`manifest unknown: ${repo}@${ref}`);
    return { manifest: structuredClone(stored.manifest), digest, mediaType: stored.mediaType, bytes: Buffer.from(stored.bytes) };
  }

  async listTags(repo: string): Promise<string[]> {
    this.check();
    return [...this.tags.keys()].filter((key) => key.startsWith(`${repo}:`)).map((key) => key.slice(repo.length + 1));
  }

  async deleteManifest(repo: string, digest: string): Promise<boolean> {
    this.check();
    const existed = this.manifests.has(`${repo}@${digest}`);
    this.remove(repo, digest);
    return existed;
  }

  private check(): void {
    if (this.failWith) throw this.failWith;
  }
}
