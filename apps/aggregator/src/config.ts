import { IsInt, IsOptional, IsString, Matches, Min } from 'class-validator';
import { InfraConfig, IsPort } from '@flops/config';
import { IDENTIFIER, REPOSITORY, STRATEGIES, TrainingConfig } from '@flops/contracts';

export class AggregatorConfig extends InfraConfig {
  @Matches(IDENTIFIER) FLOPS_PROJECT_ID = '';

  /** The project's training configuration as JSON (set by the orchestrator). */
  @IsString() FLOPS_TRAINING_CONFIG = '';

  /** Registry repository the final model is stored in. */
  @Matches(REPOSITORY) FLOPS_MODEL_REPOSITORY = '';

  /** Data-plane HTTP port; 0 lets the OS pick one (it is announced over MQTT). */
  @IsPort() FLOPS_AGGREGATOR_PORT = 0;
  @IsString() FLOPS_AGGREGATOR_HOST = '127.0.0.1';
  /** Host learners use to reach the data plane, when it differs from the bind address. */
  @IsOptional() @IsString() FLOPS_AGGREGATOR_ADVERTISE_HOST?: string;

  @IsInt() @Min(1) FLOPS_JOIN_TIMEOUT_SECONDS = 300;
  /** Largest upload accepted, in bytes. */
  @IsInt() @Min(1024) FLOPS_MAX_UPLOAD_BYTES = 1024 * 1024 * 1024;
  /** Uploads decoded at once; bounds memory at a few model sizes, however many learners there are. */
  @IsInt() @Min(1) FLOPS_UPLOAD_CONCURRENCY = 2;
}

/** Parse and check FLOPS_TRAINING_CONFIG; it was validated at submission, this guards the hand-over. */
export function parseTrainingConfig(json: string): TrainingConfig {
  let value: Partial<TrainingConfig>;
  try {
    value = JSON.parse(json) as Partial<TrainingConfig>;
  } catch {
    throw new Error('FLOPS_TRAINING_CONFIG is not valid JSON');
  }
  const positive = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n > 0;
  const problems = [
    !positive(value.rounds) && 'rounds',
    !positive(value.learners) && 'learners',
    !positive(value.minLearnersPerRound) && 'minLearnersPerRound',
    !positive(value.roundTimeoutSeconds) && 'roundTimeoutSeconds',
    !STRATEGIES.includes(value.strategy as never) && 'strategy',
  ].filter(Boolean);
  if (problems.length) throw new Error(`FLOPS_TRAINING_CONFIG: invalid ${problems.join(', ')}`);
  return { hyperparameters: {}, dataTags: [], seed: 0, ...value } as TrainingConfig;
}
