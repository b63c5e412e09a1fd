import { createHash } from 'node:crypto';
import { IsIn, IsOptional, IsString, Matches, MaxLength } from 'class-validator';
import { validatePayload } from './messages';

/**
 * The ML repo contract, version flops/v1 (docs/ml-repo-contract.md). A repo either has `flops.json`
 * at its root naming a CommonJS entry that exports `createModelManager(ctx)`, or is in the original
 * FLOps Python layout (`model_manager.py`, `data_manager.py`, `conda.yaml` or `requirements.txt`).
 */
export const ML_REPO_CONTRACT = 'flops/v1';
export const ML_REPO_MANIFEST = 'flops.json';
export const SUPPORTED_RUNTIMES = ['tfjs-4'] as const;
export type LearnerRuntime = (typeof SUPPORTED_RUNTIMES)[number];

export class MlRepoManifest {
  @IsIn([ML_REPO_CONTRACT]) contract!: string;
  @Matches(/^[a-z0-9][a-z0-9-]{0,62}$/, { message: 'name must be lowercase letters, digits and dashes' }) name!: string;
  @IsIn(SUPPORTED_RUNTIMES) runtime!: LearnerRuntime;
  /** Relative path of the entry module inside the repo. */
  @IsString() @MaxLength(200) @Matches(/^(?!\/)(?!.*\.\.)[\w./-]+\.(c?js)$/, { message: 'entry must be a relative .js or .cjs path inside the repo' })
  entry!: string;
  @IsOptional() @IsString() @MaxLength(2000) description?: string;
}

/** The runtimes a learner has: tfjs for a manifest repo, the Python worker (flops_utils) for the Python layout. */
export const LEARNER_RUNTIMES = ['tfjs-4', 'python-3'] as const;
export type LearnerRuntimeKind = (typeof LEARNER_RUNTIMES)[number];

/** The files of the original FLOps Python layout, at the repo root. */
export const PYTHON_REPO_FILES = {
  modelManager: 'model_manager.py',
  dataManager: 'data_manager.py',
  requirements: 'requirements.txt',
  conda: 'conda.yaml',
} as const;

/** Where a Python repo declares its dependencies: requirements.txt wins over conda.yaml's pip section. */
export type PythonDependencyFile = typeof PYTHON_REPO_FILES.requirements | typeof PYTHON_REPO_FILES.conda;

export type RepoLayout =
  | { runtime: 'tfjs-4'; manifest: MlRepoManifest }
  | { runtime: 'python-3'; dependencies?: PythonDependencyFile };

/**
 * Which runtime a repo needs, from the names of the regular files at its root and the parsed
 * `flops.json` when there is one. A manifest decides; otherwise `model_manager.py` makes it a
 * Python repo. Pure, so the builder and the learner decide alike.
 */
export function repoLayoutOf(rootFiles: ReadonlySet<string>, manifestJson?: unknown): { layout?: RepoLayout; problems: string[] } {
  if (rootFiles.has(ML_REPO_MANIFEST)) {
    const { manifest, problems } = parseMlRepoManifest(manifestJson);
    return manifest ? { layout: { runtime: manifest.runtime, manifest }, problems: [] } : { problems: problems.map((p) => `${ML_REPO_MANIFEST}: ${p}`) };
  }
  if (rootFiles.has(PYTHON_REPO_FILES.modelManager)) {
    const problems = rootFiles.has(PYTHON_REPO_FILES.dataManager) ? [] : [`a Python repo needs ${PYTHON_REPO_FILES.dataManager} beside ${PYTHON_REPO_FILES.modelManager}`];
    const dependencies = [PYTHON_REPO_FILES.requirements, PYTHON_REPO_FILES.conda].find((f) => rootFiles.has(f));
    if (!dependencies) problems.push(`a Python repo needs ${PYTHON_REPO_FILES.conda} or ${PYTHON_REPO_FILES.requirements} to declare its dependencies`);
    return problems.length ? { problems } : { layout: { runtime: 'python-3', dependencies }, problems };
  }
  return {
    problems: [
      `${ML_REPO_MANIFEST} is missing at the repo root (contract ${ML_REPO_CONTRACT}), and there is no ${PYTHON_REPO_FILES.modelManager} for the FLOps Python layout either`,
    ],
  };
}

