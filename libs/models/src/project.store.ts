import { Connection, Model, Schema } from 'mongoose';
import { ProjectState, TERMINAL_STATES } from '@flops/lifecycle';
import { HistoryEntry, ProjectModel, ProjectRecord, RoundRecord, projectModel } from './project.model';

export type NewProject = Omit<ProjectRecord, 'version' | 'rounds' | 'history' | 'createdAt' | 'updatedAt' | 'cleanedUpAt'>;

/** A change to one project, applied atomically if and only if nobody changed it in between. */
export interface ProjectChange {
  set?: Partial<Omit<ProjectRecord, '_id' | 'version' | 'rounds' | 'history'>>;
  appendRound?: RoundRecord;
  /** Rounds recorded at once (the history stored with the final model); rounds already there are kept. */
  appendRounds?: RoundRecord[];
  appendHistory?: HistoryEntry;
}

/**
 * One entry per project version, keyed `<projectId>:<version>`. Inserting it is how a writer
 * claims the next version: a unique key is atomic on every MongoDB-wire server, whereas a
 * filtered update is not on all of them (FerretDB 1.x reads, then writes by _id without
 * re-checking the filter). The entry holds the change, so if its writer dies before updating
 * the project, the next reader finishes the job.
 */
interface VersionClaim {
  _id: string;
  projectId: string;
  version: number;
  change: ProjectChange;
  at: Date;
}

const claimSchema = new Schema<VersionClaim>(
  {
    _id: { type: String, required: true },
    projectId: { type: String, required: true, index: true },
    version: { type: Number, required: true },
    change: { type: Schema.Types.Mixed, required: true },
    at: { type: Date, required: true },
  },
  { versionKey: false, minimize: false },
);

const NON_TERMINAL = Object.values(ProjectState).filter((s) => !TERMINAL_STATES.has(s));
const DUPLICATE_KEY = 11000;

/**
 * All access to stored projects. A change is applied only to the version it was decided on and
 * needs no transactions: claim the next version (unique insert), then write the new fields —
 * a write that is idempotent, so finishing an interrupted one twice does no harm.
 */
export class ProjectStore {
  private readonly model: ProjectModel;
  private readonly claims: Model<VersionClaim>;

  constructor(connection: Connection) {
    this.model = projectModel(connection);
    this.claims =
      (connection.models.ProjectVersion as Model<VersionClaim> | undefined) ??
      connection.model<VersionClaim>('ProjectVersion', claimSchema, 'project_versions');
  }

  async create(project: NewProject): Promise<ProjectRecord> {
    const history: HistoryEntry = { from: null, to: project.state, at: new Date(), event: 'submitted' };
    const created = await this.model.create({ ...project, version: 0, rounds: [], history: [history] });
    return created.toObject();
  }

  /** The project at its latest version (finishing a write whose writer died half-way). */
  async get(id: string): Promise<ProjectRecord | null> {
    let project = await this.model.findById(id).lean<ProjectRecord>().exec();
    while (project) {
      const pending = await this.claims.findById(`${id}:${project.version + 1}`).lean<VersionClaim>().exec();
      if (!pending) return project;
      await this.write(project, pending);
      project = await this.model.findById(id).lean<ProjectRecord>().exec();
    }
    return null;
  }

  /** How many projects are in each state (states with none are absent). */
  async countByState(): Promise<Record<string, number>> {
    const rows = await this.model.aggregate<{ _id: string; n: number }>([{ $group: { _id: '$state', n: { $sum: 1 } } }]).exec();
    return Object.fromEntries(rows.map((r) => [r._id, r.n]));
  }

  async list(filter: { state?: ProjectState; limit: number; skip: number }): Promise<{ items: ProjectRecord[]; total: number }> {
    const query = filter.state ? { state: filter.state } : {};
    const [items, total] = await Promise.all([
      this.model.find(query).sort({ createdAt: -1, _id: 1 }).skip(filter.skip).limit(filter.limit).lean<ProjectRecord[]>().exec(),
      this.model.countDocuments(query).exec(),
    ]);
    return { items, total };
  }

