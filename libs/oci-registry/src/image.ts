import { BlobPushStatus, RegistryClient } from './client';
import { canonicalJson } from './digest';
import { InvalidReferenceError } from './errors';
import { assertRepository, assertTag, assertTagOrDigest, formatImageReference } from './reference';
import { Descriptor, ImageConfig, Layer, MediaTypes, OciManifest } from './types';
import { unpackLayer } from './unpack';

/** Outcome of pushImage / pushArtifact. */
export interface PushResult {
  /** Manifest digest. */
  digest: string;
  /** Digest-pinned reference, `host:port/repo@sha256:…` (what consumers should pull). */
  reference: string;
  /** `host:port/repo:tag`. */
  tagReference: string;
  manifest: OciManifest;
  /** Blob digests that were uploaded by this push. */
  uploaded: string[];
  /** Blob digests already present in the repository (not uploaded again). */
  skipped: string[];
  /** Blob digests cross-mounted from `mountFrom`. */
  mounted: string[];
}

export interface PushImageSpec {
  /**
   * OCI image config. `rootfs` is filled in from the layers (a given rootfs must match them);
   * `architecture`/`os` default to `amd64`/`linux`. Serialised with sorted keys, so equal
   * configs give equal digests. Leave `created` out for reproducible images.
   */
  config: Partial<ImageConfig>;
  /** Layers in order, bottom first (see packDirectoryLayer). */
  layers: Layer[];
  annotations?: Record<string, string>;
  /** Repository of the same registry to cross-mount missing blobs from (e.g. a base image). */
  mountFrom?: string;
}

export interface BlobToPush {
  data: Uint8Array;
  mediaType: string;
  annotations?: Record<string, string>;
}

/** Pushes blobs sequentially (identical content only once) and tallies what happened. @internal */
export async function pushBlobs(
  client: RegistryClient,
  repo: string,
  blobs: BlobToPush[],
  mountFrom?: string,
): Promise<{ descriptors: Descriptor[]; uploaded: string[]; skipped: string[]; mounted: string[] }> {
  const seen = new Map<string, BlobPushStatus>();
  const tally: Record<BlobPushStatus, string[]> = { uploaded: [], existing: [], mounted: [] };
  const descriptors: Descriptor[] = [];
  for (const b of blobs) {
    const { descriptor, status } = await client.uploadBlob(repo, b.data, {
      mediaType: b.mediaType,
      ...(b.annotations ? { annotations: b.annotations } : {}),
      ...(mountFrom !== undefined ? { mountFrom } : {}),
    });
    if (!seen.has(descriptor.digest)) {
      seen.set(descriptor.digest, status);
      tally[status].push(descriptor.digest);
    }
    descriptors.push(descriptor);
  }
  return { descriptors, uploaded: tally.uploaded, skipped: tally.existing, mounted: tally.mounted };
}

/** Pushes manifest + tallies and builds the PushResult. @internal */
export async function finishPush(
  client: RegistryClient,
  repo: string,
  tag: string,
  manifest: OciManifest,
  tally: { uploaded: string[]; skipped: string[]; mounted: string[] },
): Promise<PushResult> {
  const digest = await client.pushManifest(repo, tag, manifest);
  return {
    digest,
    reference: formatImageReference({ registry: client.registryHost, repository: repo, digest }),
    tagReference: formatImageReference({ registry: client.registryHost, repository: repo, tag }),
    manifest,
    uploaded: tally.uploaded,
    skipped: tally.skipped,
    mounted: tally.mounted,
  };
}

/**
 * Pushes an OCI image (config + layers + manifest) under `repo:tag`. Blobs already in the
 * repository are not uploaded again (see `skipped`). No Docker daemon involved.
 */
export async function pushImage(client: RegistryClient, repo: string, tag: string, spec: PushImageSpec): Promise<PushResult> {
  assertRepository(repo);
  assertTag(tag);
  if (spec.mountFrom !== undefined) assertRepository(spec.mountFrom);
  const diffIds = spec.layers.map((l) => l.diffId);
  const given = spec.config.rootfs?.diff_ids;
  if (given !== undefined && (given.length !== diffIds.length || given.some((d, i) => d !== diffIds[i]))) {
    throw new Error('pushImage: config.rootfs.diff_ids does not match the layers (leave rootfs out to have it filled in)');
  }
  const config: ImageConfig = {
    architecture: 'amd64',
    os: 'linux',
    ...spec.config,
    rootfs: { type: 'layers', diff_ids: diffIds },
  };
  const configBytes = Buffer.from(canonicalJson(config), 'utf8');

  const pushed = await pushBlobs(
    client,
    repo,
    [{ data: configBytes, mediaType: MediaTypes.imageConfig }, ...spec.layers.map((l) => ({ data: l.data, mediaType: l.mediaType }))],
    spec.mountFrom,
  );
  const [configDescriptor, ...layerDescriptors] = pushed.descriptors;
  const manifest: OciManifest = {
    schemaVersion: 2,
    mediaType: MediaTypes.imageManifest,
    config: configDescriptor,
    layers: layerDescriptors,
    ...(spec.annotations && Object.keys(spec.annotations).length > 0 ? { annotations: { ...spec.annotations } } : {}),
  };
  return finishPush(client, repo, tag, manifest, pushed);
}

export interface PulledImage {
  digest: string;
  config: ImageConfig;
  manifest: OciManifest;
}

const CONFIG_MEDIA_TYPES: string[] = [MediaTypes.imageConfig, MediaTypes.dockerConfig];

/**
 * Pulls `repo:ref` (tag or digest) and unpacks its layers in order into `destDir` (created if
 * missing), safely (see unpackLayer). Every blob is digest-verified and every uncompressed layer
 * is checked against the config's rootfs.diff_ids. Layers are downloaded one at a time.
 */
export async function pullImageToDirectory(
  client: RegistryClient,
  repo: string,
  ref: string,
  destDir: string,
): Promise<PulledImage> {
  assertRepository(repo);
  assertTagOrDigest(ref);
  const { manifest, digest } = await client.getManifest(repo, ref);
  if (!CONFIG_MEDIA_TYPES.includes(manifest.config.mediaType)) {
    throw new InvalidReferenceError(
      'reference',
      `${repo}:${ref}`,
      `is not a container image (config media type ${manifest.config.mediaType}${
        manifest.artifactType ? `, artifactType ${manifest.artifactType}` : ''
      }); use pullArtifact`,
    );
  }
  const config = JSON.parse((await client.getBlob(repo, manifest.config)).toString('utf8')) as ImageConfig;
  const diffIds = config.rootfs?.diff_ids;
  if (!Array.isArray(diffIds) || diffIds.length !== manifest.layers.length) {
    throw new Error(
      `Image ${repo}@${digest}: config has ${Array.isArray(diffIds) ? diffIds.length : 'no'} diff_ids for ${manifest.layers.length} layers`,
    );
  }
  for (const [i, layer] of manifest.layers.entries()) {
    const blob = await client.getBlob(repo, layer);
    await unpackLayer(blob, destDir, { mediaType: layer.mediaType, expectedDiffId: diffIds[i] });
  }
  return { digest, config, manifest };
}
