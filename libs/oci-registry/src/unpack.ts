import { constants as fsConstants } from 'node:fs';
import { chmod, copyFile, lstat, mkdir, open, readdir, realpath, rm, symlink, unlink } from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { gunzip as gunzipCb } from 'node:zlib';
import { Parser, ReadEntry } from 'tar';
import { verifyDigest } from './digest';
import { UnsafeLayerError } from './errors';
import { checkSymlinkTarget, entryPathComponents } from './layer-paths';
import { MediaTypes } from './types';

const gunzip = promisify(gunzipCb);

export interface UnpackLayerOptions {
  /** Layer media type; gzip (OCI or Docker) and uncompressed tar are supported. Default OCI tar+gzip. */
  mediaType?: string;
  /** Expected sha256 of the uncompressed tar (the config's rootfs.diff_ids entry); checked before writing. */
  expectedDiffId?: string;
}

type Kind = 'file' | 'directory' | 'symlink' | 'hardlink';

interface Entry {
  raw: string;
  parts: string[];
  kind: Kind;
  mode: number;
  data: Buffer;
  /** symlink target (verbatim) or hard-link target components */
  linkname?: string;
  linkParts?: string[];
}

interface Whiteout {
  raw: string;
  /** directory whose lower-layer content is hidden (opaque) or the path to delete */
  parts: string[];
  opaque: boolean;
}

/**
 * Extracts one layer into `destDir` (created if missing) with overlay semantics: later layers
 * overwrite earlier files, and OCI whiteouts (`.wh.<name>`, `.wh..wh..opq`) delete lower content.
 *
 * Safety: the whole archive is parsed and validated before anything is written; it is refused
 * with UnsafeLayerError if any entry has an absolute path, a `..` component, is a device / FIFO /
 * unsupported type, is a hard link to outside the root, or is a symlink whose target is absolute
 * or climbs out of the root (see checkSymlinkTarget). While writing, no path is ever resolved
 * through a symlink: an entry whose parent directory is a symlink is refused, and existing leaf
 * entries are removed (not followed) before being replaced. Ownership and mtimes are not applied;
 * modes are kept minus setuid/setgid/sticky bits (directories always get u+rwx).
 *
 * The layer is processed in memory (compressed + uncompressed size).
 */
export async function unpackLayer(blob: Uint8Array, destDir: string, opts: UnpackLayerOptions = {}): Promise<void> {
  const mediaType = opts.mediaType ?? MediaTypes.layerTarGzip;
  let tar: Buffer;
  switch (mediaType) {
    case MediaTypes.layerTarGzip:
    case MediaTypes.dockerLayerTarGzip:
      try {
        tar = await gunzip(blob);
      } catch (err) {
        throw new UnsafeLayerError('<archive>', `not valid gzip: ${(err as Error).message}`);
      }
      break;
    case MediaTypes.layerTar:
      tar = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
      break;
    default:
      throw new Error(`Unsupported layer media type "${mediaType}" (supported: tar+gzip, tar)`);
  }
  if (opts.expectedDiffId) verifyDigest(tar, opts.expectedDiffId, 'uncompressed layer (diffID)');

  const { entries, whiteouts } = validate(await parseTar(tar));

  await mkdir(destDir, { recursive: true });
  const root = await realpath(destDir);
  for (const w of whiteouts) await applyWhiteout(root, w);
  for (const e of entries) await applyEntry(root, e);
}

function parseTar(tar: Buffer): Promise<Array<{ path: string; type: string; linkpath?: string; mode?: number; data: Buffer }>> {
  // an empty archive (only end-of-archive zero blocks, e.g. an empty directory's layer) is valid
  if (tar.every((b) => b === 0)) return Promise.resolve([]);
  return new Promise((resolve, reject) => {
    const out: Array<{ path: string; type: string; linkpath?: string; mode?: number; data: Buffer }> = [];
    const parser = new Parser({
      strict: true,
      onReadEntry: (entry: ReadEntry) => {
        const chunks: Buffer[] = [];
        entry.on('data', (c: Buffer) => chunks.push(c));
        entry.on('end', () =>
          out.push({
            path: entry.path,
            type: entry.type,
            linkpath: entry.linkpath,
            mode: entry.mode,
            data: Buffer.concat(chunks),
          }),
        );
      },
    });
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      reject(err);
    };
    parser.on('error', (err: Error) => fail(new UnsafeLayerError('<archive>', `not a valid tar archive: ${err.message}`)));
    // entries the parser skips (unknown type flags, oversized pax headers) are refused, not ignored
    parser.on('ignoredEntry', (entry: ReadEntry) =>
      fail(new UnsafeLayerError(entry.path, `unsupported entry type ${entry.type}${entry.meta ? ' (oversized header)' : ''}`)),
    );
    parser.on('end', () => {
      if (settled) return;
      settled = true;
      resolve(out);
    });
    parser.end(tar);
  });
}

const WHITEOUT_PREFIX = '.wh.';
const OPAQUE_WHITEOUT = '.wh..wh..opq';

