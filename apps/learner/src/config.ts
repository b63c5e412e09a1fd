import { IsInt, IsString, Matches, Min } from 'class-validator';
import { Hyperparameters, IDENTIFIER, RECORD_KEY } from '@flops/contracts';
import { InfraConfig } from '@flops/config';

export class LearnerConfig extends InfraConfig {
  @Matches(IDENTIFIER) FLOPS_PROJECT_ID = '';
  @Matches(IDENTIFIER) FLOPS_LEARNER_ID = '';
  /** This learner's data partition, and how many there are. */
  @IsInt() @Min(0) FLOPS_LEARNER_INDEX = 0;
  @IsInt() @Min(1) FLOPS_LEARNER_COUNT = 1;
  /** The learner image with the user's code, e.g. `127.0.0.1:5000/flops/learners/digits:<tag>`. */
  @IsString() FLOPS_LEARNER_IMAGE = '';
  /** Comma-separated data tags handed to the user code. */
  @IsString() FLOPS_DATA_TAGS = '';
  @IsInt() @Min(0) FLOPS_SEED = 42;
  /** The project's hyperparameters as a JSON object of scalars, handed to the user code (set by the orchestrator). */
  @IsString() FLOPS_HYPERPARAMETERS = '{}';
  /** Shared, content-addressed cache of unpacked images. */
  @IsString() FLOPS_CACHE_DIR = '.flops/cache';
  /** A learner that hears nothing for this long assumes its aggregator is gone and exits. */
  @IsInt() @Min(10) FLOPS_LEARNER_IDLE_TIMEOUT_SECONDS = 900;
  /** How often a learner repeats its join until the aggregator gives it work. */
  @IsInt() @Min(100) FLOPS_LEARNER_JOIN_RETRY_MS = 3000;
}

/** Parse and check FLOPS_HYPERPARAMETERS at boot, so a bad value stops the learner with a clear message. */
export function parseHyperparameters(json: string): Hyperparameters {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new Error('FLOPS_HYPERPARAMETERS is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('FLOPS_HYPERPARAMETERS must be a JSON object');
  const scalar = (v: unknown): boolean => typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
  const problems = Object.entries(value).flatMap(([name, v]) => [
    ...(RECORD_KEY.test(name) ? [] : [`${JSON.stringify(name)} is not a valid name`]),
    ...(scalar(v) ? [] : [`${JSON.stringify(name)} is not a number, string or boolean`]),
  ]);
  if (problems.length) throw new Error(`FLOPS_HYPERPARAMETERS: ${problems.join('; ')}`);
  return value as Hyperparameters;
}
