/**
 * ImageBuilder against the real registry (tools/infra.sh) and real git, with copies of the bundled
 * example ML repo (examples/digits-tfjs). Every test file run uses its own registry repository.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { FSWatcher, cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, watch, writeFileSync } from 'node:fs';
import { lstat, readFile, readdir, readlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { BuildRequested, BuildSucceeded, LEARNER_RUNTIME_VERSION, ML_REPO_CONTRACT } from '@flops/contracts';
import { Connection } from 'mongoose';
import { MongoBuiltImages, connectDatabase } from '@flops/models';
import { RegistryClient, packDirectoryLayer, pullImageToDirectory, pushImage } from '@flops/oci-registry';
import { exampleRepoCopy, infraEnv } from '@flops/testing';
import { BuildError } from './build-errors';
import { BuildReporter, ImageBuilder, imageTag } from './image-builder';

// Builds clone, pack and push for real: on a loaded machine they take seconds, not milliseconds.
jest.setTimeout(60_000);

const RUN = `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
const IMAGE_REPO = `flops-test/builder-${RUN}/digits`;
const TAG_SUFFIX = `-${LEARNER_RUNTIME_VERSION}`;

function git(dir: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=FLOps test', '-c', 'user.email=test@flops.invalid', ...args], {
    cwd: dir,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

function commitAll(dir: string, message: string): string {
  git(dir, 'add', '-A');
  git(dir, 'commit', '--quiet', '-m', message);
  return git(dir, 'rev-parse', 'HEAD');
}

/** relpath → "dir" | "link:<target>" | "file:<x|->:<base64>", leaving out what `skip` says. */
async function snapshot(root: string, skip: (name: string) => boolean = () => false, rel = ''): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(join(root, rel))).sort()) {
    if (skip(name)) continue;
    const r = rel ? `${rel}/${name}` : name;
    const abs = join(root, r);
    const st = await lstat(abs);
    if (st.isDirectory()) {
      out[r] = 'dir';
      Object.assign(out, await snapshot(root, skip, r));
    } else if (st.isSymbolicLink()) {
      out[r] = `link:${await readlink(abs)}`;
    } else {
      out[r] = `file:${st.mode & 0o111 ? 'x' : '-'}:${(await readFile(abs)).toString('base64')}`;
    }
  }
  return out;
}

const vcsOrDeps = (name: string) => name === '.git' || name === 'node_modules';

