/** Thrown for any tensor payload or tensor list that does not satisfy the FLT1 format. */
export class TensorCodecError extends Error {
  override readonly name = 'TensorCodecError';
}