function validate(raw: Awaited<ReturnType<typeof parseTar>>): { entries: Entry[]; whiteouts: Whiteout[] } {
  const entries: Entry[] = [];
  const whiteouts: Whiteout[] = [];
  for (const r of raw) {
    const parts = entryPathComponents(r.path);
    const base = parts[parts.length - 1];
    if (base !== undefined && base.startsWith(WHITEOUT_PREFIX)) {
      if (base === OPAQUE_WHITEOUT) {
        whiteouts.push({ raw: r.path, parts: parts.slice(0, -1), opaque: true });
      } else {
        const name = base.slice(WHITEOUT_PREFIX.length);
        if (name === '' || name === '.' || name === '..') throw new UnsafeLayerError(r.path, 'invalid whiteout');
        whiteouts.push({ raw: r.path, parts: [...parts.slice(0, -1), name], opaque: false });
      }
      continue;
    }
    let kind: Kind;
    switch (r.type) {
      case 'File':
      case 'OldFile':
      case 'ContiguousFile':
        kind = 'file';
        break;
      case 'Directory':
        kind = 'directory';
        break;
      case 'SymbolicLink':
        kind = 'symlink';
        break;
      case 'Link':
        kind = 'hardlink';
        break;
      case 'CharacterDevice':
      case 'BlockDevice':
        throw new UnsafeLayerError(r.path, 'device file');
      case 'FIFO':
        throw new UnsafeLayerError(r.path, 'FIFO');
      default:
        throw new UnsafeLayerError(r.path, `unsupported entry type ${r.type}`);
    }
    if (parts.length === 0) {
      if (kind === 'directory') continue; // "./" — the root itself
      throw new UnsafeLayerError(r.path, `${kind} entry replacing the extraction root`);
    }
    const entry: Entry = { raw: r.path, parts, kind, mode: (r.mode ?? 0o644) & 0o777, data: r.data };
    if (kind === 'symlink') {
      checkSymlinkTarget(r.path, parts, r.linkpath ?? '');
      entry.linkname = r.linkpath;
    } else if (kind === 'hardlink') {
      const target = r.linkpath ?? '';
      let linkParts: string[];
      try {
        linkParts = entryPathComponents(target);
      } catch {
        throw new UnsafeLayerError(r.path, `hard link to ${JSON.stringify(target)} outside the root`);
      }
      if (linkParts.length === 0) throw new UnsafeLayerError(r.path, 'hard link to the root');
      entry.linkParts = linkParts;
      entry.linkname = target;
    }
    entries.push(entry);
  }
  return { entries, whiteouts };
}

/** lstat that returns null for a missing path. */
async function lstatOrNull(p: string) {
  try {
    return await lstat(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/**
 * Makes sure every parent of `parts` is a real directory under root (creating missing ones),
 * never traversing a symlink. Returns the absolute path of the leaf.
 */
async function ensureParents(root: string, parts: string[], raw: string): Promise<string> {
  let current = root;
  for (let i = 0; i < parts.length - 1; i++) {
    current = path.join(current, parts[i]);
    const st = await lstatOrNull(current);
    if (st === null) {
      await mkdir(current, { mode: 0o755 });
    } else if (st.isSymbolicLink()) {
      throw new UnsafeLayerError(raw, `parent ${parts.slice(0, i + 1).join('/')} is a symlink; refusing to write through it`);
    } else if (!st.isDirectory()) {
      throw new UnsafeLayerError(raw, `parent ${parts.slice(0, i + 1).join('/')} is not a directory`);
    }
  }
  return path.join(root, ...parts);
}

/** Resolves an existing path under root without following symlinks in its parents; null if absent. */
async function existingPath(root: string, parts: string[], raw: string): Promise<string | null> {
  let current = root;
  for (let i = 0; i < parts.length - 1; i++) {
    current = path.join(current, parts[i]);
    const st = await lstatOrNull(current);
    if (st === null || !st.isDirectory()) {
      if (st?.isSymbolicLink()) {
        throw new UnsafeLayerError(raw, `parent ${parts.slice(0, i + 1).join('/')} is a symlink`);
      }
      return null;
    }
  }
  return path.join(root, ...parts);
}

async function removeLeaf(p: string): Promise<void> {
  const st = await lstatOrNull(p);
  if (st === null) return;
  if (st.isDirectory()) await rm(p, { recursive: true, force: true });
  else await unlink(p);
}

async function applyWhiteout(root: string, w: Whiteout): Promise<void> {
  if (w.opaque) {
    // hide everything lower layers put into this directory (keep the directory itself)
    const dir = w.parts.length === 0 ? root : await existingPath(root, w.parts, w.raw);
    if (dir === null) return;
    const st = await lstatOrNull(dir);
    if (!st?.isDirectory()) return;
    for (const name of await readdir(dir)) await rm(path.join(dir, name), { recursive: true, force: true });
  } else {
    const target = await existingPath(root, w.parts, w.raw);
    if (target !== null) await removeLeaf(target);
  }
}

async function applyEntry(root: string, e: Entry): Promise<void> {
  const dest = await ensureParents(root, e.parts, e.raw);
  switch (e.kind) {
    case 'directory': {
      const st = await lstatOrNull(dest);
      if (st && !st.isDirectory()) await unlink(dest);
      if (!st || !st.isDirectory()) await mkdir(dest, { mode: 0o755 });
      await chmod(dest, e.mode | 0o700);
      return;
    }
    case 'file': {
      await removeLeaf(dest);
      // O_CREAT|O_EXCL never follows a symlink at the leaf
      const fh = await open(dest, 'wx', 0o600);
      try {
        await fh.writeFile(e.data);
        await fh.chmod(e.mode);
      } finally {
        await fh.close();
      }
      return;
    }
    case 'symlink':
      await removeLeaf(dest);
      await symlink(e.linkname!, dest);
      return;
    case 'hardlink': {
      const source = await existingPath(root, e.linkParts!, e.raw);
      const st = source === null ? null : await lstatOrNull(source);
      if (source === null || st === null || !st.isFile()) {
        throw new UnsafeLayerError(e.raw, `hard link target ${JSON.stringify(e.linkname)} is not a regular file in the layer`);
      }
      if (source === dest) return;
      await removeLeaf(dest);
      // a copy rather than a real hard link: cheap, and it cannot alias anything outside the root
      await copyFile(source, dest, fsConstants.COPYFILE_EXCL);
      await chmod(dest, st.mode & 0o777);
      return;
    }
  }
}
