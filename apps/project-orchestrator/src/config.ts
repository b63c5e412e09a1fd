import { IsInt, IsOptional, IsString, Matches, Min } from 'class-validator';
import { IDENTIFIER } from '@flops/contracts';
import { InfraConfig, IsPort } from '@flops/config';
import { DEFAULT_DEADLINES, StateDeadlines } from '@flops/lifecycle';

export class OrchestratorConfig extends InfraConfig {
  /** HTTP port of the health endpoint. */
  @IsPort() FLOPS_ORCHESTRATOR_PORT = 3001;

  /** MQTT client id; stable across restarts so the broker keeps our session (and queued events). */
  @Matches(IDENTIFIER) FLOPS_ORCHESTRATOR_CLIENT_ID = 'flops-orchestrator';

  /** Which driver deploys components: `local` runs them as child processes on this machine. */
  @Matches(/^(local)$/, { message: 'only the local driver is available in this version' }) FLOPS_DRIVER = 'local';

  /** Where the local driver keeps component logs and work folders. */
  @IsString() FLOPS_DATA_DIR = '.flops/data';

  /** Registry repository prefix for learner images and models, e.g. `flops` → `flops/learners/<name>`. */
  @Matches(/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/) FLOPS_REGISTRY_NAMESPACE = 'flops';

  /** How often deadlines and unfinished clean-ups are checked. */
  @IsInt() @Min(100) FLOPS_SWEEP_INTERVAL_MS = 2000;

  /** Overrides of the per-state deadlines, in seconds (e.g. `BUILDING=600,TRAINING=300`). */
  @IsOptional() @Matches(/^([A-Z_]+=\d+)(,[A-Z_]+=\d+)*$/) FLOPS_DEADLINES?: string;
}

/** `BUILDING=600,TRAINING=300` (seconds) over the defaults. */
export function parseDeadlines(overrides: string | undefined): StateDeadlines {
  const deadlines = { ...DEFAULT_DEADLINES };
  for (const pair of overrides ? overrides.split(',') : []) {
    const [state, seconds] = pair.split('=');
    if (!(state in deadlines)) throw new Error(`FLOPS_DEADLINES: ${state} is not a non-terminal state`);
    if (Number(seconds) < 1) throw new Error(`FLOPS_DEADLINES: ${state} must be at least 1 second`);
    deadlines[state as keyof StateDeadlines] = Number(seconds) * 1000;
  }
  return deadlines;
}
