import { Connection, Model, Schema } from 'mongoose';
import { ProjectStage, ProjectState } from '@flops/lifecycle';
import type { LearnerRefusalCount, MlRepoLocation, ResourceHints, RoundPrivacy, TrainingConfig } from '@flops/contracts';

export interface HistoryEntry {
  from: ProjectState | null;
  to: ProjectState;
  at: Date;
  event: string;
  reason?: string;
}

export interface RoundRecord {
  round: number;
  learners: number;
  samples: number;
  trainMetrics: Record<string, number>;
  evalMetrics: Record<string, number>;
  /** Each learner's evaluation, by learner id, where the aggregator reported it. */
  learnerMetrics?: Record<string, Record<string, number>>;
  durationMs: number;
  /** Learners that evaluated the round's model. */
  evaluators?: number;
  /** Updates refused this round, and refusals per learner over the training so far. */
  refused?: number;
  refusals?: LearnerRefusalCount[];
  /** Central DP: the privacy spent. */
  privacy?: RoundPrivacy;
  at: Date;
}

export interface ImageRecord {
  reference: string;
  digest: string;
  sourceRevision: string;
  cacheHit: boolean;
  durations: { fetchMs: number; checkMs: number; buildMs: number; pushMs: number };
}

export interface ModelRecord {
  reference: string;
  digest: string;
  sizeBytes: number;
}

export interface FailureRecord {
  stage: ProjectStage;
  reason: string;
  at: Date;
}

/** A FLOps project as stored. `version` guards every update (optimistic concurrency). */
export interface ProjectRecord {
  _id: string;
  name: string;
  state: ProjectState;
  version: number;
  repo: MlRepoLocation;
  training: TrainingConfig;
  resources: ResourceHints;
  image?: ImageRecord;
  rounds: RoundRecord[];
  finalMetrics?: Record<string, number>;
  model?: ModelRecord;
  failure?: FailureRecord;
  history: HistoryEntry[];
  /** When the current state must have been left; null in terminal states. */
  deadlineAt: Date | null;
  /** Set once everything the project deployed has been stopped after it ended. */
  cleanedUpAt?: Date;
  createdAt: Date;
  updatedAt: Date;
}

const metrics = { type: Schema.Types.Mixed, default: {} };

const projectSchema = new Schema<ProjectRecord>(
  {
    _id: { type: String, required: true },
    name: { type: String, required: true },
    state: { type: String, enum: Object.values(ProjectState), required: true, index: true },
    version: { type: Number, required: true, default: 0 },
    repo: { url: { type: String, required: true }, ref: String },
    training: {
      rounds: { type: Number, required: true },
      learners: { type: Number, required: true },
      minLearnersPerRound: { type: Number, required: true },
      strategy: { type: String, required: true },
      strategyParams: { type: Schema.Types.Mixed, default: {} },
      fractionFit: { type: Number, default: 1 },
      fractionEvaluate: { type: Number, default: 1 },
      maxUpdateNorm: { type: Number },
      privacy: { type: Schema.Types.Mixed },
      hyperparameters: { type: Schema.Types.Mixed, default: {} },
      dataTags: { type: [String], default: [] },
      roundTimeoutSeconds: { type: Number, required: true },
      seed: { type: Number, required: true },
    },
    resources: { cpus: Number, memoryMiB: Number },
    image: {
      type: new Schema<ImageRecord>(
        {
          reference: String,
          digest: String,
          sourceRevision: String,
          cacheHit: Boolean,
          durations: { fetchMs: Number, checkMs: Number, buildMs: Number, pushMs: Number },
        },
        { _id: false },
      ),
      required: false,
    },
    rounds: {
      type: [
        new Schema<RoundRecord>(
          {
            round: Number,
            learners: Number,
            samples: Number,
            trainMetrics: metrics,
            evalMetrics: metrics,
            learnerMetrics: { type: Schema.Types.Mixed },
            durationMs: Number,
            evaluators: Number,
            refused: Number,
            refusals: { type: [Schema.Types.Mixed], default: undefined },
            privacy: { type: Schema.Types.Mixed },
            at: Date,
          },
          // minimize: false keeps empty metric maps (`{}`) instead of dropping the fields.
          { _id: false, minimize: false },
        ),
      ],
      default: [],
    },
    finalMetrics: { type: Schema.Types.Mixed },
    model: { type: new Schema<ModelRecord>({ reference: String, digest: String, sizeBytes: Number }, { _id: false }), required: false },
    failure: {
      type: new Schema<FailureRecord>({ stage: String, reason: String, at: Date }, { _id: false }),
      required: false,
    },
    history: {
      type: [new Schema<HistoryEntry>({ from: String, to: String, at: Date, event: String, reason: String }, { _id: false })],
      default: [],
    },
    deadlineAt: { type: Date, default: null, index: true },
    cleanedUpAt: { type: Date },
  },
  { timestamps: true, versionKey: false, minimize: false },
);

export type ProjectModel = Model<ProjectRecord>;

export function projectModel(connection: Connection): ProjectModel {
  return (connection.models.Project as ProjectModel | undefined) ?? connection.model<ProjectRecord>('Project', projectSchema, 'projects');
}
