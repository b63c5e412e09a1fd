import { createHash } from 'node:crypto';
import { DigestMismatchError, InvalidReferenceError } from './errors';

const DIGEST_RE = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

/** `sha256:<hex>` of the given bytes. */
export function sha256Digest(data: Uint8Array): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** True for `sha256:<64 hex>` / `sha512:<128 hex>` (the algorithms registered by the OCI spec). */
export function isDigest(value: string): boolean {
  return DIGEST_RE.test(value);
}

export function assertDigest(value: string): void {
  if (typeof value !== 'string' || !DIGEST_RE.test(value)) {
    throw new InvalidReferenceError('digest', String(value), 'expected sha256:<64 lowercase hex> or sha512:<128 lowercase hex>');
  }
}

/** Digest of `data` with the same algorithm as `like`. */
export function digestLike(data: Uint8Array, like: string): string {
  const algorithm = like.startsWith('sha512:') ? 'sha512' : 'sha256';
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}

/** Throws DigestMismatchError unless `data` hashes to `expected`. */
export function verifyDigest(data: Uint8Array, expected: string, subject: string): void {
  const actual = digestLike(data, expected);
  if (actual !== expected) throw new DigestMismatchError(subject, expected, actual);
}

/** JSON with object keys sorted recursively: stable bytes (and digest) for equal content. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const entries = Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return Object.fromEntries(entries);
    }
    return v;
  });
}
