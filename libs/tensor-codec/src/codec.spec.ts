import {
  decodeTensors,
  encodeTensors,
  NamedTensor,
  readTensorHeader,
  TENSOR_DATA_ALIGNMENT,
  TensorCodecError,
  TensorMeta,
  TENSORS_MEDIA_TYPE,
} from './index';
import { PLATFORM_IS_LITTLE_ENDIAN } from './float32-bytes';

function tensor(name: string, shape: number[], values: number[] | Float32Array): NamedTensor {
  return { name, shape, values: values instanceof Float32Array ? values : Float32Array.from(values) };
}

function bitsOf(values: Float32Array): number[] {
  return Array.from(new Uint32Array(values.buffer, values.byteOffset, values.length));
}

function roundTrip(tensors: readonly NamedTensor[], meta?: TensorMeta) {
  return decodeTensors(encodeTensors(tensors, meta));
}

function expectSameTensors(actual: readonly NamedTensor[], expected: readonly NamedTensor[]): void {
  expect(actual.map((t) => t.name)).toEqual(expected.map((t) => t.name));
  actual.forEach((t, i) => {
    expect(t.shape).toEqual(expected[i].shape);
    expect(t.values).toBeInstanceOf(Float32Array);
    expectSameBits(t.values, expected[i].values);
  });
}

/** Bit-level equality (so NaN payloads and -0 count); large arrays are compared as raw bytes to stay fast. */
function expectSameBits(actual: Float32Array, expected: Float32Array): void {
  if (expected.length <= 1000) {
    expect(bitsOf(actual)).toEqual(bitsOf(expected));
    return;
  }
  const bytesOf = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  expect(actual.length).toBe(expected.length);
  expect(bytesOf(actual).equals(bytesOf(expected))).toBe(true);
}

/** Copies `bytes` into a fresh ArrayBuffer at the given byte offset, to control alignment. */
function placedAt(bytes: Uint8Array, byteOffset: number): Uint8Array {
  const view = new Uint8Array(new ArrayBuffer(bytes.length + byteOffset), byteOffset, bytes.length);
  view.set(bytes);
  return view;
}

/** Builds an FLT1-looking payload from an arbitrary header, for malformed-input tests. */
function craft(header: unknown, dataLength = 0, options: { headerText?: string } = {}): Buffer {
  const headerBytes = Buffer.from(options.headerText ?? JSON.stringify(header), 'utf8');
  const dataStart = Math.ceil((8 + headerBytes.length) / 8) * 8;
  const out = Buffer.alloc(dataStart + dataLength);
  out.write('FLT1', 0, 'ascii');
  out.writeUInt32LE(headerBytes.length, 4);
  out.set(headerBytes, 8);
  return out;
}

function entry(name: string, shape: number[], offset: number, byteLength = shape.reduce((a, b) => a * b, 1) * 4) {
  return { name, dtype: 'float32', shape, offset, byteLength };
}

