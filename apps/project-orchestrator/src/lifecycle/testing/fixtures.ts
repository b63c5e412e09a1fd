/**
 * Test data shared by the orchestrator's unit specs: projects and what they carry, model artifacts
 * and a clock the test moves by hand. Test support only: no production module imports this.
 */
import { MODEL_ARTIFACT_TYPE, TrainingConfig } from '@flops/contracts';
import { ProjectState, isTerminal } from '@flops/lifecycle';
import { ImageRecord, ModelRecord, ProjectRecord, RoundRecord } from '@flops/models';
import { EMPTY_DESCRIPTOR, MediaTypes, OciManifest } from '@flops/oci-registry';
import type { PlannerSettings } from '../../deployment/component-planner';
import type { ProjectEvent } from '../project-events';

const S = ProjectState;

/** Default start of the test clock, and the time projects are dated from. */
export const T0 = Date.parse('2024-05-01T12:00:00.000Z');
export const REGISTRY_HOST = '127.0.0.1:5000';
export const NAMESPACE = 'flops';
export const IMAGE_DIGEST = `sha256:${'a'.repeat(64)}`;
export const MODEL_DIGEST = `sha256:${'c'.repeat(64)}`;

// ---- projects ----------------------------------------------------------------------------------

/** Small and fast: deadlines derived from its round timeout (10 s) stay below the fixed ones. */
export function aTrainingConfig(overrides: Partial<TrainingConfig> = {}): TrainingConfig {
  return {
    rounds: 3,
    learners: 2,
    minLearnersPerRound: 2,
    strategy: 'fedavg',
    strategyParams: {},
    fractionFit: 1,
    fractionEvaluate: 1,
    hyperparameters: { epochs: 1 },
    dataTags: [],
    roundTimeoutSeconds: 10,
    seed: 42,
    ...overrides,
  };
}

/** The learner image the builder reported for `https://git.example/org/digits.git` at `abc`. */
export function anImage(overrides: Partial<ImageRecord> = {}): ImageRecord {
  return {
    reference: `${REGISTRY_HOST}/${NAMESPACE}/learners/digits:abc-tfjs4`,
    digest: IMAGE_DIGEST,
    sourceRevision: 'abc',
    cacheHit: false,
    durations: { fetchMs: 1, checkMs: 2, buildMs: 3, pushMs: 4 },
    ...overrides,
  };
}

/** A final model stored for the project, pinned by digest. */
export function aModel(overrides: Partial<ModelRecord> = {}): ModelRecord {
  return { reference: `${REGISTRY_HOST}/${NAMESPACE}/models/p1@${MODEL_DIGEST}`, digest: MODEL_DIGEST, sizeBytes: 1234, ...overrides };
}

export interface ProjectFactoryOptions {
  /** When the test clock starts (default T0): projects are created a minute before it, due far after it. */
  t0?: number;
  /**
   * Give each project what its state implies, unless overridden: the image once it has been built
   * (DEPLOYING on), and no deadline once it has ended. Off by default: a project then carries only
   * what a test gives it.
   */
  matchState?: boolean;
  /** Fields every project of this factory starts from (a fresh object per project); overrides win. */
  defaults?: () => Partial<ProjectRecord>;
}

const BEFORE_IMAGE = new Set<ProjectState>([S.SUBMITTED, S.IMAGE_CHECK, S.BUILDING]);
let projectSeq = 0;

/**
 * Makes an `aProject(overrides)` for a spec. Each project gets a fresh id (`p1`, `p2`, … per test
 * file), version 3, the training config above, and one history entry: its submission into its state.
 */
export function projectFactory(options: ProjectFactoryOptions = {}): (overrides?: Partial<ProjectRecord>) => ProjectRecord {
  const { t0 = T0, matchState = false, defaults = () => ({}) } = options;
  return (overrides = {}) => {
    const fields = { ...defaults(), ...overrides };
    const createdAt = new Date(t0 - 60_000);
    const state = fields.state ?? S.SUBMITTED;
    return {
      _id: `p${++projectSeq}`,
      name: 'digits',
      state,
      version: 3,
      repo: { url: 'https://git.example/org/digits.git' },
      training: aTrainingConfig(),
      resources: {},
      ...(matchState ? { image: BEFORE_IMAGE.has(state) ? undefined : anImage() } : {}),
      rounds: [],
      history: [{ from: null, to: state, at: createdAt, event: 'submitted' }],
      deadlineAt: matchState && isTerminal(state) ? null : new Date(t0 + 999_999),
      createdAt,
      updatedAt: createdAt,
      ...fields,
    };
  };
}

/** A project in SUBMITTED (or the state given) dated from T0, carrying only what the overrides give it. */
export const aProject = projectFactory();

// ---- rounds --------------------------------------------------------------------------------------

/** Round `round` as the aggregator reports it: loss falls and accuracy rises with the round. */
export function aRound(round: number): Omit<RoundRecord, 'at'> {
  return { round, learners: 2, samples: 100 * round, trainMetrics: { loss: 1 / round }, evalMetrics: { accuracy: 0.5 + round / 100 }, durationMs: 10 };
}

export function roundCompleted(round: number): ProjectEvent {
  return { kind: 'round.completed', round, roundRecord: aRound(round) };
}

// ---- models in the registry ---------------------------------------------------------------------

/** A model artifact as the aggregator pushes it: empty config, one blob per layer size, these annotations. */
export function aModelManifest(annotations: Record<string, string> | undefined, layerSizes: number[] = [1000, 234]): OciManifest {
  return {
    schemaVersion: 2,
    mediaType: MediaTypes.imageManifest,
    artifactType: MODEL_ARTIFACT_TYPE,
    config: { ...EMPTY_DESCRIPTOR },
    layers: layerSizes.map((size, i) => ({ mediaType: MediaTypes.octetStream, digest: `sha256:${String(i).repeat(64)}`, size })),
    ...(annotations ? { annotations } : {}),
  };
}

// ---- planner and clock ---------------------------------------------------------------------------

/** Planner settings pointing at a test broker and the registry at REGISTRY_HOST. */
export function plannerSettings(overrides: Partial<PlannerSettings> = {}): PlannerSettings {
  return {
    mqttUrl: 'mqtt://broker.test:1883',
    registryUrl: `http://${REGISTRY_HOST}`,
    registryNamespace: NAMESPACE,
    runtimeVersion: '0.1.0',
    logLevel: 'log',
    logFormat: 'text',
    ...overrides,
  };
}

/** A clock that moves only when the test says so; pass `clock.now` where a `() => Date` is wanted. */
export class TestClock {
  private t: number;

  constructor(start: number = T0) {
    this.t = start;
  }

  now = (): Date => new Date(this.t);

  advance(ms: number): void {
    this.t += ms;
  }

  /** The time `ms` from now. */
  plus(ms: number): Date {
    return new Date(this.t + ms);
  }
}
