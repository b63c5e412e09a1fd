import { createHash } from 'node:crypto';
import { chmod, cp, mkdir, mkdtemp, readFile, readlink, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Parser, ReadEntry } from 'tar';
import { LayerTooLargeError, UnsafeLayerError } from './errors';
import { packDirectoryLayer } from './pack';
import { unpackLayer } from './unpack';

interface Listed {
  path: string;
  type: string;
  mode?: number;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  mtime?: Date;
  linkpath?: string;
  data: string;
}

/** Lists a tar with the independent `tar` package implementation. */
function listTar(tar: Buffer): Listed[] {
  const out: Listed[] = [];
  const parser = new Parser({
    strict: true,
    onReadEntry: (e: ReadEntry) => {
      const chunks: Buffer[] = [];
      e.on('data', (c: Buffer) => chunks.push(c));
      e.on('end', () =>
        out.push({
          path: e.path,
          type: e.type,
          mode: e.mode,
          uid: e.uid,
          gid: e.gid,
          uname: e.uname,
          gname: e.gname,
          mtime: e.mtime,
          linkpath: e.linkpath,
          data: Buffer.concat(chunks).toString('utf8'),
        }),
      );
    },
  });
  parser.on('error', (err: Error) => {
    throw err;
  });
  parser.end(tar);
  return out;
}

const LONG_DIR = 'deeply/nested/directory-with-a-rather-long-name-to-exceed/the-ustar-hundred-byte-limit-for-names';

async function makeRepo(root: string): Promise<void> {
  await mkdir(path.join(root, 'src', 'models'), { recursive: true });
  await mkdir(path.join(root, 'empty-dir'));
  await mkdir(path.join(root, '.git', 'objects'), { recursive: true });
  await mkdir(path.join(root, LONG_DIR), { recursive: true });
  await writeFile(path.join(root, 'README.md'), '# model\n');
  await writeFile(path.join(root, 'src', 'models', 'net.py'), 'import torch\n');
  await writeFile(path.join(root, 'src', 'train.sh'), '#!/bin/sh\necho train\n');
  await chmod(path.join(root, 'src', 'train.sh'), 0o700);
  await writeFile(path.join(root, 'src', 'secret-ish.txt'), 'x');
  await chmod(path.join(root, 'src', 'secret-ish.txt'), 0o600);
  await writeFile(path.join(root, 'data.bin'), Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7) % 256)));
  await writeFile(path.join(root, 'zürich-ünïcode.txt'), 'utf8 name\n');
  await writeFile(path.join(root, LONG_DIR, 'file-with-long-path.txt'), 'long\n');
  await writeFile(path.join(root, '.git', 'HEAD'), 'ref: refs/heads/main\n');
  await symlink('models/net.py', path.join(root, 'src', 'link-to-net.py'));
  await symlink('../README.md', path.join(root, 'src', 'readme-link'));
}

