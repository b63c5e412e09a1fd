import type { LifecycleEvent } from '@flops/lifecycle';
import type { ImageRecord, ModelRecord, RoundRecord } from '@flops/models';

/** What each kind of event brings to the project record besides its state (kinds not named bring nothing). */
interface EventData {
  'build.succeeded': { image: ImageRecord };
  'round.completed': { roundRecord: Omit<RoundRecord, 'at'> };
  'training.completed': {
    model: ModelRecord;
    finalMetrics: Record<string, number>;
    /** Every round of the run, as stored with the final model (absent when read from a message). */
    roundHistory?: RoundRecord[];
  };
  /** The rounds stored with the final model, when some round messages were lost. */
  finalized: { roundHistory?: RoundRecord[] };
}

type WithData<E extends LifecycleEvent> = E extends { kind: infer K } ? (K extends keyof EventData ? E & EventData[K] : E) : never;

/** A lifecycle event together with the data it brings, discriminated by `kind`. */
export type ProjectEvent = WithData<LifecycleEvent>;

export type ProjectEventOf<K extends ProjectEvent['kind']> = Extract<ProjectEvent, { kind: K }>;

/** How training ended, as the aggregator's message or its stored artifact tells. */
export type TrainingOutcome = ProjectEventOf<'training.completed'>;
