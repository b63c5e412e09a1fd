import { assertDigest, isDigest } from './digest';
import { InvalidReferenceError } from './errors';

/** OCI distribution-spec repository grammar: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/...)*`. */
const REPOSITORY_RE = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?';
const REGISTRY_RE = new RegExp(`^(?:${LABEL}(?:\\.${LABEL})*|\\[[0-9A-Fa-f:.]+\\])(?::[0-9]{1,5})?$`);
/** RFC 6838 media type, as required for OCI mediaType / artifactType. */
const MEDIA_TYPE_RE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;
const MAX_REPOSITORY_LENGTH = 255;

export function isValidRepository(name: string): boolean {
  return typeof name === 'string' && name.length <= MAX_REPOSITORY_LENGTH && REPOSITORY_RE.test(name);
}

export function isValidTag(tag: string): boolean {
  return typeof tag === 'string' && TAG_RE.test(tag);
}

export function assertRepository(name: string): void {
  if (!isValidRepository(name)) {
    throw new InvalidReferenceError(
      'repository',
      String(name),
      typeof name === 'string' && name.length > MAX_REPOSITORY_LENGTH
        ? `longer than ${MAX_REPOSITORY_LENGTH} characters`
        : 'must be lowercase path components matching [a-z0-9]+((.|_|__|-+)[a-z0-9]+)* separated by "/"',
    );
  }
}

export function assertTag(tag: string): void {
  if (!isValidTag(tag)) {
    throw new InvalidReferenceError('tag', String(tag), 'must match [A-Za-z0-9_][A-Za-z0-9._-]{0,127}');
  }
}

/** A manifest reference: a tag or a digest. */
export function assertTagOrDigest(ref: string): void {
  if (typeof ref === 'string' && ref.includes(':')) assertDigest(ref);
  else assertTag(ref);
}

export function assertMediaType(value: string, what = 'media type'): void {
  if (typeof value !== 'string' || !MEDIA_TYPE_RE.test(value)) {
    throw new InvalidReferenceError('media type', String(value), `${what} must look like "type/subtype" (RFC 6838)`);
  }
}

/** Parsed form of `[registry/]repository[:tag][@digest]`. */
export interface ImageReference {
  /** `host[:port]`, absent when the reference has no registry part. */
  registry?: string;
  repository: string;
  tag?: string;
  digest?: string;
}

/**
 * Parses an image reference such as `127.0.0.1:5000/flops/learner-abc:v1`,
 * `127.0.0.1:5000/flops/learner-abc@sha256:…` or `flops/learner:v1@sha256:…`.
 *
 * The first path component is the registry when it contains `.` or `:` or is `localhost`
 * (Docker's rule). No default registry or tag is filled in (tag and digest may both be absent).
 */
export function parseImageReference(ref: string): ImageReference {
  if (typeof ref !== 'string' || ref.length === 0) {
    throw new InvalidReferenceError('reference', String(ref), 'empty');
  }
  if (/\s/.test(ref)) throw new InvalidReferenceError('reference', ref, 'contains whitespace');
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(ref)) {
    throw new InvalidReferenceError('reference', ref, 'must not include a URL scheme (use host:port/repository:tag)');
  }

  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isDigest(digest)) throw new InvalidReferenceError('reference', ref, `invalid digest "${digest}"`);
  }

  let registry: string | undefined;
  const slash = rest.indexOf('/');
  if (slash > 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase()) {
      if (!REGISTRY_RE.test(first)) throw new InvalidReferenceError('reference', ref, `invalid registry "${first}"`);
      registry = first;
      rest = rest.slice(slash + 1);
    }
  }

  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!isValidTag(tag)) throw new InvalidReferenceError('reference', ref, `invalid tag "${tag}"`);
  }

  if (!isValidRepository(rest)) {
    throw new InvalidReferenceError('reference', ref, `invalid repository "${rest}" (lowercase [a-z0-9._-/] components)`);
  }
  return {
    ...(registry !== undefined ? { registry } : {}),
    repository: rest,
    ...(tag !== undefined ? { tag } : {}),
    ...(digest !== undefined ? { digest } : {}),
  };
}

/** Inverse of parseImageReference: `[registry/]repository[:tag][@digest]`, validating every part. */
export function formatImageReference(ref: ImageReference): string {
  const { registry, repository, tag, digest } = ref;
  if (registry !== undefined && !REGISTRY_RE.test(registry)) {
    throw new InvalidReferenceError('registry', registry, 'expected host[:port] without scheme');
  }
  assertRepository(repository);
  if (tag !== undefined) assertTag(tag);
  if (digest !== undefined) assertDigest(digest);
  return `${registry !== undefined ? `${registry}/` : ''}${repository}${tag !== undefined ? `:${tag}` : ''}${
    digest !== undefined ? `@${digest}` : ''
  }`;
}
