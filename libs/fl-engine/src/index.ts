export { AggregationEngine, EngineRound } from './engine';
export type { EngineSettings, RoundOutcome } from './engine';
export { EngineError, InsufficientUpdatesError, StrategyStateError, UpdateRefusedError } from './errors';
export { FoldKernel, ScalarFoldKernel, WasmFoldKernel, createFoldKernel } from './kernels/fold-kernel';
export type { Accumulator, KernelBuffer } from './kernels/fold-kernel';
export { ModelShape } from './model/model-shape';
export { RefusalLedger } from './robustness/refusal-ledger';
export type { LearnerRefusals } from './robustness/refusal-ledger';
export { UpdateGuard } from './robustness/update-guard';
export type { CheckedUpdate, GuardOptions, LearnerUpdate } from './robustness/update-guard';
export { createStrategy } from './strategies/create-strategy';
export type { StrategyContext } from './strategies/create-strategy';
export { Bulyan, FedMedian, FedTrimmedAvg, Krum } from './strategies/buffered-strategies';
export { FedAvg, FedAvgM, FedOpt, FedProx, MeanStrategy } from './strategies/mean-strategies';
export { QFedAvg } from './strategies/qfedavg';
export { Scaffold } from './strategies/scaffold';
export type { MemoryKind, RoundAggregation, RoundReport, RoundResult, Strategy, StrategyState } from './strategies/strategy';
export { CentralDp } from './privacy/central-dp';
export type { DpRoundReport } from './privacy/central-dp';
export { CryptoRandom, RandomSource, SeededRandom } from './privacy/random';
export { DEFAULT_RDP_ORDERS, RdpAccountant, epsilonFromRdp, gaussianRdp } from './privacy/rdp-accountant';
export type { EpsilonAtDelta } from './privacy/rdp-accountant';
export { SecAggAggregator, SecAggError, SecAggLearner, dequantizeSum, neighbourGraph, quantize } from './privacy/secagg/protocol';
export type {
  EncryptedShare,
  KeyAdvertisement,
  KeyDirectory,
  Mailbox,
  MaskedInput,
  RevealedShare,
  SecAggSettings,
  SecAggSum,
  ShareBundle,
  UnmaskRequest,
  UnmaskResponse,
} from './privacy/secagg/protocol';
export { decodeSecAggSum, secAggInput, secAggSettings, secAggVectorLength } from './privacy/secagg/codec';
export type { SecAggDecoded, SecAggMode } from './privacy/secagg/codec';
export { UploadTooLargeError, readInto } from './kernels/upload';
