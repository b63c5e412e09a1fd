import { TextDecoder } from 'node:util';
import { TensorCodecError } from './errors';
import { readFloat32LE, writeFloat32LE } from './float32-bytes';
import { elementCount, formatShape, NamedTensor, tensorLayoutOf } from './layout';

/**
 * FLT1: named float32 tensors plus a JSON metadata object, the wire format for model weights.
 *
 *   bytes 0-3   ASCII "FLT1"
 *   bytes 4-7   uint32 LE header length H
 *   bytes 8..   H bytes of UTF-8 JSON header (see TensorHeader)
 *   zero padding up to a multiple of 8
 *   data        each tensor as little-endian float32, in header order, each offset a multiple of 8
 */
export const TENSORS_MEDIA_TYPE = 'application/vnd.flops.tensors.v1';
export const TENSOR_FORMAT_MAGIC = 'FLT1';
export const TENSOR_FORMAT_VERSION = 1;
/** Tensor data (and the data section) start at multiples of this, so aligned inputs decode without copying. */
export const TENSOR_DATA_ALIGNMENT = 8;

const PREAMBLE_BYTES = 8; // magic + header length
const FLOAT32_BYTES = 4;
const MAGIC_BYTES = Buffer.from(TENSOR_FORMAT_MAGIC, 'ascii');
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

export type TensorMeta = Record<string, unknown>;

/** One tensor's description in the header; `offset` is relative to the start of the data section. */
export interface TensorHeaderEntry {
  name: string;
  dtype: 'float32';
  shape: number[];
  offset: number;
  byteLength: number;
}

export interface TensorHeader {
  v: typeof TENSOR_FORMAT_VERSION;
  meta: TensorMeta;
  tensors: TensorHeaderEntry[];
}

export interface TensorHeaderInfo {
  header: TensorHeader;
  /** Absolute byte position of the data section in the input. */
  dataStart: number;
}

export interface DecodedTensors {
  tensors: NamedTensor[];
  meta: TensorMeta;
}

/**
 * Encodes tensors and metadata as FLT1 in a single allocation. The same input always yields the same bytes
 * (`meta` is serialised with JSON.stringify, so keys keep their insertion order and undefined values are dropped).
 */
export function encodeTensors(tensors: readonly NamedTensor[], meta: TensorMeta = {}): Buffer {
  const entries = describeTensors(tensors);
  const headerBytes = Buffer.from(serializeHeader({ v: TENSOR_FORMAT_VERSION, meta, tensors: entries }), 'utf8');
  const dataStart = alignUp(PREAMBLE_BYTES + headerBytes.length);
  const dataLength = entries.length === 0 ? 0 : endOf(entries[entries.length - 1]);

  const out = Buffer.allocUnsafe(dataStart + dataLength);
  out.set(MAGIC_BYTES, 0);
  out.writeUInt32LE(headerBytes.length, 4);
  out.set(headerBytes, PREAMBLE_BYTES);
  // allocUnsafe leaves old memory behind: zero every padding gap so the output is deterministic and leaks nothing.
  let cursor = PREAMBLE_BYTES + headerBytes.length;
  entries.forEach((entry, i) => {
    const start = dataStart + entry.offset;
    out.fill(0, cursor, start);
    writeFloat32LE(out, start, tensors[i].values);
    cursor = start + entry.byteLength;
  });
  out.fill(0, cursor, out.length);
  return out;
}

/**
 * Decodes an FLT1 payload. Tensor values share memory with `bytes` when they can
 * (little-endian platform, 4-byte aligned input) and are copied otherwise.
 */
export function decodeTensors(bytes: Uint8Array): DecodedTensors {
  const { header, dataStart } = readTensorHeader(bytes);
  const tensors = header.tensors.map((entry) => ({
    name: entry.name,
    shape: entry.shape,
    values: readFloat32LE(bytes, dataStart + entry.offset, entry.byteLength / FLOAT32_BYTES),
  }));
  return { tensors, meta: header.meta };
}

/**
 * Reads and fully validates the header (including that every tensor lies within the input and nothing trails it)
 * without touching tensor data.
 */
export function readTensorHeader(bytes: Uint8Array): TensorHeaderInfo {
  if (!(bytes instanceof Uint8Array)) {
    throw new TensorCodecError('FLT1 input must be a Uint8Array or Buffer');
  }
  if (bytes.length < PREAMBLE_BYTES) {
    throw new TensorCodecError(`FLT1 input is ${bytes.length} bytes, shorter than the ${PREAMBLE_BYTES}-byte preamble`);
  }
  if (!MAGIC_BYTES.every((byte, i) => bytes[i] === byte)) {
    const found = Buffer.from(bytes.subarray(0, MAGIC_BYTES.length)).toString('hex');
    throw new TensorCodecError(`not an FLT1 payload: magic bytes are 0x${found}, expected "${TENSOR_FORMAT_MAGIC}"`);
  }
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(4, true);
  const headerEnd = PREAMBLE_BYTES + headerLength;
  if (headerEnd > bytes.length) {
    throw new TensorCodecError(`FLT1 header length ${headerLength} runs past the end of the ${bytes.length}-byte input`);
  }
  const header = parseHeader(parseHeaderJson(bytes.subarray(PREAMBLE_BYTES, headerEnd)));
  const dataStart = alignUp(headerEnd);
  checkDataSection(header.tensors, bytes.length - dataStart);
  return { header, dataStart };
}

