/**
 * Moves float32 values between typed arrays and little-endian bytes, bit for bit.
 * On little-endian machines (all mainstream ones) this is a plain memory copy or a zero-copy view;
 * elsewhere it goes through DataView. The raw bits are moved as uint32 rather than as numbers,
 * so NaN payloads survive on both paths.
 */

const FLOAT32_BYTES = 4;

export const PLATFORM_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Writes `values` into `target` starting at `byteOffset` as little-endian float32. */
export function writeFloat32LE(
  target: Uint8Array,
  byteOffset: number,
  values: Float32Array,
  platformIsLittleEndian = PLATFORM_IS_LITTLE_ENDIAN,
): void {
  if (platformIsLittleEndian) {
    // Memory order already is wire order: a single memcpy.
    target.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), byteOffset);
    return;
  }
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const view = new DataView(target.buffer, target.byteOffset, target.byteLength);
  for (let i = 0; i < bits.length; i++) {
    view.setUint32(byteOffset + i * FLOAT32_BYTES, bits[i], true);
  }
}

/**
 * Reads `count` little-endian float32 values starting at `byteOffset` of `bytes`.
 * Returns a view sharing memory with `bytes` when the platform is little-endian and the
 * position is 4-byte aligned in the underlying buffer; a copy otherwise.
 */
export function readFloat32LE(
  bytes: Uint8Array,
  byteOffset: number,
  count: number,
  platformIsLittleEndian = PLATFORM_IS_LITTLE_ENDIAN,
): Float32Array {
  const absoluteOffset = bytes.byteOffset + byteOffset;
  if (platformIsLittleEndian && absoluteOffset % FLOAT32_BYTES === 0) {
    return new Float32Array(bytes.buffer, absoluteOffset, count);
  }
  const values = new Float32Array(count);
  if (platformIsLittleEndian) {
    // Unaligned (e.g. a pooled Node Buffer): Float32Array cannot view it, so copy the bytes once.
    new Uint8Array(values.buffer).set(bytes.subarray(byteOffset, byteOffset + count * FLOAT32_BYTES));
    return values;
  }
  const bits = new Uint32Array(values.buffer);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < count; i++) {
    bits[i] = view.getUint32(byteOffset + i * FLOAT32_BYTES, true);
  }
  return values;
}
