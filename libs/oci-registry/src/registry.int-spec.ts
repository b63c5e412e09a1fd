/**
 * Integration tests against a real CNCF Distribution registry (tools/infra.sh up, or
 * FLOPS_REGISTRY_URL=http://127.0.0.1:5055 with `docker-registry serve`). Delete must be enabled.
 */
import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import {
  DigestMismatchError,
  EMPTY_DESCRIPTOR,
  InvalidReferenceError,
  MediaTypes,
  RegistryClient,
  RegistryError,
  RegistryUnavailableError,
  packDirectoryLayer,
  parseImageReference,
  pullArtifact,
  pullImageToDirectory,
  pushArtifact,
  pushImage,
  sha256Digest,
} from './index';

// Many round trips per test; a loaded shared machine needs more than Jest's 5 s.
jest.setTimeout(60_000);
const REGISTRY_URL = process.env['FLOPS_REGISTRY_URL'] ?? 'http://127.0.0.1:5000';
const RUN = `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
const repoName = (name: string) => `flops-test/${RUN}/${name}`;

/** A port nothing listens on (bound once by us, then released). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Snapshot of a directory tree: relpath → "file:<mode>:<base64>" | "dir" | "link:<target>". */
async function snapshot(root: string, rel = ''): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(path.join(root, rel))).sort()) {
    const r = rel ? `${rel}/${name}` : name;
    const abs = path.join(root, r);
    const st = await lstat(abs);
    if (st.isDirectory()) {
      out[r] = 'dir';
      Object.assign(out, await snapshot(root, r));
    } else if (st.isSymbolicLink()) {
      out[r] = `link:${await readlink(abs)}`;
    } else {
      out[r] = `file:${st.mode & 0o111 ? 'x' : '-'}:${(await readFile(abs)).toString('base64')}`;
    }
  }
  return out;
}

describe(`OCI registry at ${REGISTRY_URL}`, () => {
  let client: RegistryClient;
  let work: string;
  let repoDir: string;
  const pushed: Array<{ repo: string; digest: string }> = [];

  beforeAll(async () => {
    client = new RegistryClient({ url: REGISTRY_URL, timeoutMs: 10_000 });
    await client.ping(); // fails with RegistryUnavailableError (and the URL) if the registry is not up
    work = await mkdtemp(path.join(tmpdir(), 'oci-int-'));
    repoDir = path.join(work, 'ml-repo');
    await mkdir(path.join(repoDir, 'src', 'nested'), { recursive: true });
    await mkdir(path.join(repoDir, '.git'));
    await writeFile(path.join(repoDir, '.git', 'config'), '[core]\n');
    await writeFile(path.join(repoDir, 'main.py'), 'print("train")\n');
    await writeFile(path.join(repoDir, 'run.sh'), '#!/bin/sh\nexec python main.py\n');
    await chmod(path.join(repoDir, 'run.sh'), 0o755);
    await writeFile(path.join(repoDir, 'src', 'nested', 'weights.bin'), randomBytes(200_000));
    await writeFile(path.join(repoDir, 'src', 'model.py'), 'class Net: pass\n');
    await symlink('src/model.py', path.join(repoDir, 'model-link.py'));
  });

  afterAll(async () => {
    for (const { repo, digest } of pushed) await client.deleteManifest(repo, digest).catch(() => undefined);
    if (work) await rm(work, { recursive: true, force: true });
  });

  describe('images', () => {
    const repo = repoName('learner');
    let first: Awaited<ReturnType<typeof pushImage>>;

    it('pushes an image built from a directory (no Docker daemon)', async () => {
      const layer = await packDirectoryLayer(repoDir);
      first = await pushImage(client, repo, 'v1', {
        config: { config: { Cmd: ['sh', 'run.sh'], WorkingDir: '/', Labels: { 'flops.run': RUN } } },
        layers: [layer],
        annotations: { 'org.opencontainers.image.source': 'test' },
      });
      pushed.push({ repo, digest: first.digest });
      expect(first.uploaded).toHaveLength(2); // config + layer
      expect(first.skipped).toEqual([]);
      expect(first.uploaded).toContain(layer.digest);
      expect(first.reference).toBe(`${client.registryHost}/${repo}@${first.digest}`);
      expect(parseImageReference(first.reference)).toEqual({ registry: client.registryHost, repository: repo, digest: first.digest });
      expect(first.tagReference).toBe(`${client.registryHost}/${repo}:v1`);
      expect(await client.hasBlob(repo, layer.digest)).toBe(true);
    });

    it('resolveTag finds it; unknown tags and repositories resolve to null', async () => {
      expect(await client.resolveTag(repo, 'v1')).toBe(first.digest);
      expect(await client.resolveTag(repo, first.digest)).toBe(first.digest);
      expect(await client.resolveTag(repo, 'no-such-tag')).toBeNull();
      expect(await client.resolveTag(repoName('never-pushed'), 'v1')).toBeNull();
      expect(await client.resolveTag(repo, `sha256:${'0'.repeat(64)}`)).toBeNull();
    });

    it('a second push of the same content uploads no blobs and yields the same digest', async () => {
      const again = await pushImage(client, repo, 'v1-again', {
        config: { config: { Cmd: ['sh', 'run.sh'], WorkingDir: '/', Labels: { 'flops.run': RUN } } },
        layers: [await packDirectoryLayer(repoDir)],
        annotations: { 'org.opencontainers.image.source': 'test' },
      });
      expect(again.uploaded).toEqual([]);
      expect(again.skipped).toHaveLength(2);
      expect(again.digest).toBe(first.digest);
    });

    it('pulls the image into a new directory, reproducing the files byte for byte', async () => {
      const dest = path.join(work, 'pulled-by-tag');
      const pulled = await pullImageToDirectory(client, repo, 'v1', dest);
      expect(pulled.digest).toBe(first.digest);
      expect(pulled.config.config?.Cmd).toEqual(['sh', 'run.sh']);
      expect(pulled.config.rootfs.diff_ids).toHaveLength(1);
      const expected = await snapshot(repoDir);
      delete expected['.git'];
      delete expected['.git/config'];
      expect(await snapshot(dest)).toEqual(expected);

      const byDigest = path.join(work, 'pulled-by-digest');
      await pullImageToDirectory(client, repo, first.digest, byDigest);
      expect(await snapshot(byDigest)).toEqual(expected);
    });

    it('applies several layers in order', async () => {
      const overlay = path.join(work, 'overlay');
      await mkdir(overlay);
      await writeFile(path.join(overlay, 'main.py'), 'print("patched")\n');
      await writeFile(path.join(overlay, 'extra.txt'), 'extra\n');
      const result = await pushImage(client, repo, 'two-layers', {
        config: {},
        layers: [await packDirectoryLayer(repoDir), await packDirectoryLayer(overlay)],
      });
      pushed.push({ repo, digest: result.digest });
      expect(result.uploaded).toHaveLength(2); // new config + overlay layer; base layer skipped
      expect(result.skipped).toHaveLength(1);
      const dest = path.join(work, 'pulled-two');
      await pullImageToDirectory(client, repo, 'two-layers', dest);
      expect(await readFile(path.join(dest, 'main.py'), 'utf8')).toBe('print("patched")\n');
      expect(await readFile(path.join(dest, 'extra.txt'), 'utf8')).toBe('extra\n');
      expect(await readFile(path.join(dest, 'src', 'model.py'), 'utf8')).toBe('class Net: pass\n');
    });

    it('cross-mounts blobs from another repository', async () => {
      const other = repoName('learner-copy');
      const mounted = await pushImage(client, other, 'v1', {
        config: { config: { Cmd: ['sh', 'run.sh'], WorkingDir: '/', Labels: { 'flops.run': RUN } } },
        layers: [await packDirectoryLayer(repoDir)],
        annotations: { 'org.opencontainers.image.source': 'test' },
        mountFrom: repo,
      });
      pushed.push({ repo: other, digest: mounted.digest });
      expect(mounted.uploaded).toEqual([]);
      expect(mounted.mounted).toHaveLength(2);
      expect(mounted.digest).toBe(first.digest);
    });

    it('listTags lists the tags; unknown repository → []', async () => {
      expect((await client.listTags(repo)).sort()).toEqual(['two-layers', 'v1', 'v1-again']);
      expect(await client.listTags(repoName('never-pushed'))).toEqual([]);
    });

    it('deletes manifests by digest', async () => {
      const tmp = await pushImage(client, repo, 'to-delete', { config: { author: 'delete-me' }, layers: [] });
      expect(await client.resolveTag(repo, 'to-delete')).toBe(tmp.digest);
      expect(await client.deleteManifest(repo, tmp.digest)).toBe(true);
      expect(await client.resolveTag(repo, 'to-delete')).toBeNull();
      expect(await client.deleteManifest(repo, tmp.digest)).toBe(false);
    });
  });

  describe('artifacts (trained models)', () => {
    const repo = repoName('models/digits');
    const weights = randomBytes(300_000);
    const meta = Buffer.from(JSON.stringify({ round: 3, accuracy: 0.91 }));

    it('round-trips an artifact with several blobs', async () => {
      const result = await pushArtifact(client, repo, 'round-3', {
        artifactType: 'application/vnd.flops.model.v1',
        blobs: [
          { data: weights, mediaType: 'application/vnd.flops.model.weights.v1', annotations: { 'org.opencontainers.image.title': 'weights.bin' } },
          { data: meta, mediaType: 'application/json' },
        ],
        annotations: { 'flops.round': '3' },
      });
      pushed.push({ repo, digest: result.digest });
      expect(result.uploaded).toHaveLength(3); // empty config + 2 blobs

      const pulled = await pullArtifact(client, repo, 'round-3', { artifactType: 'application/vnd.flops.model.v1' });
      expect(pulled.digest).toBe(result.digest);
      expect(pulled.artifactType).toBe('application/vnd.flops.model.v1');
      expect(pulled.manifest.config).toEqual(EMPTY_DESCRIPTOR);
      expect(pulled.manifest.annotations).toEqual({ 'flops.round': '3' });
      expect(pulled.blobs).toHaveLength(2);
      expect(pulled.blobs[0].equals(weights)).toBe(true);
      expect(pulled.blobs[1].equals(meta)).toBe(true);
      expect(pulled.layers[0].annotations).toEqual({ 'org.opencontainers.image.title': 'weights.bin' });
      expect(pulled.layers[1].mediaType).toBe('application/json');
    });

    it('an artifact without blobs uses the empty descriptor as its layer', async () => {
      const result = await pushArtifact(client, repo, 'marker', { artifactType: 'application/vnd.flops.marker.v1', blobs: [] });
      pushed.push({ repo, digest: result.digest });
      const pulled = await pullArtifact(client, repo, result.digest);
      expect(pulled.manifest.layers).toEqual([EMPTY_DESCRIPTOR]);
      expect(pulled.blobs).toEqual([]);
    });

    it('refuses the wrong artifact type, and refuses to unpack an artifact as an image', async () => {
      await expect(pullArtifact(client, repo, 'round-3', { artifactType: 'application/vnd.other' })).rejects.toThrow(
        /has artifactType application\/vnd.flops.model.v1/,
      );
      await expect(pullImageToDirectory(client, repo, 'round-3', path.join(work, 'nope'))).rejects.toThrow(/not a container image/);
    });
  });

  describe('blobs', () => {
    const repo = repoName('blobs');

    it('pushes once, then skips; getBlob verifies digest and size', async () => {
      const big = randomBytes(8 * 1024 * 1024);
      const first = await client.uploadBlob(repo, big);
      expect(first.status).toBe('uploaded');
      expect(first.descriptor).toEqual({ mediaType: MediaTypes.octetStream, digest: sha256Digest(big), size: big.length });
      expect((await client.uploadBlob(repo, big)).status).toBe('existing');
      expect(await client.pushBlob(repo, big)).toEqual(first.descriptor);
      expect((await client.getBlob(repo, first.descriptor)).equals(big)).toBe(true);

      await expect(client.getBlob(repo, { ...first.descriptor, size: big.length + 1 })).rejects.toThrow(DigestMismatchError);

      // a proxy that flips one byte: the client must notice
      const tampering = new RegistryClient({
        url: REGISTRY_URL,
        fetch: async (input, init) => {
          const res = await fetch(input, init);
          if (!String(input).includes('/blobs/sha256:') || init?.method !== 'GET') return res;
          const body = Buffer.from(await res.arrayBuffer());
          body[0] = body[0] ^ 0xff;
          return new Response(body, { status: res.status, headers: res.headers });
        },
      });
      await expect(tampering.getBlob(repo, first.descriptor.digest)).rejects.toThrow(DigestMismatchError);

      expect(await client.hasBlob(repo, sha256Digest(Buffer.from('never uploaded')))).toBe(false);
    });
  });

  describe('errors', () => {
    const repo = repoName('errors');

    it('rejects invalid names, tags and digests before any request', async () => {
      let requests = 0;
      const counting = new RegistryClient({
        url: REGISTRY_URL,
        fetch: (input, init) => {
          requests++;
          return fetch(input, init);
        },
      });
      await expect(pushImage(counting, 'Flops/Learner', 'v1', { config: {}, layers: [] })).rejects.toThrow(InvalidReferenceError);
      await expect(pushImage(counting, 'flops/learner', 'bad tag', { config: {}, layers: [] })).rejects.toThrow(/Invalid tag/);
      await expect(counting.listTags('flops//x')).rejects.toThrow(/Invalid repository/);
      await expect(counting.getBlob('flops/x', 'md5:abc')).rejects.toThrow(/Invalid digest/);
      await expect(pushArtifact(counting, 'flops/x', 'v1', { artifactType: 'not a media type', blobs: [] })).rejects.toThrow(
        /artifactType/,
      );
      await expect(pullImageToDirectory(counting, 'UPPER', 'v1', path.join(work, 'x'))).rejects.toThrow(InvalidReferenceError);
      expect(requests).toBe(0);
    });

    it('reports registry errors with method, URL, status and the registry message', async () => {
      const err = await client.getManifest(repo, 'missing').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RegistryError);
      expect(err).toMatchObject({ method: 'GET', status: 404 });
      expect((err as RegistryError).url).toBe(`${client.url}/v2/${repo}/manifests/missing`);
      expect((err as RegistryError).message).toMatch(/(MANIFEST|NAME)_UNKNOWN/);

      const missingBlob = await client
        .pushManifest(repo, 'broken', {
          schemaVersion: 2,
          mediaType: MediaTypes.imageManifest,
          config: { mediaType: MediaTypes.imageConfig, digest: sha256Digest(Buffer.from('absent')), size: 6 },
          layers: [],
        })
        .catch((e: unknown) => e);
      expect(missingBlob).toBeInstanceOf(RegistryError);
      expect((missingBlob as RegistryError).status).toBe(400);
      expect((missingBlob as RegistryError).code).toBe('MANIFEST_BLOB_UNKNOWN');
      expect((missingBlob as RegistryError).message).toContain(`PUT ${client.url}/v2/${repo}/manifests/broken → 400`);

      await expect(client.getBlob(repo, sha256Digest(Buffer.from('absent')))).rejects.toMatchObject({ status: 404 });
    });

    it('an unreachable registry gives RegistryUnavailableError naming the URL', async () => {
      const port = await freePort();
      const down = new RegistryClient({ url: `http://127.0.0.1:${port}`, timeoutMs: 3000 });
      const err = await down.ping().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RegistryUnavailableError);
      expect((err as Error).message).toContain(`http://127.0.0.1:${port}/v2/`);
      expect((err as Error).message).toContain('ECONNREFUSED');
      await expect(down.resolveTag('flops/x', 'v1')).rejects.toThrow(RegistryUnavailableError);
      await expect(pullImageToDirectory(down, 'flops/x', 'v1', path.join(work, 'down'))).rejects.toThrow(RegistryUnavailableError);
    });
  });
});
