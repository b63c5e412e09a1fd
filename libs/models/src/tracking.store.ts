import { Connection, Model, Schema } from 'mongoose';

/**
 * How far a project's experiment-tracking run has been brought up to date, and whether it still
 * owes the tracker something. This is the tracking outbox: the project record says what happened,
 * this cursor what the tracker has already been told; `pending` marks work that a tracker outage
 * left undone, retried from `nextAttemptAt` on (also after a restart).
 */
export interface TrackingRecord {
  _id: string; // project id
  pending: boolean;
  attempts: number;
  nextAttemptAt: Date;
  lastError?: string;
  experimentId?: string;
  runId?: string;
  /** Where a person sees the run (the tracker's UI). */
  runUrl?: string;
  artifactUri?: string;
  paramsLogged?: boolean;
  imageLogged?: boolean;
  /** Highest round whose metrics were logged. */
  roundsLogged: number;
  modelVersion?: string;
  /** The run's final status once it was ended. */
  endedStatus?: string;
  /** When a change last marked it pending. */
  markedAt: Date;
  updatedAt: Date;
}

const trackingSchema = new Schema<TrackingRecord>(
  {
    _id: { type: String, required: true },
    pending: { type: Boolean, required: true, index: true },
    attempts: { type: Number, required: true, default: 0 },
    nextAttemptAt: { type: Date, required: true },
    lastError: String,
    experimentId: String,
    runId: String,
    runUrl: String,
    artifactUri: String,
    paramsLogged: Boolean,
    imageLogged: Boolean,
    roundsLogged: { type: Number, required: true, default: 0 },
    modelVersion: String,
    endedStatus: String,
    markedAt: { type: Date, required: true },
    updatedAt: { type: Date, required: true },
  },
  { versionKey: false },
);

export type TrackingProgress = Partial<Omit<TrackingRecord, '_id' | 'updatedAt' | 'markedAt' | 'pending' | 'attempts' | 'nextAttemptAt'>>;

export class TrackingStore {
  private readonly model: Model<TrackingRecord>;

  constructor(connection: Connection) {
    this.model = (connection.models.Tracking as Model<TrackingRecord> | undefined) ?? connection.model<TrackingRecord>('Tracking', trackingSchema, 'tracking');
  }

  get(projectId: string): Promise<TrackingRecord | null> {
    return this.model.findById(projectId).lean<TrackingRecord>().exec();
  }

  /** Records that the project owes the tracker an update (persisted before the tracker is called). */
  async markPending(projectId: string, now = new Date()): Promise<void> {
    await this.model
      .updateOne(
        { _id: projectId },
        { $set: { pending: true, markedAt: now, updatedAt: now }, $setOnInsert: { attempts: 0, nextAttemptAt: now, roundsLogged: 0 } },
        { upsert: true },
      )
      .exec();
  }

  async progress(projectId: string, progress: TrackingProgress): Promise<void> {
    await this.model.updateOne({ _id: projectId }, { $set: { ...progress, updatedAt: new Date() } }).exec();
  }

  /** Everything owed was delivered (unless a newer change marked it pending again meanwhile: `since`). */
  async done(projectId: string, since: Date): Promise<void> {
    await this.model
      .updateOne({ _id: projectId, markedAt: { $lte: since } }, { $set: { pending: false, attempts: 0 }, $unset: { lastError: 1 } })
      .exec();
  }

  async failed(projectId: string, error: string, retryAt: Date): Promise<number> {
    const updated = await this.model
      .findOneAndUpdate({ _id: projectId }, { $inc: { attempts: 1 }, $set: { lastError: error, nextAttemptAt: retryAt } }, { returnDocument: 'after' })
      .lean<TrackingRecord>()
      .exec();
    return updated?.attempts ?? 0;
  }

  /** Projects whose tracking is owed and due for another try. */
  async due(now: Date, limit = 50): Promise<TrackingRecord[]> {
    return this.model.find({ pending: true, nextAttemptAt: { $lte: now } }).sort({ nextAttemptAt: 1 }).limit(limit).lean<TrackingRecord[]>().exec();
  }
}
