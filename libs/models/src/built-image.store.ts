import { Connection, Model, Schema } from 'mongoose';

/** An image the builder pushed: the manifest digest its tag had when the builder wrote it. */
export interface BuiltImageRecord {
  _id: string; // `${repository}:${tag}`
  repository: string;
  tag: string;
  digest: string;
  sourceRevision: string;
  builtAt: Date;
}

/**
 * What the builder pushed, so that a tag found in the registry is trusted only if it still
 * points at what was built: a registry tag can be overwritten by anyone who can push.
 */
export abstract class BuiltImages {
  /** The digest recorded when `repository:tag` was built, or null if it was not built here. */
  abstract digestOf(repository: string, tag: string): Promise<string | null>;
  abstract record(image: Omit<BuiltImageRecord, '_id' | 'builtAt'>): Promise<void>;
}

const builtImageSchema = new Schema<BuiltImageRecord>(
  {
    _id: { type: String, required: true },
    repository: { type: String, required: true },
    tag: { type: String, required: true },
    digest: { type: String, required: true },
    sourceRevision: { type: String, required: true },
    builtAt: { type: Date, required: true },
  },
  { versionKey: false },
);

export class MongoBuiltImages extends BuiltImages {
  private readonly model: Model<BuiltImageRecord>;

  constructor(connection: Connection) {
    super();
    this.model =
      (connection.models.BuiltImage as Model<BuiltImageRecord> | undefined) ??
      connection.model<BuiltImageRecord>('BuiltImage', builtImageSchema, 'built_images');
  }

  async digestOf(repository: string, tag: string): Promise<string | null> {
    const record = await this.model.findById(`${repository}:${tag}`).lean<BuiltImageRecord>().exec();
    return record?.digest ?? null;
  }

  async record(image: Omit<BuiltImageRecord, '_id' | 'builtAt'>): Promise<void> {
    const _id = `${image.repository}:${image.tag}`;
    await this.model.replaceOne({ _id }, { _id, ...image, builtAt: new Date() }, { upsert: true }).exec();
  }
}