function describeTensors(tensors: readonly NamedTensor[]): TensorHeaderEntry[] {
  const layout = tensorLayoutOf(tensors);
  let dataLength = 0;
  return layout.map(({ name, shape }, i) => {
    const { values } = tensors[i];
    if (!(values instanceof Float32Array)) {
      throw new TensorCodecError(`tensor ${JSON.stringify(name)} values must be a Float32Array`);
    }
    const expected = elementCount(shape);
    if (values.length !== expected) {
      throw new TensorCodecError(
        `tensor ${JSON.stringify(name)} has shape ${formatShape(shape)} (${expected} values) but ${values.length} values`,
      );
    }
    const offset = alignUp(dataLength);
    dataLength = offset + values.byteLength;
    return { name, dtype: 'float32', shape: [...shape], offset, byteLength: values.byteLength };
  });
}

function serializeHeader(header: TensorHeader): string {
  if (!isJsonObject(header.meta)) {
    throw new TensorCodecError('tensor meta must be a plain JSON object');
  }
  try {
    return JSON.stringify(header);
  } catch (error) {
    // BigInt values and cycles end up here.
    throw new TensorCodecError(`tensor meta is not JSON-serialisable: ${errorMessage(error)}`);
  }
}

function parseHeaderJson(headerBytes: Uint8Array): unknown {
  let text: string;
  try {
    text = strictUtf8.decode(headerBytes);
  } catch {
    throw new TensorCodecError('FLT1 header is not valid UTF-8');
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new TensorCodecError(`FLT1 header is not valid JSON: ${errorMessage(error)}`);
  }
}

/** Checks the parsed header's structure and returns a clean copy holding only known fields. */
function parseHeader(raw: unknown): TensorHeader {
  if (!isJsonObject(raw)) {
    throw new TensorCodecError('FLT1 header must be a JSON object');
  }
  if (raw.v !== TENSOR_FORMAT_VERSION) {
    throw new TensorCodecError(`unsupported FLT1 header version ${JSON.stringify(raw.v)}; this decoder reads version ${TENSOR_FORMAT_VERSION}`);
  }
  if (!isJsonObject(raw.meta)) {
    throw new TensorCodecError('FLT1 header "meta" must be a JSON object');
  }
  if (!Array.isArray(raw.tensors)) {
    throw new TensorCodecError('FLT1 header "tensors" must be an array');
  }
  const entries = raw.tensors.map(parseEntry);
  tensorLayoutOf(entries); // names non-empty and unique
  return { v: TENSOR_FORMAT_VERSION, meta: raw.meta, tensors: entries };
}

function parseEntry(raw: unknown, index: number): TensorHeaderEntry {
  if (!isJsonObject(raw)) {
    throw new TensorCodecError(`FLT1 header tensor #${index} must be a JSON object`);
  }
  const { name, dtype, shape, offset, byteLength } = raw;
  if (typeof name !== 'string' || name.length === 0) {
    throw new TensorCodecError(`FLT1 header tensor #${index} needs a non-empty string name`);
  }
  const label = `tensor ${JSON.stringify(name)}`;
  if (dtype !== 'float32') {
    throw new TensorCodecError(`${label} has unsupported dtype ${JSON.stringify(dtype)}; only "float32" is supported`);
  }
  if (!Array.isArray(shape) || !shape.every((dim): dim is number => typeof dim === 'number')) {
    throw new TensorCodecError(`${label} needs a shape array of numbers`);
  }
  let count: number;
  try {
    count = elementCount(shape);
  } catch (error) {
    throw new TensorCodecError(`${label}: ${errorMessage(error)}`);
  }
  if (!isNonNegativeInteger(offset) || offset % TENSOR_DATA_ALIGNMENT !== 0) {
    throw new TensorCodecError(`${label} has offset ${JSON.stringify(offset)}; offsets must be non-negative multiples of ${TENSOR_DATA_ALIGNMENT}`);
  }
  if (byteLength !== count * FLOAT32_BYTES) {
    throw new TensorCodecError(`${label} has byteLength ${JSON.stringify(byteLength)} but shape ${formatShape(shape)} needs ${count * FLOAT32_BYTES}`);
  }
  return { name, dtype, shape: [...shape], offset, byteLength };
}

/** Tensors must follow each other in header order without overlapping, and exactly fill the data section. */
function checkDataSection(entries: readonly TensorHeaderEntry[], available: number): void {
  if (available < 0) {
    throw new TensorCodecError('FLT1 input ends inside the padding before the data section');
  }
  let previous: TensorHeaderEntry | undefined;
  for (const entry of entries) {
    const label = `tensor ${JSON.stringify(entry.name)}`;
    if (previous && entry.offset < endOf(previous)) {
      throw new TensorCodecError(
        `${label} at offset ${entry.offset} overlaps tensor ${JSON.stringify(previous.name)}, which ends at ${endOf(previous)}`,
      );
    }
    if (endOf(entry) > available) {
      throw new TensorCodecError(
        `${label} (data bytes ${entry.offset}..${endOf(entry)}) lies outside the ${available}-byte data section`,
      );
    }
    previous = entry;
  }
  const used = previous ? endOf(previous) : 0;
  if (available > used) {
    throw new TensorCodecError(`FLT1 input has ${available - used} unexpected trailing bytes after the tensor data`);
  }
}

function endOf(entry: TensorHeaderEntry): number {
  return entry.offset + entry.byteLength;
}

function alignUp(position: number): number {
  return Math.ceil(position / TENSOR_DATA_ALIGNMENT) * TENSOR_DATA_ALIGNMENT;
}

function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
