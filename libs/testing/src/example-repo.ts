import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { WORKSPACE_ROOT } from './platform';

export const EXAMPLE_REPO = join(WORKSPACE_ROOT, 'examples', 'digits-tfjs');
/** The example in the original FLOps Python layout (scikit-learn). */
export const SKLEARN_EXAMPLE_REPO = join(WORKSPACE_ROOT, 'examples', 'digits-sklearn');

/**
 * A fresh copy of the bundled example repo, made unique by a nonce file so that its image is not
 * in the registry yet (its first submission really builds). With `git`, it is a git repository
 * with one commit on `main`.
 */
export function exampleRepoCopy(options: { git?: boolean; change?: (dir: string) => void; example?: string } = {}): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'flops-repo-'));
  cpSync(options.example ?? EXAMPLE_REPO, dir, { recursive: true, filter: (src) => !src.includes('node_modules') && !src.includes('__pycache__') && !src.endsWith('.spec.ts') });
  writeFileSync(join(dir, '.nonce'), randomBytes(16).toString('hex'));
  options.change?.(dir);
  if (options.git) {
    const git = (...args: string[]): void => {
      execFileSync('git', args, { cwd: dir, stdio: 'ignore' });
    };
    git('init', '--quiet', '--initial-branch=main');
    git('add', '-A');
    git('-c', 'user.name=FLOps test', '-c', 'user.email=test@flops.invalid', 'commit', '--quiet', '-m', 'example');
  }
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