describe('packDirectoryLayer', () => {
  let work: string;
  beforeEach(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'oci-pack-'));
  });
  afterEach(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('is deterministic: packing twice gives byte-identical layers', async () => {
    const dir = path.join(work, 'repo');
    await makeRepo(dir);
    const a = await packDirectoryLayer(dir);
    const b = await packDirectoryLayer(dir);
    expect(b.data.equals(a.data)).toBe(true);
    expect(b.digest).toBe(a.digest);
    expect(b.diffId).toBe(a.diffId);
    expect(a.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
    expect(a.size).toBe(a.data.byteLength);
    expect(a.digest).toBe(`sha256:${createHash('sha256').update(a.data).digest('hex')}`);
    expect(a.diffId).toBe(`sha256:${createHash('sha256').update(gunzipSync(a.data)).digest('hex')}`);
  });

  it('gives the same digest for a copy with different mtimes, atimes and non-exec permission bits', async () => {
    const dir = path.join(work, 'repo');
    await makeRepo(dir);
    const original = await packDirectoryLayer(dir);

    const copy = path.join(work, 'copy');
    await cp(dir, copy, { recursive: true, verbatimSymlinks: true });
    const when = new Date('2001-02-03T04:05:06Z');
    for (const rel of ['README.md', 'src/models/net.py', 'src/train.sh', 'data.bin', 'src', 'empty-dir', '.']) {
      await utimes(path.join(copy, rel), when, new Date(Date.now() - Math.floor(Math.random() * 1e9)));
    }
    await chmod(path.join(copy, 'README.md'), 0o664); // group-writable: normalised to 0644
    await chmod(path.join(copy, 'src', 'train.sh'), 0o775); // still executable: 0755
    await chmod(path.join(copy, 'src', 'secret-ish.txt'), 0o644);
    await chmod(path.join(copy, 'empty-dir'), 0o700);
    await writeFile(path.join(copy, '.git', 'HEAD'), 'ref: refs/heads/other\n'); // .git is ignored
    const copied = await packDirectoryLayer(copy);

    expect(copied.digest).toBe(original.digest);
    expect(copied.diffId).toBe(original.diffId);
    expect(copied.data.equals(original.data)).toBe(true);

    await writeFile(path.join(copy, 'README.md'), '# model!\n');
    expect((await packDirectoryLayer(copy)).digest).not.toBe(original.digest);
  });

  it('writes normalised headers: sorted, mtime 0, uid/gid 0, no names, 0644/0755, no .git, symlinks kept', async () => {
    const dir = path.join(work, 'repo');
    await makeRepo(dir);
    const layer = await packDirectoryLayer(dir);

    // gzip header: no mtime, no file name flag, OS "unknown"
    expect([...layer.data.subarray(0, 4)]).toEqual([0x1f, 0x8b, 8, 0]);
    expect(layer.data.readUInt32LE(4)).toBe(0);
    expect(layer.data[9]).toBe(0xff);

    const entries = listTar(gunzipSync(layer.data));
    const paths = entries.map((e) => e.path);
    expect(paths).toEqual([
      'README.md',
      'data.bin',
      'deeply/',
      'deeply/nested/',
      'deeply/nested/directory-with-a-rather-long-name-to-exceed/',
      `${LONG_DIR}/`,
      `${LONG_DIR}/file-with-long-path.txt`,
      'empty-dir/',
      'src/',
      'src/link-to-net.py',
      'src/models/',
      'src/models/net.py',
      'src/readme-link',
      'src/secret-ish.txt',
      'src/train.sh',
      'zürich-ünïcode.txt',
    ]);
    for (const e of entries) {
      expect(e.uid).toBe(0);
      expect(e.gid).toBe(0);
      expect(e.uname ?? '').toBe('');
      expect(e.gname ?? '').toBe('');
      expect(e.mtime?.getTime()).toBe(0);
    }
    const byPath = new Map(entries.map((e) => [e.path, e]));
    expect(byPath.get('src/train.sh')).toMatchObject({ type: 'File', mode: 0o755, data: '#!/bin/sh\necho train\n' });
    expect(byPath.get('src/secret-ish.txt')).toMatchObject({ type: 'File', mode: 0o644 });
    expect(byPath.get('README.md')).toMatchObject({ type: 'File', mode: 0o644, data: '# model\n' });
    expect(byPath.get('empty-dir/')).toMatchObject({ type: 'Directory', mode: 0o755 });
    expect(byPath.get('src/link-to-net.py')).toMatchObject({ type: 'SymbolicLink', linkpath: 'models/net.py' });
    expect(byPath.get(`${LONG_DIR}/file-with-long-path.txt`)).toMatchObject({ data: 'long\n' });
  });

  it('honours exclude (subtrees too) and prefix', async () => {
    const dir = path.join(work, 'repo');
    await makeRepo(dir);
    await mkdir(path.join(dir, 'node_modules', 'pkg'), { recursive: true });
    await writeFile(path.join(dir, 'node_modules', 'pkg', 'index.js'), '');
    const seen: string[] = [];
    const layer = await packDirectoryLayer(dir, {
      prefix: 'app',
      exclude: (rel, info) => {
        seen.push(`${rel}:${info.type}`);
        return rel === 'node_modules' || rel.endsWith('.bin');
      },
    });
    const paths = listTar(gunzipSync(layer.data)).map((e) => e.path);
    expect(paths[0]).toBe('app/');
    expect(paths).toContain('app/src/models/net.py');
    expect(paths.some((p) => p.includes('node_modules') || p.endsWith('data.bin') || p.includes('.git'))).toBe(false);
    expect(seen).toContain('node_modules:directory');
    expect(seen).toContain('src/link-to-net.py:symlink');
    expect(seen).not.toContain('node_modules/pkg:directory'); // subtree not visited
  });

  it('refuses symlinks that leave the directory', async () => {
    const outside = path.join(work, 'repo-abs');
    await mkdir(outside);
    await symlink('/etc/passwd', path.join(outside, 'passwd'));
    await expect(packDirectoryLayer(outside)).rejects.toThrow(UnsafeLayerError);

    const escape = path.join(work, 'repo-escape');
    await mkdir(path.join(escape, 'sub'), { recursive: true });
    await symlink('../../elsewhere', path.join(escape, 'sub', 'up'));
    await expect(packDirectoryLayer(escape)).rejects.toThrow(/points outside the root/);
    // ...unless excluded
    await expect(packDirectoryLayer(escape, { exclude: (rel) => rel === 'sub/up' })).resolves.toBeDefined();
  });

  it('packs an empty directory into the canonical empty layer, and skips a .git file', async () => {
    const dir = path.join(work, 'empty');
    await mkdir(dir);
    await writeFile(path.join(dir, '.git'), 'gitdir: ../.git/worktrees/x\n');
    const layer = await packDirectoryLayer(dir);
    // sha256 of 1024 zero bytes: the well-known diffID of an empty layer
    expect(layer.diffId).toBe('sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef');
    await unpackLayer(layer.data, path.join(work, 'empty-out'));
  });

  it('uses pax headers for long names and long symlink targets', async () => {
    const dir = path.join(work, 'long');
    const longName = `${'n'.repeat(150)}.txt`;
    const longTargetDir = 'd'.repeat(120);
    await mkdir(path.join(dir, longTargetDir), { recursive: true });
    await writeFile(path.join(dir, longName), 'x');
    await writeFile(path.join(dir, longTargetDir, 'f'), 'y');
    await symlink(`${longTargetDir}/f`, path.join(dir, 'ln'));
    const layer = await packDirectoryLayer(dir);
    const byPath = new Map(listTar(gunzipSync(layer.data)).map((e) => [e.path, e]));
    expect(byPath.get(longName)?.data).toBe('x');
    expect(byPath.get('ln')?.linkpath).toBe(`${longTargetDir}/f`);
    const out = path.join(work, 'long-out');
    await unpackLayer(layer.data, out);
    expect(await readFile(path.join(out, 'ln'), 'utf8')).toBe('y');
  });

  it('round-trips through unpackLayer (contents, exec bits, symlinks)', async () => {
    const dir = path.join(work, 'repo');
    await makeRepo(dir);
    const layer = await packDirectoryLayer(dir);
    const dest = path.join(work, 'out');
    await unpackLayer(layer.data, dest, { expectedDiffId: layer.diffId });
    for (const rel of ['README.md', 'data.bin', 'src/models/net.py', 'src/train.sh', `${LONG_DIR}/file-with-long-path.txt`, 'zürich-ünïcode.txt']) {
      expect((await readFile(path.join(dest, rel))).equals(await readFile(path.join(dir, rel)))).toBe(true);
    }
    expect((await stat(path.join(dest, 'src', 'train.sh'))).mode & 0o777).toBe(0o755);
    expect((await stat(path.join(dest, 'README.md'))).mode & 0o777).toBe(0o644);
    expect(await readlink(path.join(dest, 'src', 'readme-link'))).toBe('../README.md');
    expect(await readFile(path.join(dest, 'src', 'readme-link'), 'utf8')).toBe('# model\n');
    await expect(stat(path.join(dest, '.git'))).rejects.toThrow();
    expect((await stat(path.join(dest, 'empty-dir'))).isDirectory()).toBe(true);
  });
});

describe('packDirectoryLayer content limit', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'oci-pack-limit-'));
    await mkdir(path.join(dir, 'data'));
    await writeFile(path.join(dir, 'a.txt'), Buffer.alloc(600, 1));
    await writeFile(path.join(dir, 'data', 'b.bin'), Buffer.alloc(500, 2));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('packs content up to the limit, counting file bytes (not compressed size)', async () => {
    const layer = await packDirectoryLayer(dir, { maxContentBytes: 1100 });
    expect(layer.size).toBeLessThan(1100); // compresses well, yet the limit is on content
  });

  it('refuses one byte more, naming the limit and where it was crossed', async () => {
    const error = await packDirectoryLayer(dir, { maxContentBytes: 1099 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LayerTooLargeError);
    expect(error).toMatchObject({ limitBytes: 1099, atPath: 'data/b.bin' });
  });

  it('excluded files do not count', async () => {
    await expect(packDirectoryLayer(dir, { maxContentBytes: 600, exclude: (rel) => rel === 'data' })).resolves.toBeDefined();
  });
});
