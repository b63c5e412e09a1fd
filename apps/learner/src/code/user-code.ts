import { Logger } from '@nestjs/common';
import { mkdir, mkdtemp, readFile, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ML_REPO_MANIFEST, ModelManager, ModelManagerContext, parseMlRepoManifest } from '@flops/contracts';
import { RegistryClient, parseImageReference, pullImageToDirectory } from '@flops/oci-registry';

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
  if (await stat(join(target, ML_REPO_MANIFEST)).catch(() => null)) return target;
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

/** Loads the user's entry module and asks it for a model manager (repo contract flops/v1). */
export async function loadModelManager(codeDir: string, context: Omit<ModelManagerContext, 'tf' | 'log'>): Promise<ModelManager> {
  const logger = new Logger('UserCode');
  const manifestText = await readFile(join(codeDir, ML_REPO_MANIFEST), 'utf8').catch(() => {
    throw new UserCodeError(`${ML_REPO_MANIFEST} is missing in the learner image`);
  });
  const { manifest, problems } = parseMlRepoManifest(JSON.parse(manifestText));
  if (!manifest) throw new UserCodeError(`${ML_REPO_MANIFEST}: ${problems.join('; ')}`);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const entry = require(resolve(codeDir, manifest.entry)) as { createModelManager?: (ctx: ModelManagerContext) => unknown };
  if (typeof entry.createModelManager !== 'function') {
    throw new UserCodeError(`${manifest.entry} does not export createModelManager(ctx)`);
  }
  const manager = (await entry.createModelManager({ ...context, tf, log: (m) => logger.log(m) })) as Partial<ModelManager>;
  for (const method of ['getWeights', 'setWeights', 'fit', 'evaluate'] as const) {
    if (typeof manager?.[method] !== 'function') throw new UserCodeError(`the model manager has no ${method}() method`);
  }
  return manager as ModelManager;
}
