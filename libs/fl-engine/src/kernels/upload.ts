import type { KernelBuffer } from './fold-kernel';

/** An upload larger than the buffer reserved for it. */
export class UploadTooLargeError extends Error {
  override name = 'UploadTooLargeError';
  constructor(readonly limit: number) {
    super(`upload larger than ${limit} bytes`);
  }
}

/**
 * Reads a stream of chunks (an HTTP request body, say) into a preallocated kernel buffer: each chunk is copied
 * once, from the network's buffer to its place, and nothing is concatenated afterwards. Returns a view of the
 * bytes read, valid until the next allocation on the kernel; tensors decoded from it (decodeTensors) are views
 * the fold kernel reads in place. Throws UploadTooLargeError as soon as the stream outgrows the buffer.
 */
export async function readInto(buffer: KernelBuffer, chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  let length = 0;
  for await (const chunk of chunks) {
    if (length + chunk.length > buffer.byteLength) throw new UploadTooLargeError(buffer.byteLength);
    buffer.bytes().set(chunk, length);
    length += chunk.length;
  }
  return buffer.bytes().subarray(0, length);
}
