import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { PYTHON_REPO_FILES, PythonDependencyFile } from '@flops/contracts';

const run = promisify(execFile);

/** The repo's Python dependencies could not be read or installed; the message names what failed. */
export class PythonDependencyError extends Error {}

/**
 * The pip requirements a repo declares: its requirements.txt, or the `pip:` list of its conda.yaml
 * (conda packages other than python and pip cannot be installed with pip and are named in `ignored`).
 */
export function requirementsOf(file: PythonDependencyFile, text: string): { requirements: string[]; ignored: string[] } {
  if (file === PYTHON_REPO_FILES.requirements) {
    const requirements = text
      .split('\n')
      .map((line) => line.replace(/(^|\s)#.*$/, '').trim())
      .filter(Boolean);
    return { requirements, ignored: [] };
  }
  let env: unknown;
  try {
    env = parseYaml(text);
  } catch (error) {
    throw new PythonDependencyError(`${file} is not valid YAML: ${(error as Error).message}`);
  }
  const dependencies = (env as { dependencies?: unknown } | null)?.dependencies ?? [];
  if (!Array.isArray(dependencies)) throw new PythonDependencyError(`${file}: "dependencies" must be a list`);
  const requirements: string[] = [];
  const ignored: string[] = [];
  for (const dep of dependencies) {
    if (typeof dep === 'string') {
      // The Python version is advisory (the runtime has its own) and pip is there already.
      if (!/^(python|pip)\b/.test(dep.trim())) ignored.push(dep.trim());
    } else if (dep && typeof dep === 'object' && Array.isArray((dep as { pip?: unknown }).pip)) {
      for (const req of (dep as { pip: unknown[] }).pip) {
        if (typeof req !== 'string') throw new PythonDependencyError(`${file}: every pip requirement must be a string, not ${JSON.stringify(req)}`);
        requirements.push(req.trim());
      }
    } else {
      throw new PythonDependencyError(`${file}: unexpected dependency ${JSON.stringify(dep)}`);
    }
  }
  return { requirements, ignored };
}

/** pip's own error lines from its output (what to tell the user), else the output's last lines. */
export function pipErrorLines(output: string): string {
  const lines = output.split('\n').map((l) => l.trimEnd());
  const errors = lines.filter((l) => /^ERROR:|error:|No matching distribution|Could not find a version/.test(l));
  return (errors.length ? errors : lines.filter(Boolean).slice(-8)).join('\n');
}

export interface PythonEnvSettings {
  /** tools/python-venv.sh of the FLOps checkout. */
  venvScript: string;
  /** flops_utils' own requirements (python/requirements.txt). */
  runtimeRequirements: string;
  /** Where the combined requirements files are kept (the learner's cache folder). */
  cacheDir: string;
  log: (line: string) => void;
}

/**
 * A Python with the repo's dependencies and flops_utils' installed: the cached venv of
 * tools/python-venv.sh for the repo's requirements on top of flops_utils' own, so every learner of
 * every project with the same dependencies shares one venv, built once.
 */
export async function pythonForRepo(repoDir: string, file: PythonDependencyFile, settings: PythonEnvSettings): Promise<string> {
  const text = await readFile(join(repoDir, file), 'utf8');
  const { requirements, ignored } = requirementsOf(file, text);
  if (ignored.length) settings.log(`${file}: conda packages ${ignored.join(', ')} are not installed (list them under pip:)`);
  const combined = `# the repo's ${file}\n${requirements.join('\n')}\n`;
  const hash = createHash('sha256').update(combined).digest('hex').slice(0, 16);
  // The folder's name becomes the venv's name; the file is written atomically as learners may race.
  const dir = resolve(settings.cacheDir, 'python-requirements', `learner-${hash}`);
  await mkdir(dir, { recursive: true });
  const path = join(dir, 'requirements.txt');
  const temp = `${path}.${process.pid}`;
  await writeFile(temp, combined);
  await rename(temp, path);
  settings.log(`installing the repo's Python dependencies (${requirements.join(', ') || 'none'}) into a cached venv, if not there yet`);
  try {
    // Layered on flops_utils' venv: pip installs only what that lacks or the repo pins otherwise.
    const { stdout } = await run('bash', [settings.venvScript, '--base', settings.runtimeRequirements, path], { maxBuffer: 64 * 1024 * 1024 });
    return stdout.trim();
  } catch (error) {
    const { stderr = '', message } = error as { stderr?: string; message: string };
    throw new PythonDependencyError(`could not install the repo's Python dependencies from ${file}:\n${pipErrorLines(stderr || message)}`);
  }
}
