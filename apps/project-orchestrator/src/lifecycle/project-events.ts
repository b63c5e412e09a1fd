import type { LifecycleEvent } from '@flops/lifecycle';
import type { ImageRecord, ModelRecord, RoundRecord } from '@flops/models';

/** A lifecycle event together with the data it brings to the project record. */
export type ProjectEvent = LifecycleEvent & {
  image?: ImageRecord;
  roundRecord?: Omit<RoundRecord, 'at'>;
  /** Every round of the run, as stored with the final model. */
  roundHistory?: RoundRecord[];
  model?: ModelRecord;
  finalMetrics?: Record<string, number>;
};
