import type { UpdateRefusalReason } from '@flops/contracts';

/** Base class of the engine's errors. */
export class EngineError extends Error {
  override name = 'EngineError';
}

/** An update the engine will not use; nothing of it reached the aggregate. `reason` is counted per learner. */
export class UpdateRefusedError extends EngineError {
  override name = 'UpdateRefusedError';
  constructor(
    readonly reason: UpdateRefusalReason,
    message: string,
  ) {
    super(message);
  }
}

/** A round cannot be aggregated with the updates it has (none, or fewer than the strategy needs). */
export class InsufficientUpdatesError extends EngineError {
  override name = 'InsufficientUpdatesError';
}

/** Strategy state that does not belong to this strategy or model. */
export class StrategyStateError extends EngineError {
  override name = 'StrategyStateError';
}
