import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import { sha256Digest } from './digest';
import { UnsafeLayerError, LayerTooLargeError } from './errors';
import { checkSymlinkTarget, entryPathComponents } from './layer-paths';
import { Layer, MediaTypes } from './types';

const gzip = promisify(gzipCb);

export type PackEntryType = 'file' | 'directory' | 'symlink' | 'other';

export interface PackOptions {
  /**
   * Return true to leave an entry out. `relPath` is POSIX-style, relative to the packed directory
   * (`src/model.py`, `data`); returning true for a directory skips its whole subtree.
   * `.git` (file or directory, at any depth) is always skipped.
   */
  exclude?: (relPath: string, info: { type: PackEntryType }) => boolean;
  /** Place the content under this directory inside the layer, e.g. `app` → `app/src/model.py`. */
  prefix?: string;
  /** gzip level 1–9 (default 6). Part of the output bytes, so keep it fixed for reproducible digests. */
  gzipLevel?: number;
  /**
   * Most bytes of file content to pack. Checked from file sizes before any file is read, so an
   * oversized directory fails fast instead of filling memory (LayerTooLargeError).
   */
  maxContentBytes?: number;
}

interface TarEntry {
  path: string;
  type: 'file' | 'directory' | 'symlink';
  mode: number;
  data?: Buffer;
  linkname?: string;
}

/**
 * Packs a directory into a reproducible OCI layer (tar + gzip).
 *
 * Determinism: entries are written depth-first in byte order of their names, directories before
 * their contents; every entry has mtime 0, uid/gid 0, no user/group names; modes are normalised
 * to 0755 (directories, and files with any executable bit) or 0644; gzip output carries no
 * timestamp and no file name (OS byte set to 255 "unknown"). The same content therefore gives
 * the same diffID everywhere and the same blob digest with the same zlib build.
 *
 * Symlinks are stored as symlinks if their target stays inside the directory (relative, only
 * leading `..`; see checkSymlinkTarget); otherwise UnsafeLayerError is thrown (exclude them or
 * replace them with copies). Hard links are stored as independent regular files. Sockets, FIFOs
 * and devices make it throw unless excluded.
 */
export async function packDirectoryLayer(dir: string, opts: PackOptions = {}): Promise<Layer> {
  const root = path.resolve(dir);
  const st = await lstat(root);
  if (!st.isDirectory()) throw new Error(`packDirectoryLayer: ${root} is not a directory`);

  const prefixParts = opts.prefix ? entryPathComponents(opts.prefix) : [];
  const entries: TarEntry[] = [];
  for (let i = 0; i < prefixParts.length; i++) {
    entries.push({ path: `${prefixParts.slice(0, i + 1).join('/')}/`, type: 'directory', mode: 0o755 });
  }
  const budget = { left: opts.maxContentBytes ?? Number.POSITIVE_INFINITY, limit: opts.maxContentBytes ?? 0 };
  await walk(root, [], prefixParts, opts.exclude, entries, budget);

  const tar = writeTar(entries);
  const level = opts.gzipLevel ?? 6;
  const data = await gzip(tar, { level });
  // RFC 1952 header: bytes 4–7 MTIME (zlib writes 0), byte 9 OS. Make the OS byte platform-neutral.
  data[9] = 0xff;
  return {
    data,
    mediaType: MediaTypes.layerTarGzip,
    digest: sha256Digest(data),
    size: data.byteLength,
    diffId: sha256Digest(tar),
  };
}

function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

