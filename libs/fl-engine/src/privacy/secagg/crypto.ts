import { KeyObject, createCipheriv, createDecipheriv, createHmac, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes } from 'node:crypto';

/** An X25519 key pair; public keys travel as their 32 raw bytes. */
export interface KeyPair {
  privateKey: KeyObject;
  publicKey: Uint8Array;
}

export function generateKeyPair(): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  return { privateKey, publicKey: rawPublicKey(publicKey) };
}

export function rawPublicKey(key: KeyObject): Uint8Array {
  return Buffer.from(key.export({ format: 'jwk' }).x!, 'base64url');
}

/** The 32 raw bytes of a private key: what is secret-shared so that a dropped learner's masks can be removed. */
export function rawPrivateKey(key: KeyObject): Uint8Array {
  return Buffer.from(key.export({ format: 'jwk' }).d!, 'base64url');
}

/** PKCS#8 DER of an X25519 private key is this fixed prefix and the 32 raw bytes (RFC 8410). */
const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

export function privateKeyFromRaw(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new RangeError(`an X25519 private key has 32 bytes, got ${raw.length}`);
  return createPrivateKey({ key: Buffer.concat([PKCS8_X25519_PREFIX, raw]), format: 'der', type: 'pkcs8' });
}

function publicKeyFromRaw(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new RangeError(`an X25519 public key has 32 bytes, got ${raw.length}`);
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
}

/** A 32-byte key for `purpose`, from X25519 key agreement and HKDF-SHA256 bound to the round. */
export function agreeKey(privateKey: KeyObject, peerPublic: Uint8Array, roundId: string, purpose: string): Buffer {
  const shared = diffieHellman({ privateKey, publicKey: publicKeyFromRaw(peerPublic) });
  return Buffer.from(hkdfSync('sha256', shared, Buffer.from(roundId, 'utf8'), Buffer.from(`flops-secagg/${purpose}`, 'utf8'), 32));
}

/** A 32-byte key for `purpose` from a seed (HKDF-SHA256 bound to the round). */
export function seedKey(seed: Uint8Array, roundId: string, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', seed, Buffer.from(roundId, 'utf8'), Buffer.from(`flops-secagg/${purpose}`, 'utf8'), 32));
}

export function randomSeed(): Buffer {
  return randomBytes(32);
}

/** The mask a key expands to: `length` uniform 32-bit words, the AES-256-CTR keystream under the key. */
export function expandMask(key: Uint8Array, length: number): Uint32Array {
  const words = new Uint32Array(length);
  const bytes = new Uint8Array(words.buffer);
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const chunk = 1 << 20;
  for (let start = 0; start < bytes.length; start += chunk) {
    const part = bytes.subarray(start, Math.min(bytes.length, start + chunk));
    part.set(cipher.update(part));
  }
  return words;
}

/** AES-256-GCM with the associated data bound in: a share can only be opened by its addressee, for its sender. */
export function seal(key: Uint8Array, plaintext: Uint8Array, associated: string): { iv: Buffer; ciphertext: Buffer } {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(associated, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  return { iv, ciphertext };
}

export function open(key: Uint8Array, iv: Uint8Array, sealed: Uint8Array, associated: string): Buffer {
  if (sealed.length < 16) throw new Error('ciphertext too short');
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAAD(Buffer.from(associated, 'utf8'));
  decipher.setAuthTag(sealed.subarray(sealed.length - 16));
  return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final()]);
}

/** A public, keyed order of the learners (the masking graph's ring): HMAC-SHA256(graphSeed, id). */
export function ringOrder(ids: readonly string[], graphSeed: string): string[] {
  const rank = (id: string): string => createHmac('sha256', graphSeed).update(id).digest('hex');
  return [...ids].sort((a, b) => rank(a).localeCompare(rank(b)) || a.localeCompare(b));
}
