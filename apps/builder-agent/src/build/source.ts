import { execFile } from 'node:child_process';
import { cp, mkdtemp, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BuildError } from './build-errors';

const run = promisify(execFile);

/** Where the code comes from and which exact revision of it. */
export interface ResolvedSource {
  kind: 'git' | 'directory';
  url: string;
  /** Full commit SHA for git; for a plain directory, filled in from its content once packed. */
  commit?: string;
}

const SHA = /^[0-9a-f]{40}$/;

/** A plain directory (no `.git`) is copied as it is; anything else is treated as a git remote. */
export async function resolveSource(url: string, ref: string | undefined, timeoutMs: number): Promise<ResolvedSource> {
  const local = await stat(url).catch(() => null);
  if (local?.isDirectory() && !(await stat(join(url, '.git')).catch(() => null))) {
    return { kind: 'directory', url };
  }
  if (ref && SHA.test(ref)) return { kind: 'git', url, commit: ref };
  const wanted = ref ?? 'HEAD';
  // `<ref>^{}` too: a pattern alone does not list the peeled line, i.e. the commit of an annotated tag.
  const { stdout } = await git(['ls-remote', '--', url, wanted, `${wanted}^{}`], timeoutMs, 'fetch');
  // ls-remote may list a branch and a tag of that name; prefer the exact ref, then peeled tags.
  const lines = stdout.trim().split('\n').filter(Boolean).map((l) => l.split('\t') as [string, string]);
  const match =
    lines.find(([, name]) => name === `${wanted}^{}`) ?? // a fully qualified annotated tag: its commit
    lines.find(([, name]) => name === wanted || name === `refs/heads/${wanted}`) ??
    lines.find(([, name]) => name === `refs/tags/${wanted}^{}`) ??
    lines.find(([, name]) => name === `refs/tags/${wanted}`);
  if (!match) throw new BuildError('fetch', `ref "${wanted}" not found in ${url}`);
  return { kind: 'git', url, commit: match[0] };
}

/** Materialise the source in a fresh folder under `workDir`; the caller removes it. */
export async function checkout(source: ResolvedSource, workDir: string, timeoutMs: number): Promise<string> {
  const dir = await mkdtemp(join(workDir, 'src-'));
  try {
    if (source.kind === 'directory') {
      await cp(source.url, dir, { recursive: true, verbatimSymlinks: true });
      return dir;
    }
    await git(['init', '--quiet', dir], timeoutMs, 'fetch');
    await git(['-C', dir, 'fetch', '--quiet', '--depth', '1', '--', source.url, source.commit!], timeoutMs, 'fetch').catch(async () => {
      // Some servers refuse fetching a bare commit; fall back to the full history.
      await git(['-C', dir, 'fetch', '--quiet', '--', source.url, '+refs/heads/*:refs/remotes/origin/*', '+refs/tags/*:refs/tags/*'], timeoutMs, 'fetch');
    });
    await git(['-C', dir, 'checkout', '--quiet', source.commit!], timeoutMs, 'fetch');
    return dir;
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

async function git(args: string[], timeoutMs: number, phase: 'fetch'): Promise<{ stdout: string }> {
  try {
    return await run('git', args, {
      timeout: timeoutMs,
      maxBuffer: 16 * 1024 * 1024,
      env: { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: 'true' },
    });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new BuildError(phase, `git ${args[0] === '-C' ? args[2] : args[0]} failed: ${stderr || (error as Error).message}`);
  }
}