  /** Apply `change` if the project is still at `expectedVersion`; null means someone was faster. */
  async apply(id: string, expectedVersion: number, change: ProjectChange): Promise<ProjectRecord | null> {
    const current = await this.get(id);
    if (!current || current.version !== expectedVersion) return null;
    const next = expectedVersion + 1;
    const claim: VersionClaim = { _id: `${id}:${next}`, projectId: id, version: next, change, at: new Date() };
    try {
      await this.claims.create(claim);
    } catch (error) {
      if ((error as { code?: number }).code === DUPLICATE_KEY) return null;
      throw error;
    }
    await this.write(current, claim);
    return this.model.findById(id).lean<ProjectRecord>().exec();
  }

  /** Every version a project went through, oldest first, with the change that made it. */
  async versions(id: string): Promise<{ version: number; at: Date; change: ProjectChange }[]> {
    const claims = await this.claims.find({ projectId: id }).sort({ version: 1 }).lean<VersionClaim[]>().exec();
    return claims.map(({ version, at, change }) => ({ version, at, change }));
  }

  async unfinished(): Promise<ProjectRecord[]> {
    return this.model.find({ state: { $in: NON_TERMINAL } }).lean<ProjectRecord[]>().exec();
  }

  /** Projects still SUBMITTED after `before`: their submission message may have been lost. */
  async waitingSince(before: Date): Promise<ProjectRecord[]> {
    return this.model.find({ state: ProjectState.SUBMITTED, createdAt: { $lt: before } }).lean<ProjectRecord[]>().exec();
  }

  async overdue(now: Date): Promise<ProjectRecord[]> {
    return this.model.find({ state: { $in: NON_TERMINAL }, deadlineAt: { $lt: now } }).lean<ProjectRecord[]>().exec();
  }

  /** Ended projects whose components may still be running (the orchestrator died while cleaning up). */
  async endedNotCleanedUp(endedBefore: Date): Promise<ProjectRecord[]> {
    return this.model
      .find({ state: { $in: [...TERMINAL_STATES] }, cleanedUpAt: { $exists: false }, updatedAt: { $lt: endedBefore } })
      .lean<ProjectRecord[]>()
      .exec();
  }

  async markCleanedUp(id: string): Promise<void> {
    await this.model.updateOne({ _id: id }, { $set: { cleanedUpAt: new Date() } }, { timestamps: false }).exec();
  }

  /**
   * Writes a claimed version over the version it was decided on. Everything written is derived
   * from `base` and the claim alone, so whoever writes it (its owner, or a reader finishing the
   * job) writes the same thing: doing it twice is harmless.
   */
  private async write(base: ProjectRecord, claim: VersionClaim): Promise<void> {
    const { set, appendRound, appendRounds, appendHistory } = claim.change;
    const fields: Record<string, unknown> = {
      ...set,
      version: claim.version,
      updatedAt: claim.at,
      ...(appendRound || appendRounds ? { rounds: withRounds(base.rounds, [...(appendRound ? [appendRound] : []), ...(appendRounds ?? [])]) } : {}),
      ...(appendHistory ? { history: [...base.history, appendHistory] } : {}),
    };
    await this.model.updateOne({ _id: base._id, version: base.version }, { $set: fields }, { timestamps: false }).exec();
  }
}

/** `rounds` with `added` merged in by round number (the first record of a round wins), in round order. */
export function withRounds(rounds: RoundRecord[], added: RoundRecord[]): RoundRecord[] {
  const known = new Set(rounds.map((r) => r.round));
  const fresh: RoundRecord[] = [];
  for (const r of added) {
    if (known.has(r.round)) continue;
    known.add(r.round);
    fresh.push(r);
  }
  return fresh.length ? [...rounds, ...fresh].sort((a, b) => a.round - b.round) : rounds;
}