describe('ImageBuilder (real registry, real git)', () => {
  let registry: RegistryClient;
  let work: string;
  let workDir: string;
  let builder: ImageBuilder;
  let db: Connection;
  let builtImages: MongoBuiltImages;
  const copies: { remove(): void }[] = [];
  const built = new Set<string>(); // digests to delete at the end

  const reporter = () => {
    const started = jest.fn<Promise<void>, [string, string, string?]>(() => Promise.resolve());
    return { started, reporter: { started } satisfies BuildReporter };
  };
  const request = (repoUrl: string, ref?: string): BuildRequested => ({ repoUrl, imageRepository: IMAGE_REPO, ...(ref === undefined ? {} : { ref }) });
  const example = (options: Parameters<typeof exampleRepoCopy>[0] = {}): string => {
    const copy = exampleRepoCopy(options);
    copies.push(copy);
    return copy.dir;
  };
  const build = async (req: BuildRequested, r: BuildReporter, using = builder): Promise<BuildSucceeded> => {
    const result = await using.build(req, r);
    built.add(result.digest);
    return result;
  };
  const buildError = async (req: BuildRequested, r: BuildReporter = reporter().reporter): Promise<BuildError> => {
    const outcome = await builder.build(req, r).then(
      (result) => result,
      (error: unknown) => error,
    );
    if (!(outcome instanceof BuildError)) throw new Error(`expected a BuildError, got ${JSON.stringify(outcome)}`);
    return outcome;
  };
  const tagOf = (image: string) => image.slice(image.lastIndexOf(':') + 1);
  const workDirEntries = () => readdirSync(workDir);

  beforeAll(async () => {
    Logger.overrideLogger(['warn', 'error']);
    registry = new RegistryClient({ url: infraEnv().FLOPS_REGISTRY_URL, timeoutMs: 10_000 });
    await registry.ping();
    work = mkdtempSync(join(tmpdir(), 'flops-builder-int-'));
    workDir = join(work, 'builder-work');
    db = await connectDatabase(infraEnv().MONGO_URL, `flops_int_builder_${RUN.replace(/-/g, '_')}`);
    builtImages = new MongoBuiltImages(db);
    builder = new ImageBuilder(registry, builtImages, { workDir, maxRepoBytes: 50 * 1024 * 1024, gitTimeoutMs: 30_000 });
  });

  afterEach(() => {
    // every build, successful or not, cleans up after itself
    expect(workDirEntries()).toEqual([]);
  });

  afterAll(async () => {
    for (const digest of built) await registry.deleteManifest(IMAGE_REPO, digest).catch(() => undefined);
    for (const copy of copies) copy.remove();
    if (work) rmSync(work, { recursive: true, force: true });
    if (db) {
      await db.dropDatabase();
      await db.close();
    }
  });

  /** Someone with push rights replaces the image under `tag` with other content. */
  const overwriteTag = async (tag: string): Promise<string> => {
    const other = join(work, `forged-${randomBytes(3).toString('hex')}`);
    mkdirSync(other);
    writeFileSync(join(other, 'model.js'), 'module.exports.createModelManager = () => { throw new Error("substituted"); };\n');
    const forged = await pushImage(registry, IMAGE_REPO, tag, { config: { config: {} }, layers: [await packDirectoryLayer(other)] });
    built.add(forged.digest);
    return forged.digest;
  };

  describe('an overwritten registry tag', () => {
    it.each([
      ['a plain directory', false],
      ['a git repository', true],
    ])('is no cache hit for %s: the image is rebuilt, the tag restored, and the reason reported', async (_, isGit) => {
      const dir = example({ git: isGit });
      const original = await build(request(dir), reporter().reporter);
      const tag = tagOf(original.image);
      const forged = await overwriteTag(tag);
      expect(await registry.resolveTag(IMAGE_REPO, tag)).toBe(forged);

      const again = reporter();
      const result = await build(request(dir), again.reporter);
      expect(result).toMatchObject({ cacheHit: false, image: original.image, digest: original.digest });
      expect(await registry.resolveTag(IMAGE_REPO, tag)).toBe(original.digest);
      expect(again.started).toHaveBeenCalledWith(original.image, original.sourceRevision, expect.stringContaining(`points at ${forged}`));

      // and once rebuilt, it is a cache hit again
      expect(await build(request(dir), reporter().reporter)).toMatchObject({ cacheHit: true, digest: original.digest });
    });

    it('an image this builder did not record is rebuilt rather than trusted', async () => {
      const dir = example();
      const original = await build(request(dir), reporter().reporter);
      await db.collection('built_images').deleteMany({});
      const again = reporter();
      expect(await build(request(dir), again.reporter)).toMatchObject({ cacheHit: false, digest: original.digest });
      expect(again.started).toHaveBeenCalledWith(original.image, original.sourceRevision, expect.stringContaining('was not built by FLOps here'));
    });
  });

  describe('plain directory', () => {
    it('builds and pushes an image tagged by content; the same content again is a cache hit', async () => {
      const dir = example();
      const first = reporter();
      const result = await build(request(dir), first.reporter);

      const expectedLayer = await packDirectoryLayer(dir, { exclude: (rel) => /(^|\/)(\.git|node_modules)(\/|$)/.test(rel) });
      const revision = `content-${expectedLayer.diffId.slice('sha256:'.length, 'sha256:'.length + 40)}`;
      expect(result.cacheHit).toBe(false);
      expect(result.sourceRevision).toBe(revision);
      expect(tagOf(result.image)).toMatch(/^content-[0-9a-f]{40}-/);
      expect(tagOf(result.image)).toBe(`${revision}${TAG_SUFFIX}`);
      expect(tagOf(result.image)).toBe(imageTag(revision));
      expect(result.image).toBe(`${registry.registryHost}/${IMAGE_REPO}:${revision}${TAG_SUFFIX}`);
      expect(result.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(await registry.resolveTag(IMAGE_REPO, tagOf(result.image))).toBe(result.digest);
      expect(first.started).toHaveBeenCalledTimes(1);
      expect(first.started).toHaveBeenCalledWith(result.image, revision, undefined);
      for (const ms of Object.values(result.durations)) expect(Number.isInteger(ms) && ms >= 0).toBe(true);
      expect(workDirEntries()).toEqual([]);

      const second = reporter();
      const again = await build(request(dir), second.reporter);
      expect(again).toMatchObject({ cacheHit: true, image: result.image, digest: result.digest, sourceRevision: revision });
      expect(again.durations.pushMs).toBe(0); // (checking and packing were needed to know the content)
      expect(second.started).not.toHaveBeenCalled();

      // the revision is the content, not the place: an identical copy elsewhere is the same image
      const elsewhere = join(work, 'same-content');
      cpSync(dir, elsewhere, { recursive: true });
      const copy = reporter();
      expect(await build(request(elsewhere), copy.reporter)).toMatchObject({ cacheHit: true, digest: result.digest, image: result.image });
      expect(copy.started).not.toHaveBeenCalled();

      // a ref means nothing for a plain directory
      expect(await build(request(dir, 'some-branch'), copy.reporter)).toMatchObject({ cacheHit: true, digest: result.digest });

      // and changed content is a new image
      writeFileSync(join(elsewhere, 'README.md'), 'changed\n', { flag: 'a' });
      const changed = reporter();
      const other = await build(request(elsewhere), changed.reporter);
      expect(other.cacheHit).toBe(false);
      expect(other.image).not.toBe(result.image);
      expect(other.digest).not.toBe(result.digest);
      expect(changed.started).toHaveBeenCalledTimes(1);
    });

    it('leaves node_modules and .git out of the image; the pulled files equal the repo byte for byte, with the learner config', async () => {
      const dir = example({
        change: (d) => {
          mkdirSync(join(d, 'node_modules', 'left-pad'), { recursive: true });
          writeFileSync(join(d, 'node_modules', 'left-pad', 'index.js'), 'module.exports = 1;\n');
          mkdirSync(join(d, 'lib', 'node_modules'), { recursive: true });
          writeFileSync(join(d, 'lib', 'node_modules', 'nested.js'), 'nested\n');
          mkdirSync(join(d, 'vendor', 'dep', '.git'), { recursive: true });
          writeFileSync(join(d, 'vendor', 'dep', '.git', 'HEAD'), 'ref: refs/heads/main\n');
          writeFileSync(join(d, 'vendor', 'dep', 'dep.js'), 'exports.x = 1;\n');
          writeFileSync(join(d, 'lib', 'helpers.js'), 'exports.h = 2;\n');
          writeFileSync(join(d, 'node_modules.txt'), 'not a folder of dependencies\n');
          writeFileSync(join(d, 'train.sh'), '#!/bin/sh\necho train\n', { mode: 0o755 });
          writeFileSync(join(d, 'weights.bin'), randomBytes(100_000));
        },
      });
      const result = await build(request(dir), reporter().reporter);
      const dest = join(work, 'pulled-plain');
      const pulled = await pullImageToDirectory(registry, IMAGE_REPO, tagOf(result.image), dest);
      expect(pulled.digest).toBe(result.digest);

      const files = await snapshot(dest);
      expect(Object.keys(files)).not.toContain('node_modules');
      expect(Object.keys(files)).not.toContain('lib/node_modules');
      expect(Object.keys(files)).not.toContain('vendor/dep/.git');
      expect(Object.keys(files)).toEqual(expect.arrayContaining(['flops.json', 'model_manager.js', 'data/digits.csv.gz', 'lib/helpers.js', 'vendor/dep/dep.js', 'node_modules.txt', '.nonce']));
      expect(files['train.sh']).toMatch(/^file:x:/);
      expect(files).toEqual(await snapshot(dir, vcsOrDeps));

      expect(pulled.config.config?.WorkingDir).toBe('/flops/code');
      expect(pulled.config.config?.Env).toEqual(expect.arrayContaining([`FLOPS_LEARNER_RUNTIME=${LEARNER_RUNTIME_VERSION}`]));
      expect(pulled.config.config?.Labels).toMatchObject({
        'org.opencontainers.image.source': dir,
        'org.opencontainers.image.revision': result.sourceRevision,
        'dev.flops.contract': ML_REPO_CONTRACT,
        'dev.flops.runtime': LEARNER_RUNTIME_VERSION,
      });
    });

    it('concurrent builds of the same new content share one push', async () => {
      const dir = example();
      const { started, reporter: r } = reporter();
      const results = await Promise.all([1, 2, 3, 4].map(() => build(request(dir), r)));
      expect(new Set(results.map((x) => x.digest)).size).toBe(1);
      expect(new Set(results.map((x) => x.image)).size).toBe(1);
      expect(started).toHaveBeenCalledTimes(1);
      expect(results.filter((x) => !x.cacheHit).length).toBeGreaterThanOrEqual(1);
    });

    it('a repo larger than maxRepoBytes fails in the build phase', async () => {
      const small = new ImageBuilder(registry, builtImages, { workDir, maxRepoBytes: 10_000, gitTimeoutMs: 30_000 });
      const { started, reporter: r } = reporter();
      const error = await small.build(request(example()), r).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BuildError);
      expect(error).toMatchObject({ phase: 'build', message: expect.stringMatching(/more than the limit of 10000/) });
      expect(started).not.toHaveBeenCalled();
    });
  });

  describe('git repository', () => {
    it('builds at the commit of a branch, then is a cache hit by branch and by full SHA without cloning', async () => {
      const dir = example({ git: true });
      const head = git(dir, 'rev-parse', 'HEAD');
      expect(head).toMatch(/^[0-9a-f]{40}$/);

      const first = reporter();
      const result = await build(request(dir, 'main'), first.reporter);
      expect(result).toMatchObject({
        cacheHit: false,
        sourceRevision: head,
        image: `${registry.registryHost}/${IMAGE_REPO}:${head}${TAG_SUFFIX}`,
      });
      expect(first.started).toHaveBeenCalledTimes(1);
      expect(first.started).toHaveBeenCalledWith(result.image, head, undefined);
      expect(await registry.resolveTag(IMAGE_REPO, `${head}${TAG_SUFFIX}`)).toBe(result.digest);

      // the image holds the committed files, not .git
      const dest = join(work, 'pulled-git');
      await pullImageToDirectory(registry, IMAGE_REPO, result.digest, dest);
      const files = await snapshot(dest);
      expect(Object.keys(files).some((f) => f.startsWith('.git'))).toBe(false);
      expect(files).toEqual(await snapshot(dir, vcsOrDeps));

      // cache hits: nothing may even be created in the work dir
      const events: string[] = [];
      const watcher: FSWatcher = watch(workDir, (event, name) => events.push(`${event}:${name}`));
      try {
        for (const ref of ['main', head, undefined]) {
          const again = reporter();
          const hit = await build(request(dir, ref), again.reporter);
          expect(hit).toMatchObject({ cacheHit: true, digest: result.digest, image: result.image, sourceRevision: head });
          expect(hit.durations).toMatchObject({ buildMs: 0, pushMs: 0 });
          expect(again.started).not.toHaveBeenCalled();
        }
        await new Promise((ok) => setTimeout(ok, 100)); // let late watch events arrive
      } finally {
        watcher.close();
      }
      expect(events).toEqual([]);

      // by full SHA the registry answers alone: not even the repository is needed any more
      const gone = join(work, 'moved-away');
      cpSync(dir, gone, { recursive: true });
      rmSync(dir, { recursive: true, force: true });
      expect(await build(request(dir, head), reporter().reporter)).toMatchObject({ cacheHit: true, digest: result.digest });
      expect((await buildError(request(dir, 'main'))).phase).toBe('fetch'); // a branch still has to be resolved
    });

    it('a new commit is a new image; tags, the default branch and older commits resolve to their commits', async () => {
      const dir = example({ git: true });
      const c1 = git(dir, 'rev-parse', 'HEAD');
      git(dir, 'tag', '-a', 'v1', '-m', 'version 1'); // annotated: must resolve to the commit, not the tag object
      writeFileSync(join(dir, 'README.md'), '\nsecond commit\n', { flag: 'a' });
      const c2 = commitAll(dir, 'second');
      expect(c2).not.toBe(c1);

      const atHead = reporter();
      const second = await build(request(dir), atHead.reporter); // no ref: the default branch
      expect(second).toMatchObject({ cacheHit: false, sourceRevision: c2 });
      expect(tagOf(second.image)).toBe(`${c2}${TAG_SUFFIX}`);
      expect(atHead.started).toHaveBeenCalledTimes(1);
      expect(await build(request(dir, 'main'), reporter().reporter)).toMatchObject({ cacheHit: true, digest: second.digest });

      // an older commit (not a branch tip) by its tag and by its SHA
      const byTag = reporter();
      const first = await build(request(dir, 'v1'), byTag.reporter);
      expect(first).toMatchObject({ cacheHit: false, sourceRevision: c1 });
      expect(tagOf(first.image)).toBe(`${c1}${TAG_SUFFIX}`);
      expect(first.digest).not.toBe(second.digest);
      expect(byTag.started).toHaveBeenCalledWith(first.image, c1, undefined);
      expect(await build(request(dir, c1), reporter().reporter)).toMatchObject({ cacheHit: true, digest: first.digest });
      expect(await build(request(dir, 'refs/tags/v1'), reporter().reporter)).toMatchObject({ cacheHit: true, sourceRevision: c1 });
      git(dir, 'tag', 'v1-light', c1); // a lightweight tag points at the commit directly
      expect(await build(request(dir, 'v1-light'), reporter().reporter)).toMatchObject({ cacheHit: true, sourceRevision: c1 });

      // each image has the files of its own commit
      const old = join(work, 'pulled-c1');
      await pullImageToDirectory(registry, IMAGE_REPO, first.digest, old);
      const now = join(work, 'pulled-c2');
      await pullImageToDirectory(registry, IMAGE_REPO, second.digest, now);
      expect(readFileSync(join(now, 'README.md'), 'utf8')).toMatch(/second commit\n$/);
      expect(readFileSync(join(old, 'README.md'), 'utf8')).not.toContain('second commit');

      // an older commit by SHA that was never built: fetched and checked out at that commit
      git(dir, 'checkout', '--quiet', '-b', 'feature', c1);
      writeFileSync(join(dir, 'feature.txt'), 'feature\n');
      const c3 = commitAll(dir, 'feature');
      writeFileSync(join(dir, 'feature.txt'), 'feature, later\n');
      commitAll(dir, 'feature later');
      git(dir, 'checkout', '--quiet', 'main');
      const third = await build(request(dir, c3), reporter().reporter);
      expect(third).toMatchObject({ cacheHit: false, sourceRevision: c3 });
      const pulled3 = join(work, 'pulled-c3');
      await pullImageToDirectory(registry, IMAGE_REPO, third.digest, pulled3);
      expect(readFileSync(join(pulled3, 'feature.txt'), 'utf8')).toBe('feature\n');
    });

    it('concurrent builds of the same new commit share one clone and one push', async () => {
      const dir = example({ git: true });
      const { started, reporter: r } = reporter();
      const results = await Promise.all([1, 2, 3, 4].map(() => build(request(dir, 'main'), r)));
      expect(new Set(results.map((x) => x.digest)).size).toBe(1);
      expect(results.every((x) => x.sourceRevision === git(dir, 'rev-parse', 'HEAD'))).toBe(true);
      expect(started).toHaveBeenCalledTimes(1);
    });
  });

  describe('failures', () => {
    it('an unknown ref, commit, path or URL fails in the fetch phase', async () => {
      const dir = example({ git: true });
      const unknownRef = await buildError(request(dir, 'no-such-branch'));
      expect(unknownRef.phase).toBe('fetch');
      expect(unknownRef.message).toContain('no-such-branch');

      const unknownSha = await buildError(request(dir, 'f'.repeat(40)));
      expect(unknownSha.phase).toBe('fetch');

      const missingPath = join(work, 'does-not-exist');
      const noPath = await buildError(request(missingPath));
      expect(noPath.phase).toBe('fetch');
      expect(noPath.message).toContain(missingPath);

      const noServer = await buildError(request('http://127.0.0.1:9/nobody/here.git', 'main'));
      expect(noServer.phase).toBe('fetch');
      expect(noServer.message).toMatch(/git ls-remote failed/);

      const notGit = join(work, 'a-file');
      writeFileSync(notGit, 'not a repository');
      expect((await buildError(request(notGit))).phase).toBe('fetch');
    });

    const contractCases: { name: string; change: (dir: string) => void; message: RegExp }[] = [
      { name: 'missing flops.json', change: (d) => rmSync(join(d, 'flops.json')), message: /flops\.json is missing at the repo root/ },
      { name: 'flops.json that is not JSON', change: (d) => writeFileSync(join(d, 'flops.json'), '{ "contract": "flops/v1", '), message: /flops\.json is not valid JSON/ },
      {
        name: 'an unknown runtime',
        change: (d) => writeFileSync(join(d, 'flops.json'), JSON.stringify({ contract: 'flops/v1', name: 'digits', runtime: 'pytorch-2', entry: 'model_manager.js' })),
        message: /flops\.json: .*runtime/,
      },
      {
        name: 'an entry that does not exist',
        change: (d) => rmSync(join(d, 'model_manager.js')),
        message: /entry model_manager\.js named in flops\.json is not a file in the repo/,
      },
      {
        name: 'an entry with a syntax error',
        change: (d) => writeFileSync(join(d, 'model_manager.js'), 'exports.createModelManager = function (ctx) {\n  return {;\n};\n'),
        message: /entry model_manager\.js does not parse: .*SyntaxError/,
      },
      {
        name: 'an entry without createModelManager',
        change: (d) => writeFileSync(join(d, 'model_manager.js'), 'exports.somethingElse = () => 42;\n'),
        message: /entry model_manager\.js must export createModelManager/,
      },
      {
        name: 'a Python layout without data_manager.py',
        change: (d) => {
          rmSync(join(d, 'flops.json'));
          writeFileSync(join(d, 'model_manager.py'), 'class ModelManager:\n    pass\n');
          writeFileSync(join(d, 'conda.yaml'), 'dependencies:\n  - pip:\n      - numpy\n');
        },
        message: /needs data_manager\.py beside model_manager\.py/,
      },
      {
        name: 'a Python layout whose model_manager.py does not parse',
        change: (d) => {
          rmSync(join(d, 'flops.json'));
          writeFileSync(join(d, 'model_manager.py'), 'class ModelManager:\n    def fit_model(self)\n        return 1\n');
          writeFileSync(join(d, 'data_manager.py'), 'class DataManager:\n    pass\n');
          writeFileSync(join(d, 'requirements.txt'), 'numpy\n');
        },
        message: /a Python file does not parse: .*SyntaxError/,
      },
    ];

    it.each(contractCases)('a repo with $name fails in the contract phase with a readable reason', async ({ change, message }) => {
      const tagsBefore = (await registry.listTags(IMAGE_REPO)).sort();
      const { started, reporter: r } = reporter();
      const error = await buildError(request(example({ change })), r);
      expect(error.phase).toBe('contract');
      expect(error.message).toMatch(message);
      expect(error.message.length).toBeLessThan(1000);
      expect(started).not.toHaveBeenCalled();
      expect((await registry.listTags(IMAGE_REPO)).sort()).toEqual(tagsBefore);
    });

    it('the contract is checked for git repositories too', async () => {
      const { started, reporter: r } = reporter();
      const dir = example({ git: true, change: (d) => rmSync(join(d, 'flops.json')) });
      const error = await buildError(request(dir, 'main'), r);
      expect(error).toMatchObject({ phase: 'contract', message: expect.stringMatching(/flops\.json is missing/) });
      expect(started).not.toHaveBeenCalled();
      expect(await registry.resolveTag(IMAGE_REPO, `${git(dir, 'rev-parse', 'HEAD')}${TAG_SUFFIX}`)).toBeNull();
    });
  });
});
