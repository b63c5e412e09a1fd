import { IsIn, IsInt, IsOptional, IsString, IsUrl, Matches, Min, ValidationArguments, registerDecorator } from 'class-validator';
import { IDENTIFIER, REPOSITORY } from './patterns';
import { parseTrainingConfig, TrainingConfig } from './training-config';

// The environment the orchestrator gives each component it deploys, as classes whose property
// names are the variable names and whose initialisers are the defaults. The planner fills them
// (typed by `PlannedEnvironment`), the components load them (`loadConfig` of @flops/config).

export const LOG_LEVELS = ['error', 'warn', 'log', 'debug', 'verbose'] as const;

/**
 * Set by the local driver on each process it starts, to a fresh id it records before starting it:
 * a restarted orchestrator finds a process whose pid it never recorded by this id.
 */
export const LAUNCH_ID_VARIABLE = 'FLOPS_LAUNCH_ID';
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** FLOPS_TRAINING_CONFIG: the project's training configuration as JSON, checked with TrainingConfig. */
function IsTrainingConfigJson(): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'isTrainingConfigJson',
      target: target.constructor,
      propertyName: propertyName as string,
      validator: {
        validate: (value: unknown) => typeof value === 'string' && trainingProblem(value) === null,
        defaultMessage: (args?: ValidationArguments) => trainingProblem(String(args?.value)) ?? 'must be a training configuration',
      },
    });
}

function trainingProblem(json: string): string | null {
  try {
    parseTrainingConfig(json, 'the training configuration');
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/** Where the shared infrastructure is: read by every FLOps process. */
export class PlatformEnvironment {
  @Matches(/^mqtts?:\/\/[^\s]+$/, { message: 'must be an mqtt:// or mqtts:// URL' })
  FLOPS_MQTT_URL = 'mqtt://127.0.0.1:1883';

  @IsUrl({ require_tld: false, require_protocol: true, protocols: ['http', 'https'] })
  FLOPS_REGISTRY_URL = 'http://127.0.0.1:5000';

  @IsIn(LOG_LEVELS) FLOPS_LOG_LEVEL: LogLevel = 'log';

  /** `json`: one JSON object per log line, with the project id where there is one. */
  @IsIn(LOG_FORMATS) FLOPS_LOG_FORMAT: LogFormat = 'text';
}

/** What every component deployed for a project gets. */
export class ComponentEnvironment extends PlatformEnvironment {
  @Matches(IDENTIFIER, { message: 'must be set to the project id' }) FLOPS_PROJECT_ID = '';

  @IsTrainingConfigJson() FLOPS_TRAINING_CONFIG = '';
}

export class AggregatorEnvironment extends ComponentEnvironment {
  /** Registry repository the final model is stored in. */
  @Matches(REPOSITORY, { message: 'must be set to a registry repository' }) FLOPS_MODEL_REPOSITORY = '';

  /** How long the aggregator waits for learners to join. */
  @IsInt() @Min(1) FLOPS_JOIN_TIMEOUT_SECONDS = 300;

  // Machine-wide tuning, passed on from the orchestrator's own environment (AGGREGATOR_TUNING).

  /** Address the data plane binds to. */
  @IsString() FLOPS_AGGREGATOR_HOST = '127.0.0.1';
  /** Host learners use to reach the data plane, when it differs from the bind address. */
  @IsOptional() @IsString() FLOPS_AGGREGATOR_ADVERTISE_HOST?: string = undefined;
  /** Largest upload accepted, in bytes. */
  @IsInt() @Min(1024) FLOPS_MAX_UPLOAD_BYTES = 1024 * 1024 * 1024;
  /** Uploads decoded at once; bounds memory at a few model sizes, however many learners there are. */
  @IsInt() @Min(1) FLOPS_UPLOAD_CONCURRENCY = 2;
}

export class LearnerEnvironment extends ComponentEnvironment {
  @Matches(IDENTIFIER, { message: 'must be set to the learner id' }) FLOPS_LEARNER_ID = '';
  /** This learner's data partition, of `learners` in the training configuration. */
  @IsInt() @Min(0) FLOPS_LEARNER_INDEX = 0;
  /** The learner image with the user's code, by digest, e.g. `127.0.0.1:5000/flops/learners/digits@sha256:…`. */
  @IsString() @Matches(/\S/, { message: 'must be set to the learner image' }) FLOPS_LEARNER_IMAGE = '';
  /** A learner that hears nothing for this long assumes its aggregator is gone and exits. */
  @IsInt() @Min(10) FLOPS_LEARNER_IDLE_TIMEOUT_SECONDS = 900;

  // Machine-wide tuning, passed on from the orchestrator's own environment (LEARNER_TUNING).

  /** Shared, content-addressed cache of unpacked images. */
  @IsString() FLOPS_CACHE_DIR = '.flops/cache';
  /** How often a learner repeats its join until the aggregator gives it work. */
  @IsInt() @Min(100) FLOPS_LEARNER_JOIN_RETRY_MS = 3000;
  /** The node data directory: one folder per data tag (python/flops_utils/node_data.py). */
  @IsOptional() @IsString() FLOPS_NODE_DATA_DIR?: string = undefined;
  /** A Python worker that does not answer one task (load, fit, evaluate...) within this is stopped, and the task fails. */
  @IsInt() @Min(1) FLOPS_LEARNER_TASK_TIMEOUT_SECONDS = 1800;
  /**
   * The Python that runs a Python repo, with the repo's dependencies and flops_utils installed (a
   * learner image sets it). Unset, the learner makes a cached venv with tools/python-venv.sh.
   */
  @IsOptional() @IsString() FLOPS_LEARNER_PYTHON?: string = undefined;
}

/** Variables the orchestrator passes on from its own environment rather than setting per project. */
export const AGGREGATOR_TUNING = [
  'FLOPS_AGGREGATOR_HOST',
  'FLOPS_AGGREGATOR_ADVERTISE_HOST',
  'FLOPS_MAX_UPLOAD_BYTES',
  'FLOPS_UPLOAD_CONCURRENCY',
] as const satisfies readonly (keyof AggregatorEnvironment)[];
export const LEARNER_TUNING = [
  'FLOPS_CACHE_DIR',
  'FLOPS_LEARNER_JOIN_RETRY_MS',
  'FLOPS_NODE_DATA_DIR',
  'FLOPS_LEARNER_TASK_TIMEOUT_SECONDS',
  'FLOPS_LEARNER_PYTHON',
] as const satisfies readonly (keyof LearnerEnvironment)[];
export const COMPONENT_TUNING: readonly string[] = [...new Set<string>([...AGGREGATOR_TUNING, ...LEARNER_TUNING])];

/** What the orchestrator sets for a component: every variable of its environment but the tuning, as text. */
export type PlannedEnvironment<E, Tuning extends keyof E = never> = { [K in Exclude<keyof E, Tuning>]-?: string };
export type AggregatorPlan = PlannedEnvironment<AggregatorEnvironment, (typeof AGGREGATOR_TUNING)[number]>;
export type LearnerPlan = PlannedEnvironment<LearnerEnvironment, (typeof LEARNER_TUNING)[number]>;

/** The training configuration a component was given (already checked when its environment was loaded). */
export function trainingConfigOf(env: ComponentEnvironment): TrainingConfig {
  return parseTrainingConfig(env.FLOPS_TRAINING_CONFIG, 'FLOPS_TRAINING_CONFIG');
}