function expectCodecError(run: () => unknown, message: RegExp): void {
  let thrown: unknown;
  try {
    run();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(TensorCodecError);
  expect((thrown as Error).name).toBe('TensorCodecError');
  expect((thrown as Error).message).toMatch(message);
}

describe('TENSORS_MEDIA_TYPE', () => {
  it('names the FLT1 v1 format', () => {
    expect(TENSORS_MEDIA_TYPE).toBe('application/vnd.flops.tensors.v1');
  });
});

describe('encodeTensors / decodeTensors round trip', () => {
  it('round-trips an empty tensor list', () => {
    const bytes = encodeTensors([]);
    expect(bytes.length % TENSOR_DATA_ALIGNMENT).toBe(0);
    expect(decodeTensors(bytes)).toEqual({ tensors: [], meta: {} });
  });

  it('round-trips several tensors of awkward sizes', () => {
    const tensors = [
      tensor('dense/kernel', [2, 3], [1, 2, 3, 4, 5, 6]),
      tensor('dense/bias', [3], [0.5, -0.25, 0.125]), // 12 bytes: the next tensor needs padding
      tensor('out/kernel', [3, 1], [7, 8, 9]),
      tensor('out/bias', [1], [-1]),
    ];
    expectSameTensors(roundTrip(tensors).tensors, tensors);
  });

  it('round-trips scalars (shape []) and empty tensors (a zero dimension)', () => {
    const tensors = [
      tensor('scalar', [], [3.5]),
      tensor('empty', [0], []),
      tensor('empty-matrix', [4, 0], []),
      tensor('another-scalar', [], [-2]),
    ];
    expectSameTensors(roundTrip(tensors).tensors, tensors);
  });

  it('round-trips a large tensor (~1M floats)', () => {
    const values = new Float32Array(1 << 20);
    for (let i = 0; i < values.length; i++) values[i] = Math.sin(i) * 1e3;
    const tensors = [tensor('big', [1024, 1024], values), tensor('tail', [3], [1, 2, 3])];
    const bytes = encodeTensors(tensors);
    expect(bytes.length).toBeGreaterThan(values.byteLength);
    expectSameTensors(decodeTensors(bytes).tensors, tensors);
  });

  it('preserves special values bit for bit: NaN payloads, ±Infinity, -0, subnormals, extremes', () => {
    const bits = new Uint32Array([
      0x7fc00000, // canonical NaN
      0x7fc00001, // quiet NaN with payload
      0xffc00000, // negative NaN
      0x7f800001, // signalling NaN
      0x7f800000, // +Infinity
      0xff800000, // -Infinity
      0x80000000, // -0
      0x00000001, // smallest subnormal
      0x7f7fffff, // largest finite float32
    ]);
    const values = new Float32Array(bits.buffer);
    const [decoded] = roundTrip([tensor('special', [bits.length], values)]).tensors;
    expect(bitsOf(decoded.values)).toEqual(Array.from(bits));
  });

  it('round-trips unicode names', () => {
    const tensors = [
      tensor('权重/層', [1], [1]),
      tensor('emoji 🧠→📦', [1], [2]),
      tensor('e\u0301 combining', [1], [3]),
      tensor('quote " and \\ backslash', [1], [4]),
    ];
    expectSameTensors(roundTrip(tensors).tensors, tensors);
  });

  it('round-trips metadata', () => {
    const meta = { round: 7, sampleCount: 1200, learner: 'node-ä', nested: { lr: 0.01, tags: ['a', null, true] } };
    expect(roundTrip([tensor('w', [1], [1])], meta).meta).toEqual(meta);
  });

  it('defaults meta to an empty object', () => {
    expect(roundTrip([tensor('w', [1], [1])]).meta).toEqual({});
  });

  it('decodes a plain Uint8Array, not only a Buffer', () => {
    const tensors = [tensor('w', [2], [1, 2])];
    const bytes = encodeTensors(tensors);
    expectSameTensors(decodeTensors(new Uint8Array(bytes)).tensors, tensors);
  });
});

describe('FLT1 byte layout', () => {
  const tensors = [tensor('a', [3], [1, 2, 3]), tensor('b', [2], [-1.5, 2.5])];
  const bytes = encodeTensors(tensors, { round: 1 });
  const headerLength = bytes.readUInt32LE(4);
  const dataStart = Math.ceil((8 + headerLength) / 8) * 8;

  it('starts with the magic and a little-endian header length', () => {
    expect(bytes.subarray(0, 4).toString('ascii')).toBe('FLT1');
    expect(8 + headerLength).toBeLessThanOrEqual(bytes.length);
  });

  it('carries the documented JSON header', () => {
    const header: unknown = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8'));
    expect(header).toEqual({
      v: 1,
      meta: { round: 1 },
      tensors: [
        { name: 'a', dtype: 'float32', shape: [3], offset: 0, byteLength: 12 },
        { name: 'b', dtype: 'float32', shape: [2], offset: 16, byteLength: 8 },
      ],
    });
  });

  it('zero-pads up to 8-byte boundaries and stores little-endian float32', () => {
    expect(dataStart % 8).toBe(0);
    expect(Array.from(bytes.subarray(8 + headerLength, dataStart)).every((b) => b === 0)).toBe(true);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    expect([0, 4, 8].map((o) => view.getFloat32(dataStart + o, true))).toEqual([1, 2, 3]);
    expect(view.getUint32(dataStart + 12, true)).toBe(0); // padding between a and b
    expect([16, 20].map((o) => view.getFloat32(dataStart + o, true))).toEqual([-1.5, 2.5]);
    expect(bytes.length).toBe(dataStart + 24);
  });

  it('exposes the header through readTensorHeader without decoding data', () => {
    const { header, dataStart: start } = readTensorHeader(bytes);
    expect(start).toBe(dataStart);
    expect(header.meta).toEqual({ round: 1 });
    expect(header.tensors.map((t) => [t.name, t.shape, t.offset, t.byteLength])).toEqual([
      ['a', [3], 0, 12],
      ['b', [2], 16, 8],
    ]);
  });
});

describe('determinism and isolation', () => {
  const tensors = [tensor('a', [3], [1, 2, 3]), tensor('b', [1], [4])];

  it('produces identical bytes for identical input, whatever memory allocUnsafe hands out', () => {
    const first = encodeTensors(tensors, { round: 2 });
    for (let i = 0; i < 50; i++) Buffer.allocUnsafe(64).fill(0xab); // dirty the Buffer pool
    const second = encodeTensors(tensors, { round: 2 });
    expect(second.equals(first)).toBe(true);
  });

  it('copies tensor values, so later changes to the input do not leak into the encoded bytes', () => {
    const values = Float32Array.from([1, 2]);
    const bytes = encodeTensors([tensor('w', [2], values)]);
    values[0] = 99;
    expect(Array.from(decodeTensors(bytes).tensors[0].values)).toEqual([1, 2]);
  });

  it('encodes from Float32Array views that do not start at offset 0', () => {
    const backing = Float32Array.from([9, 9, 1, 2, 3, 9]);
    const view = backing.subarray(2, 5);
    expect(Array.from(roundTrip([tensor('v', [3], view)]).tensors[0].values)).toEqual([1, 2, 3]);
  });
});

describe('decoding misaligned input', () => {
  const tensors = [tensor('a', [3], [1, 2, 3]), tensor('b', [2, 2], [NaN, Infinity, -0, 5])];
  const encoded = encodeTensors(tensors);

  it.each([1, 2, 3, 5, 6, 7])('decodes correctly at byteOffset %i (copying)', (byteOffset) => {
    const bytes = placedAt(encoded, byteOffset);
    const decoded = decodeTensors(bytes).tensors;
    expectSameTensors(decoded, tensors);
    for (const t of decoded) expect(t.values.byteOffset % 4).toBe(0);
  });

  it('decodes a pooled (possibly unaligned) Node Buffer', () => {
    Buffer.allocUnsafe(3); // shift the pool
    const pooled = Buffer.from(encoded);
    expectSameTensors(decodeTensors(pooled).tensors, tensors);
  });

  (PLATFORM_IS_LITTLE_ENDIAN ? it : it.skip)('views the input without copying when it is aligned', () => {
    const bytes = placedAt(encoded, 8);
    const decoded = decodeTensors(bytes).tensors;
    expect(decoded[0].values.buffer).toBe(bytes.buffer);
    bytes[bytes.length - 4] ^= 0xff; // flips the last tensor's last value in place
    expect(decoded[1].values[3]).not.toBe(5);
  });

  it('copies when the input is unaligned', () => {
    const bytes = placedAt(encoded, 1);
    const decoded = decodeTensors(bytes).tensors;
    expect(decoded[0].values.buffer).not.toBe(bytes.buffer);
  });
});

describe('encodeTensors validation', () => {
  it('rejects duplicate names', () => {
    expectCodecError(() => encodeTensors([tensor('w', [1], [1]), tensor('w', [1], [2])]), /"w" is used more than once/);
  });

  it('rejects empty names', () => {
    expectCodecError(() => encodeTensors([tensor('', [1], [1])]), /non-empty string name/);
  });

  it.each([
    [[-1], /invalid dimension -1/],
    [[1.5], /invalid dimension 1\.5/],
    [[NaN], /invalid dimension NaN/],
    [[Infinity], /invalid dimension Infinity/],
  ])('rejects shape %p', (shape, message) => {
    expectCodecError(() => encodeTensors([tensor('w', shape, [])]), message);
  });

  it('rejects values whose length does not match the shape', () => {
    expectCodecError(() => encodeTensors([tensor('w', [2, 2], [1, 2, 3])]), /"w" has shape \[2, 2\] \(4 values\) but 3 values/);
  });

  it('rejects values that are not a Float32Array', () => {
    const bad = { name: 'w', shape: [2], values: [1, 2] } as unknown as NamedTensor;
    expectCodecError(() => encodeTensors([bad]), /must be a Float32Array/);
  });

  it.each([
    ['an array', [] as unknown],
    ['null', null],
    ['a string', 'meta'],
  ])('rejects meta that is %s', (_label, meta) => {
    expectCodecError(() => encodeTensors([], meta as TensorMeta), /meta must be a plain JSON object/);
  });

  it('rejects meta that JSON cannot represent', () => {
    const cyclic: TensorMeta = {};
    cyclic.self = cyclic;
    expectCodecError(() => encodeTensors([], cyclic), /not JSON-serialisable/);
    expectCodecError(() => encodeTensors([], { big: BigInt(1) }), /not JSON-serialisable/);
  });
});

describe('decodeTensors rejects malformed input', () => {
  const valid = encodeTensors([tensor('a', [3], [1, 2, 3]), tensor('b', [2], [4, 5])]);

  it('rejects input that is not a Uint8Array', () => {
    expectCodecError(() => decodeTensors('FLT1' as unknown as Uint8Array), /must be a Uint8Array/);
  });

  it.each([0, 4, 7])('rejects a %i-byte input as too short', (length) => {
    expectCodecError(() => decodeTensors(valid.subarray(0, length)), /shorter than the 8-byte preamble/);
  });

  it('rejects a bad magic', () => {
    const bytes = Buffer.from(valid);
    bytes.write('FLT2', 0, 'ascii');
    expectCodecError(() => decodeTensors(bytes), /not an FLT1 payload: magic bytes are 0x464c5432/);
  });

  it('rejects a header length that runs past the end', () => {
    const bytes = Buffer.from(valid);
    bytes.writeUInt32LE(valid.length, 4);
    expectCodecError(() => decodeTensors(bytes), /header length \d+ runs past the end/);
    bytes.writeUInt32LE(0xffffffff, 4);
    expectCodecError(() => decodeTensors(bytes), /header length 4294967295 runs past the end/);
  });

  it('rejects a header that is not valid UTF-8', () => {
    const bytes = craft(null, 0, { headerText: '{"v":1}' });
    bytes[9] = 0xff;
    expectCodecError(() => decodeTensors(bytes), /not valid UTF-8/);
  });

  it('rejects a header that is not JSON', () => {
    expectCodecError(() => decodeTensors(craft(null, 0, { headerText: '{"v":1,' })), /not valid JSON/);
    expectCodecError(() => decodeTensors(craft(null, 0, { headerText: '' })), /not valid JSON/);
  });

  it.each([[[]], [null], [42], ['text']])('rejects a header that is %p instead of an object', (header) => {
    expectCodecError(() => decodeTensors(craft(header)), /header must be a JSON object/);
  });

  it.each([[2], [0], ['1'], [undefined]])('rejects header version %p', (v) => {
    expectCodecError(() => decodeTensors(craft({ v, meta: {}, tensors: [] })), /unsupported FLT1 header version/);
  });

  it.each([[undefined], [null], [[]], ['x']])('rejects meta %p', (meta) => {
    expectCodecError(() => decodeTensors(craft({ v: 1, meta, tensors: [] })), /"meta" must be a JSON object/);
  });

  it('rejects a missing tensors array', () => {
    expectCodecError(() => decodeTensors(craft({ v: 1, meta: {} })), /"tensors" must be an array/);
  });

  it('rejects a tensor entry that is not an object', () => {
    expectCodecError(() => decodeTensors(craft({ v: 1, meta: {}, tensors: [7] })), /tensor #0 must be a JSON object/);
  });

  it('rejects missing, empty and duplicate tensor names', () => {
    const noName = { dtype: 'float32', shape: [], offset: 0, byteLength: 4 };
    expectCodecError(() => decodeTensors(craft({ v: 1, meta: {}, tensors: [noName] }, 8)), /#0 needs a non-empty string name/);
    expectCodecError(() => decodeTensors(craft({ v: 1, meta: {}, tensors: [entry('', [1], 0)] }, 8)), /non-empty string name/);
    const dup = [entry('w', [1], 0), entry('w', [1], 8)];
    expectCodecError(() => decodeTensors(craft({ v: 1, meta: {}, tensors: dup }, 12)), /"w" is used more than once/);
  });

  it('rejects unknown dtypes', () => {
    const bad = { ...entry('w', [1], 0), dtype: 'float64' };
    expectCodecError(() => decodeTensors(craft({ v: 1, meta: {}, tensors: [bad] }, 8)), /"w" has unsupported dtype "float64"/);
  });

  it.each([
    ['not an array', 3, /needs a shape array of numbers/],
    ['a string dimension', ['2'], /needs a shape array of numbers/],
    ['a negative dimension', [-2], /invalid dimension -2/],
    ['a fractional dimension', [1.5], /invalid dimension 1\.5/],
  ])('rejects a shape that is %s', (_label, shape, message) => {
    const bad = { ...entry('w', [1], 0), shape };
    expectCodecError(() => decodeTensors(craft({ v: 1, meta: {}, tensors: [bad] }, 8)), message);
  });

  it('rejects a byteLength that does not match the shape', () => {
    const bad = entry('w', [2, 2], 0, 12);
    expectCodecError(() => decodeTensors(craft({ v: 1, meta: {}, tensors: [bad] }, 12)), /"w" has byteLength 12 but shape \[2, 2\] needs 16/);
    const missing = { ...entry('w', [1], 0), byteLength: undefined };
    expectCodecError(() => decodeTensors(craft({ v: 1, meta: {}, tensors: [missing] }, 4)), /byteLength undefined/);
  });

  it.each([[-8], [4], [1.5], ['0'], [undefined]])('rejects offset %p', (offset) => {
    const bad = { ...entry('w', [1], 0), offset };
    expectCodecError(() => decodeTensors(craft({ v: 1, meta: {}, tensors: [bad] }, 8)), /offsets must be non-negative multiples of 8/);
  });

  it('rejects overlapping tensors', () => {
    const tensors = [entry('a', [4], 0), entry('b', [2], 8)];
    expectCodecError(() => decodeTensors(craft({ v: 1, meta: {}, tensors }, 16)), /"b" at offset 8 overlaps tensor "a", which ends at 16/);
  });

  it('rejects tensors stored out of header order', () => {
    const tensors = [entry('a', [2], 8), entry('b', [2], 0)];
    expectCodecError(() => decodeTensors(craft({ v: 1, meta: {}, tensors }, 16)), /"b" at offset 0 overlaps tensor "a"/);
  });

  it('rejects a tensor that lies outside the data section (truncated input)', () => {
    expectCodecError(() => decodeTensors(valid.subarray(0, valid.length - 1)), /"b" \(data bytes 16\.\.24\) lies outside the 23-byte data section/);
    const far = [entry('a', [1], 1024)];
    expectCodecError(() => decodeTensors(craft({ v: 1, meta: {}, tensors: far }, 8)), /"a" .* lies outside/);
  });

  it('rejects input that ends inside the padding before the data section', () => {
    const bytes = craft({ v: 1, meta: {}, tensors: [] });
    const headerEnd = 8 + bytes.readUInt32LE(4);
    expect(headerEnd % 8).not.toBe(0); // the fixture must actually have padding to cut
    expectCodecError(() => decodeTensors(bytes.subarray(0, headerEnd)), /ends inside the padding/);
  });

  it('rejects trailing garbage', () => {
    const bytes = Buffer.concat([valid, Buffer.from([0])]);
    expectCodecError(() => decodeTensors(bytes), /1 unexpected trailing bytes/);
    const empty = Buffer.concat([encodeTensors([]), Buffer.alloc(8)]);
    expectCodecError(() => decodeTensors(empty), /8 unexpected trailing bytes/);
  });

  it('applies the same checks in readTensorHeader', () => {
    expectCodecError(() => readTensorHeader(Buffer.concat([valid, Buffer.from([0])])), /trailing bytes/);
  });

  it('accepts the crafted fixture when it is well-formed (sanity check for the helpers above)', () => {
    const tensors = [entry('a', [3], 0), entry('b', [2], 16)];
    const decoded = decodeTensors(craft({ v: 1, meta: { x: 1 }, tensors }, 24));
    expect(decoded.tensors.map((t) => Array.from(t.values))).toEqual([[0, 0, 0], [0, 0]]);
    expect(decoded.meta).toEqual({ x: 1 });
  });
});
