import { execFile } from 'node:child_process';
import { lstat, readFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { ML_REPO_CONTRACT, ML_REPO_MANIFEST, MlRepoManifest, parseMlRepoManifest } from '@flops/contracts';
import { BuildError } from './build-errors';

const run = promisify(execFile);

/**
 * Checks a checked-out repo against the ML repo contract (docs/ml-repo-contract.md) and
 * returns its manifest. Every problem is a BuildError in the `contract` phase with a reason
 * that says what to fix.
 */
export async function checkRepoContract(dir: string): Promise<MlRepoManifest> {
  const manifestPath = join(dir, ML_REPO_MANIFEST);
  const text = await readFile(manifestPath, 'utf8').catch(() => null);
  if (text === null) throw new BuildError('contract', `${ML_REPO_MANIFEST} is missing at the repo root (contract ${ML_REPO_CONTRACT})`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new BuildError('contract', `${ML_REPO_MANIFEST} is not valid JSON: ${(error as Error).message}`);
  }
  const { manifest, problems } = parseMlRepoManifest(raw);
  if (!manifest) throw new BuildError('contract', `${ML_REPO_MANIFEST}: ${problems.join('; ')}`);

  const entry = resolve(dir, manifest.entry);
  if (relative(dir, entry).startsWith('..')) throw new BuildError('contract', `entry ${manifest.entry} is outside the repo`);
  const info = await lstat(entry).catch(() => null);
  if (!info?.isFile()) throw new BuildError('contract', `entry ${manifest.entry} named in ${ML_REPO_MANIFEST} is not a file in the repo`);
  // A syntax error found now is a build failure with a line number, not a crash on every learner.
  await run(process.execPath, ['--check', entry], { timeout: 30_000 }).catch((error: { stderr?: string }) => {
    throw new BuildError('contract', `entry ${manifest.entry} does not parse: ${error.stderr?.trim().split('\n').slice(0, 5).join(' ') ?? ''}`);
  });
  const source = await readFile(entry, 'utf8');
  if (!/createModelManager/.test(source)) {
    throw new BuildError('contract', `entry ${manifest.entry} must export createModelManager(ctx)`);
  }
  return manifest;
}
