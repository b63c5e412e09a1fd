import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';

/** Configuration that cannot be used; thrown at boot, before any service starts. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Read a config class from environment variables. The class's property names are the variable
 * names and its initialisers the defaults, so one class documents, defaults and validates.
 * Values are converted to the property's declared type (number, boolean) before validation.
 */
export function loadConfig<T extends object>(cls: new () => T, env: NodeJS.ProcessEnv = process.env): T {
  const defaults = new cls() as Record<string, unknown>;
  const plain: Record<string, unknown> = {};
  for (const key of Object.keys(defaults)) {
    const raw = env[key];
    if (raw === undefined || raw === '') continue;
    plain[key] = convert(raw, defaults[key]);
  }
  const config = plainToInstance(cls, { ...defaults, ...plain });
  const problems = validateSync(config, { forbidUnknownValues: true }).flatMap((e) =>
    Object.values(e.constraints ?? {}).map((m) => `${e.property}=${JSON.stringify(env[e.property] ?? defaults[e.property])}: ${m}`),
  );
  if (problems.length) throw new ConfigError(problems);
  return Object.freeze(config);
}

function convert(raw: string, example: unknown): unknown {
  if (typeof example === 'number') {
    const n = Number(raw);
    return raw.trim() === '' || Number.isNaN(n) ? raw : n;
  }
  if (typeof example === 'boolean') {
    if (/^(true|1|yes)$/i.test(raw)) return true;
    if (/^(false|0|no)$/i.test(raw)) return false;
    return raw;
  }
  return raw;
}
