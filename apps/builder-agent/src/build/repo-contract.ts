import { execFile } from 'node:child_process';
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { ML_REPO_MANIFEST, MlRepoManifest, PYTHON_REPO_FILES, RepoLayout, repoLayoutOf } from '@flops/contracts';
import { BuildError } from './build-errors';

const run = promisify(execFile);

/**
 * Checks a checked-out repo against the ML repo contract (docs/ml-repo-contract.md) and returns
 * its layout: a flops.json repo or one in the FLOps Python layout. Every problem is a BuildError in
 * the `contract` phase with a reason that says what to fix.
 */
export async function checkRepoContract(dir: string): Promise<RepoLayout> {
  const entries = await readdir(dir, { withFileTypes: true });
  const files = new Set(entries.filter((e) => e.isFile()).map((e) => e.name));
  let raw: unknown;
  if (files.has(ML_REPO_MANIFEST)) {
    try {
      raw = JSON.parse(await readFile(join(dir, ML_REPO_MANIFEST), 'utf8'));
    } catch (error) {
      throw new BuildError('contract', `${ML_REPO_MANIFEST} is not valid JSON: ${(error as Error).message}`);
    }
  }
  const { layout, problems } = repoLayoutOf(files, raw);
  if (!layout) throw new BuildError('contract', problems.join('; '));
  switch (layout.runtime) {
    case 'tfjs-4':
      await checkJsEntry(dir, layout.manifest);
      break;
    case 'python-3':
      await checkPythonLayout(dir);
      break;
  }
  return layout;
}

/** A syntax error found now is a build failure with a line number, not a failure of every learner. */
async function checkPythonLayout(dir: string): Promise<void> {
  const sources = [PYTHON_REPO_FILES.modelManager, PYTHON_REPO_FILES.dataManager];
  // ast.parse writes nothing (py_compile would leave __pycache__ in the packed repo).
  const script = 'import ast, sys\nfor f in sys.argv[1:]:\n    ast.parse(open(f, "rb").read(), f)';
  await run('python3', ['-c', script, ...sources], { cwd: dir, timeout: 30_000 }).catch((error: { stderr?: string; code?: string }) => {
    if (error.code === 'ENOENT') return; // no Python here: the learner reports it instead
    const lines = error.stderr?.trim().split('\n') ?? [];
    throw new BuildError('contract', `a Python file does not parse: ${lines.slice(-4).join(' ')}`);
  });
  const source = await readFile(join(dir, PYTHON_REPO_FILES.modelManager), 'utf8');
  if (!/^class\s+ModelManager\b/m.test(source)) {
    throw new BuildError('contract', `${PYTHON_REPO_FILES.modelManager} must define a class ModelManager`);
  }
}

async function checkJsEntry(dir: string, manifest: MlRepoManifest): Promise<void> {
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
}
