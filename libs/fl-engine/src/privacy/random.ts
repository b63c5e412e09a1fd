import { createCipheriv, createHash, randomFillSync } from 'node:crypto';

const TWO_POW_26 = 2 ** 26;
const TWO_POW_53 = 2 ** 53;
const CHUNK_BYTES = 1 << 16;

/**
 * Random numbers for privacy noise and masks. The default draws from the operating system's CSPRNG;
 * a seeded source (AES-256-CTR keystream) makes tests reproducible. Doubles carry 53 random bits.
 * (Floating-point Gaussian sampling has known side channels in theory, Mironov 2012; this uses
 * Box–Muller on 53-bit uniforms, like the common DP libraries.)
 */
export abstract class RandomSource {
  /** Fills `out` with random bytes. */
  abstract fillBytes(out: Uint8Array): void;

  /** Uniform doubles in [0, 1). */
  fillUniform(out: Float64Array): void {
    const words = new Uint32Array(Math.min(out.length, CHUNK_BYTES / 8) * 2);
    const bytes = new Uint8Array(words.buffer);
    for (let start = 0; start < out.length; start += words.length / 2) {
      const count = Math.min(words.length / 2, out.length - start);
      this.fillBytes(bytes.subarray(0, count * 8));
      for (let k = 0; k < count; k++) out[start + k] = ((words[2 * k] >>> 5) * TWO_POW_26 + (words[2 * k + 1] >>> 6)) / TWO_POW_53;
    }
  }

  /** Adds N(0, std²) to every element of `target` (Box–Muller, two normals per pair of uniforms). */
  addGaussian(target: Float64Array | Float32Array, std: number): void {
    if (std === 0) return;
    if (!(std > 0) || !Number.isFinite(std)) throw new RangeError(`noise standard deviation must be finite and >= 0, got ${std}`);
    const uniforms = new Float64Array(Math.min(target.length + (target.length % 2), CHUNK_BYTES / 8));
    for (let start = 0; start < target.length; start += uniforms.length) {
      this.fillUniform(uniforms);
      const count = Math.min(uniforms.length, target.length - start);
      for (let k = 0; k < count; k += 2) {
        const radius = std * Math.sqrt(-2 * Math.log(1 - uniforms[k])); // 1 − u ∈ (0, 1]: log is finite
        const angle = 2 * Math.PI * uniforms[k + 1];
        target[start + k] += radius * Math.cos(angle);
        if (k + 1 < count) target[start + k + 1] += radius * Math.sin(angle);
      }
    }
  }

  /** One N(0, std²) sample. */
  gaussian(std: number): number {
    const one = new Float64Array(1);
    this.addGaussian(one, std);
    return one[0];
  }
}

export class CryptoRandom extends RandomSource {
  fillBytes(out: Uint8Array): void {
    for (let start = 0; start < out.length; start += CHUNK_BYTES) randomFillSync(out, start, Math.min(CHUNK_BYTES, out.length - start));
  }
}

/** A reproducible stream from a seed: the AES-256-CTR keystream under SHA-256(seed). For tests and replays. */
export class SeededRandom extends RandomSource {
  private readonly cipher;

  constructor(seed: string | Uint8Array) {
    super();
    const key = createHash('sha256').update(seed).digest();
    this.cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  }

  fillBytes(out: Uint8Array): void {
    out.fill(0);
    for (let start = 0; start < out.length; start += CHUNK_BYTES) {
      const part = out.subarray(start, Math.min(out.length, start + CHUNK_BYTES));
      part.set(this.cipher.update(part));
    }
  }
}
