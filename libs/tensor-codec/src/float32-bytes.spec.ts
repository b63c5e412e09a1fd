import { endianness } from 'node:os';
import { PLATFORM_IS_LITTLE_ENDIAN, readFloat32LE, writeFloat32LE } from './float32-bytes';

// Both code paths are exercised on whatever machine runs the tests: passing `false` forces the
// portable DataView path, which must produce exactly the bytes the memcpy path does.
const values = new Float32Array(new Uint32Array([0x3f800000, 0xc0490fdb, 0x7fc00001, 0xff800000, 0x80000000, 0x00000001]).buffer);

function expectedLittleEndianBytes(source: Float32Array): number[] {
  const view = new DataView(new ArrayBuffer(source.length * 4));
  const bits = new Uint32Array(source.buffer, source.byteOffset, source.length);
  bits.forEach((b, i) => view.setUint32(i * 4, b, true));
  return Array.from(new Uint8Array(view.buffer));
}

describe('float32 byte conversion', () => {
  it('detects the platform byte order', () => {
    expect(PLATFORM_IS_LITTLE_ENDIAN).toBe(endianness() === 'LE');
  });

  it.each([true, false])('writes little-endian bytes (fast path: %p)', (fast) => {
    const target = new Uint8Array(3 + values.byteLength);
    writeFloat32LE(target, 3, values, fast);
    expect(Array.from(target.subarray(3))).toEqual(expectedLittleEndianBytes(values));
    expect(Array.from(target.subarray(0, 3))).toEqual([0, 0, 0]);
  });

  it.each([
    [true, 0],
    [true, 1],
    [false, 0],
    [false, 3],
  ])('reads back bit-exact values (fast path: %p, misalignment: %i)', (fast, shift) => {
    const encoded = expectedLittleEndianBytes(values);
    const bytes = new Uint8Array(new ArrayBuffer(shift + 8 + encoded.length), shift);
    bytes.set(encoded, 8);
    const decoded = readFloat32LE(bytes, 8, values.length, fast);
    expect(Array.from(new Uint32Array(decoded.buffer, decoded.byteOffset, decoded.length))).toEqual(
      Array.from(new Uint32Array(values.buffer)),
    );
  });

  it('only shares memory with the input on the aligned fast path', () => {
    const bytes = new Uint8Array(16);
    expect(readFloat32LE(bytes, 8, 2, true).buffer).toBe(bytes.buffer);
    expect(readFloat32LE(bytes, 8, 2, false).buffer).not.toBe(bytes.buffer);
    expect(readFloat32LE(bytes.subarray(1), 7, 2, true).buffer).toBe(bytes.buffer); // absolute offset 8: aligned
    expect(readFloat32LE(bytes.subarray(1), 8, 1, true).buffer).not.toBe(bytes.buffer);
  });

  it('handles zero values', () => {
    const target = new Uint8Array(4);
    writeFloat32LE(target, 4, new Float32Array(0), false);
    expect(readFloat32LE(target, 4, 0, false)).toHaveLength(0);
    expect(readFloat32LE(target, 4, 0, true)).toHaveLength(0);
  });
});
