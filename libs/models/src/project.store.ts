import { Connection } from 'mongoose';
import { ProjectState, TERMINAL_STATES } from '@flops/lifecycle';
import { HistoryEntry, ProjectModel, ProjectRecord, RoundRecord, projectModel } from './project.model';

export type NewProject = Omit<ProjectRecord, 'version' | 'rounds' | 'history' | 'createdAt' | 'updatedAt' | 'cleanedUpAt'>;

/** A change to one project, applied atomically if and only if nobody changed it in between. */
export interface ProjectChange {
  set?: Partial<Omit<ProjectRecord, '_id' | 'version' | 'rounds' | 'history'>>;
  appendRound?: RoundRecord;
  appendHistory?: HistoryEntry;
}

const NON_TERMINAL = Object.values(ProjectState).filter((s) => !TERMINAL_STATES.has(s));

/**
 * All access to stored projects. Every write is a single-document update guarded by `version`,
 * so it needs no transactions and two writers can never both win.
 */
export class ProjectStore {
  private readonly model: ProjectModel;

  constructor(connection: Connection) {
    this.model = projectModel(connection);
  }

  async create(project: NewProject): Promise<ProjectRecord> {
    const history: HistoryEntry = { from: null, to: project.state, at: new Date(), event: 'submitted' };
    const created = await this.model.create({ ...project, version: 0, rounds: [], history: [history] });
    return created.toObject();
  }

  async get(id: string): Promise<ProjectRecord | null> {
    return this.model.findById(id).lean<ProjectRecord>().exec();
  }

  async list(filter: { state?: ProjectState; limit: number; skip: number }): Promise<{ items: ProjectRecord[]; total: number }> {
    const query = filter.state ? { state: filter.state } : {};
    const [items, total] = await Promise.all([
      this.model.find(query).sort({ createdAt: -1, _id: 1 }).skip(filter.skip).limit(filter.limit).lean<ProjectRecord[]>().exec(),
      this.model.countDocuments(query).exec(),
    ]);
    return { items, total };
  }

  /** Apply `change` if the stored version is still `expectedVersion`; null means someone was faster. */
  async apply(id: string, expectedVersion: number, change: ProjectChange): Promise<ProjectRecord | null> {
    const update: Record<string, unknown> = { $inc: { version: 1 } };
    if (change.set && Object.keys(change.set).length) update.$set = change.set;
    const push: Record<string, unknown> = {};
    if (change.appendRound) push.rounds = change.appendRound;
    if (change.appendHistory) push.history = change.appendHistory;
    if (Object.keys(push).length) update.$push = push;
    return this.model
      .findOneAndUpdate({ _id: id, version: expectedVersion }, update, { returnDocument: 'after' })
      .lean<ProjectRecord>()
      .exec();
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
    await this.model.updateOne({ _id: id }, { $set: { cleanedUpAt: new Date() } }).exec();
  }
}
