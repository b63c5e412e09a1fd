/** One entry of the `{"errors":[...]}` body that the distribution API returns with every failure. */
export interface RegistryErrorDetail {
  code: string;
  message: string;
  detail?: unknown;
}

/** The registry answered, but not with a 2xx status. */
export class RegistryError extends Error {
  /** Raw response body (truncated to 4 KiB); empty for HEAD requests. */
  readonly body: string;

  constructor(
    readonly method: string,
    readonly url: string,
    readonly status: number,
    /** Parsed `errors` array of the response body ([] when the body was not the standard JSON). */
    readonly errors: RegistryErrorDetail[],
    body: string,
    statusText = '',
  ) {
    super(`${method} ${url} → ${status}${statusText ? ` ${statusText}` : ''}: ${describe(errors, body)}`);
    this.name = 'RegistryError';
    this.body = body.length > 4096 ? `${body.slice(0, 4096)}…` : body;
  }

  /** First registry error code, e.g. `MANIFEST_UNKNOWN`, `NAME_UNKNOWN`, `DIGEST_INVALID`. */
  get code(): string | undefined {
    return this.errors[0]?.code;
  }
}

/** The registry could not be reached at all (connection refused, DNS, timeout) or is not a registry. */
export class RegistryUnavailableError extends Error {
  constructor(
    readonly url: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`OCI registry unavailable at ${url}: ${reason}`, options);
    this.name = 'RegistryUnavailableError';
  }
}

/** Content did not hash to the digest it was requested by (blob, manifest, or uncompressed layer diffID). */
export class DigestMismatchError extends Error {
  constructor(
    /** What was checked, e.g. `blob sha256:… in flops/x` or `diffID of layer 0`. */
    readonly subject: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`Digest mismatch for ${subject}: expected ${expected}, got ${actual}`);
    this.name = 'DigestMismatchError';
  }
}

/** A layer (or a directory being packed) contains an entry that cannot be materialised safely. */
export class UnsafeLayerError extends Error {
  constructor(
    /** The offending entry path as written in the archive (or relative to the packed directory). */
    readonly entryPath: string,
    readonly reason: string,
  ) {
    super(`Unsafe layer entry ${JSON.stringify(entryPath)}: ${reason}`);
    this.name = 'UnsafeLayerError';
  }
}

/** A repository name, tag, digest, media type or image reference is malformed. Thrown before any request is made. */
export class InvalidReferenceError extends Error {
  constructor(
    readonly kind: 'repository' | 'tag' | 'digest' | 'reference' | 'registry' | 'media type',
    readonly value: string,
    detail: string,
  ) {
    super(`Invalid ${kind} ${JSON.stringify(value)}: ${detail}`);
    this.name = 'InvalidReferenceError';
  }
}

function describe(errors: RegistryErrorDetail[], body: string): string {
  if (errors.length > 0) {
    return errors
      .map((e) => {
        const detail = e.detail === undefined || e.detail === null ? '' : ` (${safeJson(e.detail)})`;
        return `${e.code}: ${e.message}${detail}`;
      })
      .join('; ');
  }
  const text = body.trim();
  if (!text) return 'no error body';
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

function safeJson(v: unknown): string {
  try {
    const s = JSON.stringify(v);
    return s.length > 200 ? `${s.slice(0, 200)}…` : s;
  } catch {
    return String(v);
  }
}

/** Parses the standard `{"errors":[{code,message,detail}]}` error body; returns [] for anything else. */
export function parseRegistryErrors(body: string): RegistryErrorDetail[] {
  if (!body) return [];
  try {
    const parsed: unknown = JSON.parse(body);
    if (!parsed || typeof parsed !== 'object') return [];
    const errors = (parsed as { errors?: unknown }).errors;
    if (!Array.isArray(errors)) return [];
    return errors
      .filter((e): e is Record<string, unknown> => !!e && typeof e === 'object')
      .map((e) => ({
        code: typeof e['code'] === 'string' ? e['code'] : 'UNKNOWN',
        message: typeof e['message'] === 'string' ? e['message'] : '',
        ...(e['detail'] !== undefined ? { detail: e['detail'] } : {}),
      }));
  } catch {
    return [];
  }
}

/** The directory holds more file content than a layer may take (checked before reading it). */
export class LayerTooLargeError extends Error {
  constructor(
    readonly limitBytes: number,
    readonly atPath: string,
  ) {
    super(`the files to pack exceed ${limitBytes} bytes (reached at ${atPath})`);
    this.name = 'LayerTooLargeError';
  }
}
