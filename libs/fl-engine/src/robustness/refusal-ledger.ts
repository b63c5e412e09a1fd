import { UPDATE_REFUSAL_REASONS, UpdateRefusalReason } from '@flops/contracts';
import { UpdateRefusedError } from '../errors';

/** What one learner had refused. */
export interface LearnerRefusals {
  total: number;
  byReason: Partial<Record<UpdateRefusalReason, number>>;
  last: { round: number; reason: UpdateRefusalReason; message: string };
}

/** Refused updates counted per learner and reason, for the project's report; survives checkpoints as JSON. */
export class RefusalLedger {
  private readonly learners = new Map<string, LearnerRefusals>();

  record(learnerId: string, round: number, refusal: UpdateRefusedError): void {
    const entry = this.learners.get(learnerId) ?? { total: 0, byReason: {}, last: { round, reason: refusal.reason, message: '' } };
    entry.total += 1;
    entry.byReason[refusal.reason] = (entry.byReason[refusal.reason] ?? 0) + 1;
    entry.last = { round, reason: refusal.reason, message: refusal.message.slice(0, 500) };
    this.learners.set(learnerId, entry);
  }

  of(learnerId: string): LearnerRefusals | undefined {
    const entry = this.learners.get(learnerId);
    return entry && structuredClone(entry);
  }

  /** Refused updates so far, learner id → counts; learners with none are absent. */
  snapshot(): Record<string, LearnerRefusals> {
    return Object.fromEntries([...this.learners].sort(([a], [b]) => a.localeCompare(b)).map(([id, entry]) => [id, structuredClone(entry)]));
  }

  get total(): number {
    let total = 0;
    for (const { total: n } of this.learners.values()) total += n;
    return total;
  }

  toJSON(): Record<string, LearnerRefusals> {
    return this.snapshot();
  }

  static fromJSON(raw: unknown): RefusalLedger {
    const ledger = new RefusalLedger();
    ledger.load(raw);
    return ledger;
  }

  /** Replaces the counts with exported ones (toJSON). Throws TypeError, changing nothing, if they are malformed. */
  load(raw: unknown): void {
    const loaded = new Map<string, LearnerRefusals>();
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new TypeError('refusal ledger state must be an object');
    for (const [id, value] of Object.entries(raw as Record<string, unknown>)) {
      const entry = value as Partial<LearnerRefusals>;
      const last = entry?.last;
      if (!Number.isInteger(entry?.total) || !last || !(UPDATE_REFUSAL_REASONS as readonly string[]).includes(last.reason)) {
        throw new TypeError(`refusal ledger entry for ${JSON.stringify(id)} is malformed`);
      }
      const byReason = Object.fromEntries(
        Object.entries(entry.byReason ?? {}).filter(([reason, n]) => (UPDATE_REFUSAL_REASONS as readonly string[]).includes(reason) && Number.isInteger(n)),
      );
      loaded.set(id, { total: entry.total!, byReason, last: { round: Number(last.round), reason: last.reason, message: String(last.message ?? '') } });
    }
    this.learners.clear();
    for (const [id, entry] of loaded) this.learners.set(id, entry);
  }
}
