import type { Project, Round } from '@flops/api-client';

/** `accuracy 0.912  loss 0.281`: metrics in a stable order, accuracy and loss first. */
export function formatMetrics(metrics: Record<string, number> | undefined): string {
  if (!metrics) return '';
  const order = (k: string) => (k === 'accuracy' ? 0 : k === 'loss' ? 1 : 2);
  return Object.keys(metrics)
    .sort((a, b) => order(a) - order(b) || a.localeCompare(b))
    .map((k) => `${k} ${formatNumber(metrics[k])}`)
    .join('  ');
}

export function formatNumber(n: number): string {
  return Number.isInteger(n) ? String(n) : Math.abs(n) >= 1000 || Math.abs(n) < 0.001 ? n.toExponential(3) : n.toFixed(4);
}

/** `3m 12s` since `iso`, at `now`. */
export function age(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86_400)}d ${Math.floor((s % 86_400) / 3600)}h`;
}

/** Rounds done out of the rounds asked for. */
export function progress(project: Pick<Project, 'rounds' | 'training'>): { done: number; total: number } {
  return { done: project.rounds.length, total: project.training.rounds };
}

export function latestRound(project: Pick<Project, 'rounds'>): Round | undefined {
  return project.rounds.reduce<Round | undefined>((last, r) => (!last || r.round > last.round ? r : last), undefined);
}

/** Left-aligned columns, for tables in a terminal. */
export function table(rows: string[][]): string {
  const widths = rows.reduce<number[]>((w, row) => row.map((cell, i) => Math.max(w[i] ?? 0, cell.length)), []);
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ')).join('\n');
}

/** A number from a flag, or an error naming the flag. */
export function parseInteger(flag: string): (value: string) => number {
  return (value) => {
    if (!/^-?\d+$/.test(value.trim())) throw new UsageError(`${flag} must be an integer, got ${JSON.stringify(value)}`);
    return Number(value);
  };
}

export function parseNumber(flag: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n)) throw new UsageError(`${flag} must be a number, got ${JSON.stringify(value)}`);
    return n;
  };
}

/** `key=value` hyperparameters: numbers and booleans as such, the rest as strings. */
export function parseHyperparameter(value: string, previous: Record<string, number | string | boolean> = {}): Record<string, number | string | boolean> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new UsageError(`--hp takes key=value, got ${JSON.stringify(value)}`);
  const key = value.slice(0, eq);
  const raw = value.slice(eq + 1);
  const parsed = raw === 'true' ? true : raw === 'false' ? false : raw.trim() !== '' && Number.isFinite(Number(raw)) ? Number(raw) : raw;
  return { ...previous, [key]: parsed };
}

/** Bad usage: exit code 2. */
export class UsageError extends Error {}