async function walk(
  absDir: string,
  relParts: string[],
  prefixParts: string[],
  exclude: PackOptions['exclude'],
  out: TarEntry[],
  budget: { left: number; limit: number },
): Promise<void> {
  const names = (await readdir(absDir)).sort(compareBytes);
  for (const name of names) {
    if (name === '.git') continue;
    const abs = path.join(absDir, name);
    const parts = [...relParts, name];
    const relPath = parts.join('/');
    const st = await lstat(abs);
    const type: PackEntryType = st.isDirectory()
      ? 'directory'
      : st.isFile()
        ? 'file'
        : st.isSymbolicLink()
          ? 'symlink'
          : 'other';
    if (exclude?.(relPath, { type })) continue;
    const tarParts = [...prefixParts, ...parts];
    const tarPath = tarParts.join('/');
    switch (type) {
      case 'directory':
        out.push({ path: `${tarPath}/`, type: 'directory', mode: 0o755 });
        await walk(abs, parts, prefixParts, exclude, out, budget);
        break;
      case 'file':
        budget.left -= st.size;
        if (budget.left < 0) throw new LayerTooLargeError(budget.limit, relPath);
        out.push({
          path: tarPath,
          type: 'file',
          mode: st.mode & 0o111 ? 0o755 : 0o644,
          data: await readFile(abs),
        });
        break;
      case 'symlink': {
        const target = await readlink(abs);
        checkSymlinkTarget(relPath, parts, target); // confined to the packed directory itself
        out.push({ path: tarPath, type: 'symlink', mode: 0o777, linkname: target });
        break;
      }
      default:
        throw new UnsafeLayerError(relPath, 'cannot pack a socket, FIFO or device file (exclude it)');
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Minimal deterministic tar (ustar + pax extended headers for long names / huge sizes)

const BLOCK = 512;
const MAX_OCTAL_SIZE = 0o77777777777; // 11 octal digits

function writeTar(entries: TarEntry[]): Buffer {
  const chunks: Buffer[] = [];
  for (const e of entries) {
    const size = e.type === 'file' ? e.data!.byteLength : 0;
    const pathBytes = Buffer.from(e.path, 'utf8');
    const linkBytes = Buffer.from(e.linkname ?? '', 'utf8');
    const pax: Array<[string, string]> = [];
    if (pathBytes.byteLength > 100) pax.push(['path', e.path]);
    if (linkBytes.byteLength > 100) pax.push(['linkpath', e.linkname!]);
    if (size > MAX_OCTAL_SIZE) pax.push(['size', String(size)]);
    if (pax.length > 0) {
      const body = paxBody(pax);
      chunks.push(header({ name: Buffer.from('././@PaxHeader'), mode: 0o644, size: body.byteLength, typeflag: 'x' }));
      chunks.push(body, padding(body.byteLength));
    }
    chunks.push(
      header({
        name: pathBytes.subarray(0, 100),
        mode: e.mode,
        size: size > MAX_OCTAL_SIZE ? 0 : size,
        typeflag: e.type === 'file' ? '0' : e.type === 'directory' ? '5' : '2',
        linkname: linkBytes.subarray(0, 100),
      }),
    );
    if (e.type === 'file' && size > 0) chunks.push(e.data!, padding(size));
  }
  chunks.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(chunks);
}

function padding(size: number): Buffer {
  const rest = size % BLOCK;
  return Buffer.alloc(rest === 0 ? 0 : BLOCK - rest);
}

/** pax records: "<len> <key>=<value>\n" where <len> counts the whole record including itself. */
function paxBody(records: Array<[string, string]>): Buffer {
  return Buffer.concat(
    records.map(([k, v]) => {
      const rest = Buffer.byteLength(` ${k}=${v}\n`, 'utf8');
      let digits = String(rest).length;
      let len = rest + digits;
      while (String(len).length !== digits) {
        digits = String(len).length;
        len = rest + digits;
      }
      return Buffer.from(`${len} ${k}=${v}\n`, 'utf8');
    }),
  );
}

function header(h: { name: Buffer; mode: number; size: number; typeflag: string; linkname?: Buffer }): Buffer {
  const b = Buffer.alloc(BLOCK);
  h.name.copy(b, 0);
  octal(b, 100, 8, h.mode); // mode
  octal(b, 108, 8, 0); // uid
  octal(b, 116, 8, 0); // gid
  octal(b, 124, 12, h.size); // size
  octal(b, 136, 12, 0); // mtime
  b.fill(0x20, 148, 156); // checksum placeholder (spaces)
  b.write(h.typeflag, 156, 'ascii');
  h.linkname?.copy(b, 157);
  b.write('ustar\0', 257, 'ascii');
  b.write('00', 263, 'ascii');
  // uname (265) / gname (297) stay empty
  octal(b, 329, 8, 0); // devmajor
  octal(b, 337, 8, 0); // devminor
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += b[i];
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return b;
}

function octal(b: Buffer, offset: number, width: number, value: number): void {
  b.write(`${value.toString(8).padStart(width - 1, '0')}\0`, offset, 'ascii');
}
