import { Logger } from '@nestjs/common';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ML_REPO_MANIFEST, MlRepoManifest, ModelManager, ModelManagerContext, RepoLayout, repoLayoutOf } from '@flops/contracts';
import { PythonEnvSettings, pythonForRepo } from './python-env';
import { PythonModelManager, PythonWorker } from './python-worker';
import { RegistryClient, parseImageReference, pullImageToDirectory } from '@flops/oci-registry';

/** Where flops_utils lives in a FLOps checkout (put on the Python worker's PYTHONPATH). */
export const PYTHON_RUNTIME_DIR = 'python';

/** The user's code could not be fetched or loaded; the learner cannot work. */
export class UserCodeError extends Error {}

/**
 * Pulls the learner image from the registry and unpacks it into a cache keyed by the image
 * digest, so learners on one machine unpack each image once. Returns the code folder.
 */
export async function pullUserCode(registry: RegistryClient, image: string, cacheDir: string): Promise<string> {
  const ref = parseImageReference(image);
  const reference = ref.digest ?? ref.tag ?? 'latest';
  const digest = ref.digest ?? (await registry.resolveTag(ref.repository, reference));
  if (!digest) throw new UserCodeError(`image ${image} is not in the registry`);
  const target = resolve(cacheDir, 'images', digest.replace(':', '-'));
  if (await stat(target).catch(() => null)) return target; // complete: it appears only by the rename below
  await mkdir(resolve(cacheDir, 'images'), { recursive: true });
  const staging = await mkdtemp(`${target}.partial-`);
  try {
    await pullImageToDirectory(registry, ref.repository, digest, staging);
    // Rename is atomic: a concurrent learner either sees the whole folder or none of it.
    await rename(staging, target).catch(async (error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
      await rm(staging, { recursive: true, force: true });
    });
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
  return target;
}

/** The repo's layout, read from its root (the same rule the builder applied). */
export async function repoLayoutIn(codeDir: string): Promise<RepoLayout> {
  const entries = await readdir(codeDir, { withFileTypes: true });
  const files = new Set(entries.filter((e) => e.isFile()).map((e) => e.name));
  let manifestJson: unknown;
  if (files.has(ML_REPO_MANIFEST)) {
    try {
      manifestJson = JSON.parse(await readFile(join(codeDir, ML_REPO_MANIFEST), 'utf8'));
    } catch (error) {
      throw new UserCodeError(`${ML_REPO_MANIFEST} is not valid JSON: ${(error as Error).message}`);
    }
  }
  const { layout, problems } = repoLayoutOf(files, manifestJson);
  if (!layout) throw new UserCodeError(problems.join('; '));
  return layout;
}

export interface LoadContext extends Omit<ModelManagerContext, 'tf' | 'log'> {
  dataDir?: string;
  /** How the learner gets a Python for a Python repo: a given interpreter, or a cached venv. */
  python: { interpreter?: string; runtimeDir: string; env: Omit<PythonEnvSettings, 'log'>; taskTimeoutMs: number };
}

/** Loads the user's code with the runtime its layout needs: tfjs in-process, or a Python worker. */
export async function loadModelManager(codeDir: string, context: LoadContext): Promise<ModelManager> {
  const layout = await repoLayoutIn(codeDir);
  switch (layout.runtime) {
    case 'tfjs-4':
      return loadTfjsModelManager(codeDir, layout.manifest, context);
    case 'python-3':
      return loadPythonModelManager(codeDir, layout, context);
  }
}

async function loadPythonModelManager(codeDir: string, layout: Extract<RepoLayout, { runtime: 'python-3' }>, context: LoadContext): Promise<ModelManager> {
  const logger = new Logger('PythonWorker');
  const log = (line: string): void => logger.log(line);
  let python = context.python.interpreter;
  if (!python) {
    if (!layout.dependencies) throw new UserCodeError('the Python repo declares no dependencies file');
    python = await pythonForRepo(codeDir, layout.dependencies, { ...context.python.env, log });
  }
  const worker = new PythonWorker({ python, runtimeDir: context.python.runtimeDir, taskTimeoutMs: context.python.taskTimeoutMs, log });
  try {
    return await PythonModelManager.load(worker, { repoDir: codeDir, dataDir: context.dataDir, dataTags: context.dataTags, partition: context.partition, seed: context.seed });
  } catch (error) {
    await worker.close();
    throw error;
  }
}

/** Loads the user's entry module and asks it for a model manager (repo contract flops/v1). */
async function loadTfjsModelManager(codeDir: string, manifest: MlRepoManifest, context: LoadContext): Promise<ModelManager> {
  const logger = new Logger('UserCode');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const entry = require(resolve(codeDir, manifest.entry)) as { createModelManager?: (ctx: ModelManagerContext) => unknown };
  if (typeof entry.createModelManager !== 'function') {
    throw new UserCodeError(`${manifest.entry} does not export createModelManager(ctx)`);
  }
  const { partition, dataTags, hyperparameters, seed } = context;
  const manager = (await entry.createModelManager({ partition, dataTags, hyperparameters, seed, tf, log: (m) => logger.log(m) })) as Partial<ModelManager>;
  for (const method of ['getWeights', 'setWeights', 'fit', 'evaluate'] as const) {
    if (typeof manager?.[method] !== 'function') throw new UserCodeError(`the model manager has no ${method}() method`);
  }
  return manager as ModelManager;
}
