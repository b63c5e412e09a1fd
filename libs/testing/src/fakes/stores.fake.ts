import { DeploymentRecord, DeploymentStore, TrackingProgress, TrackingRecord, TrackingStore } from '@flops/models';

/** What drivers deployed, in memory: `add` plays a driver recording a component. */
export class InMemoryDeploymentStore extends DeploymentStore {
  private readonly records: DeploymentRecord[] = [];

  add(record: DeploymentRecord): void {
    this.records.push(structuredClone(record));
  }

  async forProject(projectId: string): Promise<DeploymentRecord[]> {
    return this.records
      .filter((r) => r.projectId === projectId)
      .sort((a, b) => a.startedAt.getTime() - b.startedAt.getTime() || a._id.localeCompare(b._id))
      .map((r) => structuredClone(r));
  }
}

/** The tracking outbox in memory, with MongoTrackingStore's rules (a newer mark keeps work pending). */
export class InMemoryTrackingStore extends TrackingStore {
  private readonly records = new Map<string, TrackingRecord>();

  async get(projectId: string): Promise<TrackingRecord | null> {
    const record = this.records.get(projectId);
    return record ? structuredClone(record) : null;
  }

  async markPending(projectId: string, now = new Date()): Promise<void> {
    const existing = this.records.get(projectId);
    this.records.set(projectId, {
      ...(existing ?? { _id: projectId, attempts: 0, nextAttemptAt: now, roundsLogged: 0 }),
      pending: true,
      markedAt: now,
      updatedAt: now,
    });
  }

  async progress(projectId: string, progress: TrackingProgress): Promise<void> {
    const existing = this.records.get(projectId);
    if (existing) this.records.set(projectId, { ...existing, ...structuredClone(progress), updatedAt: new Date() });
  }

  async done(projectId: string, since: Date): Promise<void> {
    const existing = this.records.get(projectId);
    if (!existing || existing.markedAt > since) return;
    const { lastError: _dropped, ...rest } = existing;
    this.records.set(projectId, { ...rest, pending: false, attempts: 0 });
  }

  async failed(projectId: string, error: string, retryAt: Date): Promise<number> {
    const existing = this.records.get(projectId);
    if (!existing) return 0;
    const attempts = existing.attempts + 1;
    this.records.set(projectId, { ...existing, attempts, lastError: error, nextAttemptAt: retryAt });
    return attempts;
  }

  async due(now: Date, limit = 50): Promise<TrackingRecord[]> {
    return [...this.records.values()]
      .filter((r) => r.pending && r.nextAttemptAt <= now)
      .sort((a, b) => a.nextAttemptAt.getTime() - b.nextAttemptAt.getTime())
      .slice(0, limit)
      .map((r) => structuredClone(r));
  }
}
