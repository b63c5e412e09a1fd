/** Base class for every reason the aggregator refuses an update; lets the API layer map them all to a 4xx. */
export class AggregationError extends Error {
  override name = 'AggregationError';
}

/** The update's tensors do not match the model layout (names, order, shapes or value counts). */
export class IncompatibleUpdateError extends AggregationError {
  override name = 'IncompatibleUpdateError';
}

/** The update contains NaN/±Infinity, or would push the running sum out of float64 range. */
export class NonFiniteUpdateError extends AggregationError {
  override name = 'NonFiniteUpdateError';
}

/** An update or metrics weight (sample count) that is not a usable number. */
export class InvalidWeightError extends AggregationError {
  override name = 'InvalidWeightError';
}

/** An average was requested before any update was added. */
export class EmptyAggregationError extends AggregationError {
  override name = 'EmptyAggregationError';
}
