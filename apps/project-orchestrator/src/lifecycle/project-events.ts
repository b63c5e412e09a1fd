import type { LifecycleEvent } from '@flops/lifecycle';
import type { ImageRecord, ModelRecord, RoundRecord } from '@flops/models';

/** A lifecycle event together with the data it brings to the project record. */
export type ProjectEvent = LifecycleEvent & {
  image?: ImageRecord;
  roundRecord?: Omit<RoundRecord, 'at'>;
  model?: ModelRecord;
  finalMetrics?: Record<string, number>;
};
