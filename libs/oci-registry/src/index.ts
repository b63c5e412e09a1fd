/**
 * @flops/oci-registry — plain TypeScript client for an OCI distribution (v2) registry
 * (CNCF Distribution, plain HTTP, no auth), plus daemon-less image building blocks:
 * reproducible directory layers, safe layer unpacking, image and artifact push/pull.
 */
export {
  RegistryClient,
  HttpRegistryClient,
  type RegistryClientOptions,
  type BlobPushResult,
  type BlobPushStatus,
  type PushBlobOptions,
  type ManifestResult,
} from './client';
export { pushImage, pullImageToDirectory, type PushImageSpec, type PushResult, type PulledImage, type BlobToPush } from './image';
export { pushArtifact, pullArtifact, type PushArtifactSpec, type PulledArtifact } from './artifact';
export { packDirectoryLayer, type PackOptions, type PackEntryType } from './pack';
export { unpackLayer, type UnpackLayerOptions } from './unpack';
export {
  parseImageReference,
  formatImageReference,
  isValidRepository,
  isValidTag,
  assertRepository,
  assertTag,
  type ImageReference,
} from './reference';
export { sha256Digest, isDigest, canonicalJson } from './digest';
export {
  RegistryError,
  RegistryUnavailableError,
  DigestMismatchError,
  UnsafeLayerError,
  InvalidReferenceError,
  LayerTooLargeError,
  type RegistryErrorDetail,
} from './errors';
export {
  MediaTypes,
  EMPTY_DESCRIPTOR,
  EMPTY_JSON,
  type Descriptor,
  type OciManifest,
  type ImageConfig,
  type Layer,
} from './types';