export function parseMlRepoManifest(raw: unknown): { manifest?: MlRepoManifest; problems: string[] } {
  const { value, problems } = validatePayload(MlRepoManifest, raw);
  return { manifest: value, problems };
}

export interface NamedTensorLike {
  name: string;
  shape: number[];
  values: Float32Array;
}

/** What the learner runtime hands to `createModelManager`. */
export interface ModelManagerContext {
  tf: unknown;
  partition: { index: number; count: number };
  dataTags: string[];
  hyperparameters: Record<string, number | string | boolean>;
  seed: number;
  log: (message: string) => void;
}

/**
 * What the project's strategy asks of a fit (docs/ml-repo-contract.md, "Strategies"): present only for
 * strategies with a learner side. Tensors are in the model's layout (getWeights' names and order).
 */
export interface FitStrategyInputs {
  /** FedProx: add (proximalMu / 2)·‖w − globalWeights‖² to the local loss. */
  proximalMu?: number;
  /** FedProx: the global model this fit started from (read only). */
  globalWeights?: NamedTensorLike[];
  /**
   * SCAFFOLD: c − c_i, to add to every local gradient (g ← g + correction); fit() must then return
   * scaffoldStepSizeSum, the sum of the learning rates of its local steps (K·η_l with a constant rate).
   */
  scaffoldCorrection?: NamedTensorLike[];
}

export interface FitResult {
  numSamples: number;
  metrics: Record<string, number>;
  /** SCAFFOLD only: Σ of the local steps' learning rates. */
  scaffoldStepSizeSum?: number;
}

/** What the user's `createModelManager` returns. */
export interface ModelManager {
  getWeights(): Promise<NamedTensorLike[]>;
  setWeights(tensors: NamedTensorLike[]): Promise<void>;
  fit(args: { round: number; hyperparameters: Record<string, number | string | boolean>; strategy?: FitStrategyInputs }): Promise<FitResult>;
  evaluate(): Promise<{ numSamples: number; loss: number; accuracy: number } & Record<string, number>>;
  dispose?(): void | Promise<void>;
}

/**
 * Version of the learner runtime an image is built for (tfjs 4.22, runtime revision 1). It is
 * part of every learner image tag, so a new runtime never reuses an image built for an old one.
 */
export const LEARNER_RUNTIME_VERSION = 'tfjs4.22-r1';

/** A registry- and name-safe slug of a repo URL: `https://host/org/Digits-TFJS.git` → `digits-tfjs`. */
export function repoSlug(url: string): string {
  const last = url.replace(/[\\/]+$/, '').split(/[\\/:]/).pop() ?? '';
  // Shorten before trimming dashes, so a cut never leaves a trailing dash (invalid in registry paths).
  const slug = last.replace(/\.git$/, '').toLowerCase().replace(/[^a-z0-9]+/g, '-').slice(0, 50).replace(/^-+|-+$/g, '');
  return slug || `repo-${createHash('sha256').update(url).digest('hex').slice(0, 8)}`;
}

/**
 * Where a repo's learner images live: named by the repo, not the project, so every project
 * training the same repo shares its images (and its cache hits); the hash keeps two repos with
 * the same name apart.
 */
export function learnerImageRepository(namespace: string, repoUrl: string): string {
  const hash = createHash('sha256').update(repoUrl.replace(/\/+$/, '')).digest('hex').slice(0, 8);
  return `${namespace}/learners/${repoSlug(repoUrl)}-${hash}`;
}
