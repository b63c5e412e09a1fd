import { UnsafeLayerError } from './errors';

/**
 * Splits a tar entry path into components, refusing anything that could land outside the
 * extraction root: absolute paths, `..` components, NUL bytes. `.` and empty components are
 * dropped, so `./a//b/` → ['a', 'b']; the root itself (`./`) → [].
 */
export function entryPathComponents(raw: string): string[] {
  if (raw.includes('\0')) throw new UnsafeLayerError(raw, 'path contains a NUL byte');
  if (raw.startsWith('/')) throw new UnsafeLayerError(raw, 'absolute path');
  const parts = raw.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new UnsafeLayerError(raw, 'path traversal ("..")');
  return parts;
}

/**
 * Symlink policy (shared by packing and unpacking, so every layer we pack can be unpacked):
 * a symlink target must be relative, may start with `..` components but contain no `..` after a
 * name component (`../lib/x` is fine, `a/../../x` is refused), must not climb above the layer
 * root, and must not contain NUL. This is checked purely lexically; it is sound because the
 * unpacker never writes through a symlink (every parent directory of every entry must be a real
 * directory), so a link's leading `..`s always climb real directories, and every further hop
 * through another link is itself confined by the same rule.
 *
 * @param entryParts components of the link's own path (see entryPathComponents)
 */
export function checkSymlinkTarget(entryPath: string, entryParts: string[], target: string): void {
  if (!target) throw new UnsafeLayerError(entryPath, 'symlink with an empty target');
  if (target.includes('\0')) throw new UnsafeLayerError(entryPath, 'symlink target contains a NUL byte');
  if (target.startsWith('/')) {
    throw new UnsafeLayerError(entryPath, `symlink to absolute path ${JSON.stringify(target)}`);
  }
  let ups = 0;
  let sawName = false;
  for (const c of target.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (sawName) {
        throw new UnsafeLayerError(entryPath, `symlink target ${JSON.stringify(target)} has ".." after a name component`);
      }
      ups++;
    } else {
      sawName = true;
    }
  }
  const depth = entryParts.length - 1; // directories above the link, up to the root
  if (ups > depth) {
    throw new UnsafeLayerError(entryPath, `symlink target ${JSON.stringify(target)} points outside the root`);
  }
}
