import { ProjectState, isTerminal } from '@flops/lifecycle';
import { HistoryEntry, NewProject, ProjectChange, ProjectRecord, ProjectStore, RoundRecord, withRounds } from '@flops/models';

/** One turn of the event loop. */
export const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export type StoreQuery = 'unfinished' | 'waitingSince' | 'overdue' | 'endedNotCleanedUp';

export interface InMemoryProjectStoreOptions {
  /** The time written into records (default: the wall clock). */
  now?: () => Date;
  /** Reads and writes yield to the event loop first, like a database round trip (default: they do not). */
  roundTrips?: boolean;
}

/**
 * ProjectStore in memory, with the same guard as MongoProjectStore: `apply` succeeds only if the
 * stored version is still `expectedVersion`, then increments it, $sets fields and appends
 * round/history. The sweeper's queries filter like the real ones (libs/models/src/project.store.ts).
 */
export class InMemoryProjectStore extends ProjectStore {
  private readonly records = new Map<string, ProjectRecord>();
  private readonly changes = new Map<string, { version: number; at: Date; change: ProjectChange }[]>();
  private readonly now: () => Date;
  private readonly roundTrips: boolean;
  /** Every `apply`, and whether its version guard let it through. */
  readonly applies: { id: string; expectedVersion: number; change: ProjectChange; won: boolean }[] = [];
  /** Every query the sweeper made, in order. */
  readonly queries: StoreQuery[] = [];
  /** Reads of these projects fail (a project that cannot be handled right now). */
  readonly unreadable = new Set<string>();
  /** Runs inside `apply` before the version check: lets a test play another writer. */
  beforeApply?: (id: string) => void;
  /** When set, the sweeper's queries (all but `unfinished`) fail with it. */
  queryFailure?: Error;
  /** When set, the sweeper's queries (all but `unfinished`) wait for it. */
  queryGate?: Promise<void>;
  /** When set, creating a project fails with it (a database that is down). */
  createFailure?: Error;

  constructor(options: InMemoryProjectStoreOptions = {}) {
    super();
    this.now = options.now ?? (() => new Date());
    this.roundTrips = options.roundTrips ?? false;
  }

  /** Stores a record as it is (test set-up; no version check). */
  put(record: ProjectRecord): void {
    this.records.set(record._id, structuredClone(record));
  }

  /** The stored record, read without a round trip (for assertions). */
  current(id: string): ProjectRecord {
    const record = this.records.get(id);
    if (!record) throw new Error(`no project ${id}`);
    return structuredClone(record);
  }

  has(id: string): boolean {
    return this.records.has(id);
  }

  get size(): number {
    return this.records.size;
  }

  async create(project: NewProject): Promise<ProjectRecord> {
    if (this.roundTrips) await tick();
    if (this.createFailure) throw this.createFailure;
    if (this.records.has(project._id)) throw new Error(`duplicate project id ${project._id}`);
    const at = this.now();
    const history: HistoryEntry = { from: null, to: project.state, at, event: 'submitted' };
    const record: ProjectRecord = { ...structuredClone(project), version: 0, rounds: [], history: [history], createdAt: at, updatedAt: at };
    this.records.set(record._id, record);
    return structuredClone(record);
  }

  async get(id: string): Promise<ProjectRecord | null> {
    if (this.roundTrips) await tick();
    if (this.unreadable.has(id)) throw new Error(`cannot read ${id}`);
    const record = this.records.get(id);
    return record ? structuredClone(record) : null;
  }

  async countByState(): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    for (const { state } of this.records.values()) counts[state] = (counts[state] ?? 0) + 1;
    return counts;
  }

  async list(filter: { state?: ProjectState; limit: number; skip: number }): Promise<{ items: ProjectRecord[]; total: number }> {
    if (this.roundTrips) await tick();
    const matching = [...this.records.values()]
      .filter((p) => !filter.state || p.state === filter.state)
      .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || a._id.localeCompare(b._id));
    return { items: matching.slice(filter.skip, filter.skip + filter.limit).map((p) => structuredClone(p)), total: matching.length };
  }

  async apply(id: string, expectedVersion: number, change: ProjectChange): Promise<ProjectRecord | null> {
    if (this.roundTrips) await tick();
    this.beforeApply?.(id);
    const record = this.records.get(id);
    const won = !!record && record.version === expectedVersion;
    this.applies.push({ id, expectedVersion, change: structuredClone(change), won });
    if (!record || !won) return null;
    const at = this.now();
    const next: ProjectRecord = {
      ...record,
      ...structuredClone(change.set ?? {}),
      version: record.version + 1,
      rounds: withRounds(record.rounds, structuredClone(roundsOf(change))),
      history: change.appendHistory ? [...record.history, structuredClone(change.appendHistory)] : record.history,
      updatedAt: at,
    };
    this.records.set(id, next);
    this.changes.set(id, [...(this.changes.get(id) ?? []), { version: next.version, at, change: structuredClone(change) }]);
    return structuredClone(next);
  }

  async versions(id: string): Promise<{ version: number; at: Date; change: ProjectChange }[]> {
    return structuredClone(this.changes.get(id) ?? []);
  }

  /** Another orchestrator process writing the project (bypasses nothing: it is a winning write). */
  writeBehindTheBack(id: string, change: ProjectChange): void {
    const record = this.records.get(id)!;
    this.records.set(id, {
      ...record,
      ...change.set,
      version: record.version + 1,
      rounds: withRounds(record.rounds, roundsOf(change)),
      history: change.appendHistory ? [...record.history, change.appendHistory] : record.history,
    });
  }

  async markCleanedUp(id: string): Promise<void> {
    const record = this.records.get(id)!;
    this.records.set(id, { ...record, cleanedUpAt: this.now() });
  }

  get conflicts(): number {
    return this.applies.filter((a) => !a.won).length;
  }

  async unfinished(): Promise<ProjectRecord[]> {
    return this.query('unfinished', (p) => !isTerminal(p.state));
  }

  async waitingSince(before: Date): Promise<ProjectRecord[]> {
    return this.query('waitingSince', (p) => p.state === ProjectState.SUBMITTED && p.createdAt < before);
  }

  /** No deadline is never overdue. */
  async overdue(now: Date): Promise<ProjectRecord[]> {
    return this.query('overdue', (p) => !isTerminal(p.state) && p.deadlineAt !== null && p.deadlineAt < now);
  }

  async endedNotCleanedUp(endedBefore: Date): Promise<ProjectRecord[]> {
    return this.query('endedNotCleanedUp', (p) => isTerminal(p.state) && !p.cleanedUpAt && p.updatedAt < endedBefore);
  }

  private async query(name: StoreQuery, filter: (p: ProjectRecord) => boolean): Promise<ProjectRecord[]> {
    if (this.roundTrips) await tick();
    this.queries.push(name);
    if (name !== 'unfinished') {
      if (this.queryGate) await this.queryGate;
      if (this.queryFailure) throw this.queryFailure;
    }
    return [...this.records.values()].filter(filter).map((p) => structuredClone(p));
  }
}

function roundsOf(change: ProjectChange): RoundRecord[] {
  return [...(change.appendRound ? [change.appendRound] : []), ...(change.appendRounds ?? [])];
}
