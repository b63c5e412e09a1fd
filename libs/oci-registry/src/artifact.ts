import { RegistryClient } from './client';
import { InvalidReferenceError } from './errors';
import { BlobToPush, PushResult, finishPush, pushBlobs } from './image';
import { assertMediaType, assertRepository, assertTag, assertTagOrDigest } from './reference';
import { Descriptor, EMPTY_DESCRIPTOR, EMPTY_JSON, MediaTypes, OciManifest } from './types';

export interface PushArtifactSpec {
  /** e.g. `application/vnd.flops.model.v1` */
  artifactType: string;
  /** Payload blobs in order; an `org.opencontainers.image.title` annotation names a file by convention. */
  blobs: BlobToPush[];
  /** Manifest annotations (e.g. round, metrics). */
  annotations?: Record<string, string>;
  /** Manifest this artifact refers to (OCI 1.1 referrers), e.g. the learner image it was trained with. */
  subject?: Descriptor;
}

/**
 * Stores an OCI artifact under `repo:tag`: an image manifest with `artifactType`, the empty config
 * (`application/vnd.oci.empty.v1+json`, `{}`) and the blobs as layers. With no blobs, the empty
 * descriptor is used as the single layer (as the image spec recommends).
 */
export async function pushArtifact(
  client: RegistryClient,
  repo: string,
  tag: string,
  spec: PushArtifactSpec,
): Promise<PushResult> {
  assertRepository(repo);
  assertTag(tag);
  assertMediaType(spec.artifactType, 'artifactType');
  for (const b of spec.blobs) assertMediaType(b.mediaType, 'blob mediaType');

  const pushed = await pushBlobs(client, repo, [{ data: EMPTY_JSON, mediaType: MediaTypes.empty }, ...spec.blobs]);
  const layers = pushed.descriptors.slice(1);
  const manifest: OciManifest = {
    schemaVersion: 2,
    mediaType: MediaTypes.imageManifest,
    artifactType: spec.artifactType,
    config: { ...EMPTY_DESCRIPTOR },
    layers: layers.length > 0 ? layers : [{ ...EMPTY_DESCRIPTOR }],
    ...(spec.subject ? { subject: spec.subject } : {}),
    ...(spec.annotations && Object.keys(spec.annotations).length > 0 ? { annotations: { ...spec.annotations } } : {}),
  };
  return finishPush(client, repo, tag, manifest, pushed);
}

export interface PulledArtifact {
  digest: string;
  manifest: OciManifest;
  /** `artifactType`, or the config media type for artifacts that predate the field. */
  artifactType: string;
  /** Payload descriptors (manifest layers minus an empty-descriptor placeholder); aligned with `blobs`. */
  layers: Descriptor[];
  /** Payload bytes, digest-verified, in manifest order. */
  blobs: Buffer[];
}

/**
 * Pulls an artifact by tag or digest and downloads its blobs (each digest-verified).
 * If `opts.artifactType` is given, a manifest of another type is refused before any blob download.
 */
export async function pullArtifact(
  client: RegistryClient,
  repo: string,
  ref: string,
  opts: { artifactType?: string } = {},
): Promise<PulledArtifact> {
  assertRepository(repo);
  assertTagOrDigest(ref);
  const { manifest, digest } = await client.getManifest(repo, ref);
  const artifactType = manifest.artifactType ?? manifest.config.mediaType;
  if (opts.artifactType !== undefined && artifactType !== opts.artifactType) {
    throw new InvalidReferenceError(
      'reference',
      `${repo}:${ref}`,
      `has artifactType ${artifactType}, expected ${opts.artifactType}`,
    );
  }
  const layers = manifest.layers.filter((l) => !(l.mediaType === MediaTypes.empty && l.digest === EMPTY_DESCRIPTOR.digest));
  const blobs: Buffer[] = [];
  for (const l of layers) blobs.push(await client.getBlob(repo, l));
  return { digest, manifest, artifactType, layers, blobs };
}
