export {
  TENSORS_MEDIA_TYPE,
  TENSOR_FORMAT_MAGIC,
  TENSOR_FORMAT_VERSION,
  TENSOR_DATA_ALIGNMENT,
  encodeTensors,
  decodeTensors,
  readTensorHeader,
} from './codec';
export type { TensorMeta, TensorHeader, TensorHeaderEntry, TensorHeaderInfo, DecodedTensors } from './codec';
export { TensorCodecError } from './errors';
export { elementCount, formatShape, layoutDigest, sameLayout, sameShape, tensorLayoutOf } from './layout';
export type { NamedTensor, TensorLayout, TensorSpec } from './layout';
