import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar';
import { DigestMismatchError, UnsafeLayerError } from './errors';
import { MediaTypes } from './types';
import { unpackLayer } from './unpack';

// ---- a raw tar writer, independent of the library, able to write anything -------------------

interface RawEntry {
  path: string;
  /** '0' file, '1' hard link, '2' symlink, '3' char dev, '4' block dev, '5' dir, '6' fifo */
  type?: string;
  data?: string;
  link?: string;
  mode?: number;
}

function rawHeader(e: RawEntry, size: number): Buffer {
  const b = Buffer.alloc(512);
  b.write(e.path, 0, 100, 'utf8');
  const oct = (off: number, width: number, v: number) => b.write(`${v.toString(8).padStart(width - 1, '0')}\0`, off, 'ascii');
  oct(100, 8, e.mode ?? 0o644);
  oct(108, 8, 0);
  oct(116, 8, 0);
  oct(124, 12, size);
  oct(136, 12, 0);
  b.fill(0x20, 148, 156);
  b.write(e.type ?? '0', 156, 'ascii');
  if (e.link) b.write(e.link, 157, 100, 'utf8');
  b.write('ustar\0', 257, 'ascii');
  b.write('00', 263, 'ascii');
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return b;
}

function rawTar(entries: RawEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = Buffer.from(e.data ?? '', 'utf8');
    parts.push(rawHeader(e, data.length), data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

const gz = (entries: RawEntry[]) => gzipSync(rawTar(entries));

// ---------------------------------------------------------------------------------------------

describe('unpackLayer', () => {
  let work: string;
  let dest: string;
  beforeEach(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'oci-unpack-'));
    dest = path.join(work, 'a', 'b', 'dest'); // deep, so that "../.." targets stay inside `work`
    await mkdir(dest, { recursive: true });
  });
  afterEach(async () => {
    await rm(work, { recursive: true, force: true });
  });

  /** Asserts that nothing was written anywhere: dest is empty and no stray file appeared in `work`. */
  async function expectNothingWritten(): Promise<void> {
    expect(await readdir(dest)).toEqual([]);
    expect(await readdir(work)).toEqual(['a']);
    expect(await readdir(path.join(work, 'a'))).toEqual(['b']);
    expect(await readdir(path.join(work, 'a', 'b'))).toEqual(['dest']);
  }

  it('extracts a legitimate layer (files, dirs, modes, inside symlinks, hard links)', async () => {
    await unpackLayer(
      gz([
        { path: './', type: '5', mode: 0o755 },
        { path: './bin/', type: '5', mode: 0o755 },
        { path: './bin/run', data: '#!/bin/sh\n', mode: 0o4755 },
        { path: 'lib/x.py', data: 'x = 1\n' },
        { path: 'lib/alias.py', type: '2', link: 'x.py' },
        { path: 'lib/up', type: '2', link: '../bin/run' },
        { path: 'copy.py', type: '1', link: 'lib/x.py' },
      ]),
      dest,
    );
    expect(await readFile(path.join(dest, 'bin/run'), 'utf8')).toBe('#!/bin/sh\n');
    expect((await lstat(path.join(dest, 'bin/run'))).mode & 0o7777).toBe(0o755); // setuid dropped
    expect(await readlink(path.join(dest, 'lib/alias.py'))).toBe('x.py');
    expect(await readFile(path.join(dest, 'lib/up'), 'utf8')).toBe('#!/bin/sh\n');
    expect(await readFile(path.join(dest, 'copy.py'), 'utf8')).toBe('x = 1\n');
  });

  it.each<[string, RawEntry[], RegExp]>([
    ['../ traversal', [{ path: '../evil', data: 'pwned' }], /path traversal/],
    ['nested ../ traversal', [{ path: 'ok/../../../evil', data: 'pwned' }], /path traversal/],
    ['absolute path', [{ path: '/tmp/evil-oci-test', data: 'pwned' }], /absolute path/],
    ['symlink to an absolute path', [{ path: 'etc', type: '2', link: '/etc' }], /absolute path/],
    ['symlink escaping with ..', [{ path: 'sub/escape', type: '2', link: '../../evil' }], /outside the root/],
    ['symlink escaping from the root', [{ path: 'escape', type: '2', link: '..' }], /outside the root/],
    [
      'symlink chain trick (b -> ., a -> b/..)',
      [
        { path: 'b', type: '2', link: '.' },
        { path: 'a', type: '2', link: 'b/..' },
      ],
      /after a name component/,
    ],
    ['hard link out of the root', [{ path: 'h', type: '1', link: '../../../etc/passwd' }], /outside the root/],
    ['hard link to absolute path', [{ path: 'h', type: '1', link: '/etc/passwd' }], /outside the root/],
    ['character device', [{ path: 'null', type: '3' }], /device/],
    ['block device', [{ path: 'sda', type: '4' }], /device/],
    ['FIFO', [{ path: 'pipe', type: '6' }], /FIFO/],
    ['unknown type flag', [{ path: 'weird', type: 'Z', data: 'x' }], /unsupported entry type/],
    ['GNU dump dir', [{ path: 'dump', type: 'D' }], /unsupported entry type/],
  ])('refuses %s before writing anything', async (_name, entries, message) => {
    const promise = unpackLayer(gz([{ path: 'innocent.txt', data: 'hello' }, ...entries]), dest);
    await expect(promise).rejects.toThrow(UnsafeLayerError);
    await expect(unpackLayer(gz(entries), dest)).rejects.toThrow(message);
    await expectNothingWritten();
  });

  it('refuses to write through a symlink (even one pointing inside)', async () => {
    await mkdir(path.join(work, 'target'));
    const layer = gz([
      { path: 'real/', type: '5' },
      { path: 'link', type: '2', link: 'real' },
      { path: 'link/file.txt', data: 'through the link' },
    ]);
    await expect(unpackLayer(layer, dest)).rejects.toThrow(/is a symlink/);
    expect(await readdir(path.join(dest, 'real'))).toEqual([]);
  });

  it('refuses to write through a pre-existing symlink in the destination', async () => {
    await mkdir(path.join(work, 'outside'));
    await symlink(path.join(work, 'outside'), path.join(dest, 'ext'));
    await expect(unpackLayer(gz([{ path: 'ext/evil', data: 'x' }]), dest)).rejects.toThrow(UnsafeLayerError);
    expect(await readdir(path.join(work, 'outside'))).toEqual([]);
  });

  it('replaces (does not follow) an existing symlink at a file path', async () => {
    await writeFile(path.join(work, 'victim'), 'original');
    await symlink(path.join(work, 'victim'), path.join(dest, 'file.txt'));
    await unpackLayer(gz([{ path: 'file.txt', data: 'new' }]), dest);
    expect(await readFile(path.join(work, 'victim'), 'utf8')).toBe('original');
    expect(await readFile(path.join(dest, 'file.txt'), 'utf8')).toBe('new');
    expect((await lstat(path.join(dest, 'file.txt'))).isFile()).toBe(true);
  });

  it('refuses malicious archives made with the tar package (preservePaths keeps ../ and symlinks)', async () => {
    const src = path.join(work, 'src');
    await mkdir(src);
    await symlink('../../../../../../etc', path.join(src, 'etc'));
    const tarBuf = (tar.c({ cwd: src, sync: true, portable: true, gzip: true }, ['etc']) as unknown as { read(): Buffer }).read();
    await expect(unpackLayer(tarBuf, dest)).rejects.toThrow(/outside the root/);

    await writeFile(path.join(work, 'a', 'evil.txt'), 'pwned');
    const dotdot = (
      tar.c({ cwd: dest, sync: true, portable: true, preservePaths: true }, ['../../evil.txt']) as unknown as { read(): Buffer }
    ).read();
    await expect(unpackLayer(dotdot, dest, { mediaType: MediaTypes.layerTar })).rejects.toThrow(/path traversal/);
    expect(await readdir(dest)).toEqual([]);
  });

  it('applies layers in order with whiteouts and opaque directories', async () => {
    await unpackLayer(
      gz([
        { path: 'keep.txt', data: 'v1' },
        { path: 'gone.txt', data: 'x' },
        { path: 'cache/', type: '5' },
        { path: 'cache/a', data: 'a' },
        { path: 'cache/b', data: 'b' },
      ]),
      dest,
    );
    await unpackLayer(
      gz([
        { path: 'keep.txt', data: 'v2' },
        { path: '.wh.gone.txt' },
        { path: 'cache/.wh..wh..opq' },
        { path: 'cache/c', data: 'c' },
      ]),
      dest,
    );
    expect(await readFile(path.join(dest, 'keep.txt'), 'utf8')).toBe('v2');
    expect((await readdir(dest)).sort()).toEqual(['cache', 'keep.txt']);
    expect(await readdir(path.join(dest, 'cache'))).toEqual(['c']);
  });

  it('verifies the diffID of the uncompressed tar', async () => {
    const raw = rawTar([{ path: 'f', data: 'x' }]);
    const good = `sha256:${createHash('sha256').update(raw).digest('hex')}`;
    await unpackLayer(gzipSync(raw), dest, { expectedDiffId: good });
    const wrong = `sha256:${'0'.repeat(64)}`;
    await expect(unpackLayer(gzipSync(raw), path.join(work, 'other'), { expectedDiffId: wrong })).rejects.toThrow(DigestMismatchError);
  });

  it('accepts an empty archive', async () => {
    await unpackLayer(gzipSync(Buffer.alloc(1024)), dest);
    await unpackLayer(gzipSync(Buffer.alloc(0)), dest);
    expect(await readdir(dest)).toEqual([]);
  });

  it('rejects garbage and unsupported media types', async () => {
    await expect(unpackLayer(gzipSync(Buffer.from('this is not a tar archive at all')), dest)).rejects.toThrow(/not a valid tar/);
    await expect(unpackLayer(gzipSync(Buffer.alloc(2048, 65)), dest)).rejects.toThrow(/not a valid tar/);
    await expect(unpackLayer(Buffer.from('not gzip'), dest)).rejects.toThrow(/not valid gzip/);
    await expect(unpackLayer(Buffer.from('x'), dest, { mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd' })).rejects.toThrow(
      /Unsupported layer media type/,
    );
  });
});
