import { Logger } from '@nestjs/common';
import { mkdir, rm } from 'node:fs/promises';
import { BuildRequested, BuildSucceeded, LEARNER_RUNTIME_VERSION, ML_REPO_CONTRACT } from '@flops/contracts';
import { BuiltImages } from '@flops/models';
import { Layer, LayerTooLargeError, RegistryClient, formatImageReference, packDirectoryLayer, pushImage } from '@flops/oci-registry';
import { BuildError } from './build-errors';
import { checkRepoContract } from './repo-contract';
import { ResolvedSource, checkout, resolveSource } from './source';

export interface BuildReporter {
  /** A build began; `reason` says why when an image of that tag was in the registry but could not be trusted. */
  started(image: string, sourceRevision: string, reason?: string): Promise<void>;
  /** A line for the project's build log (what is being done, for people watching). */
  step?(line: string): void;
}

export interface ImageBuilderSettings {
  workDir: string;
  maxRepoBytes: number;
  gitTimeoutMs: number;
}

/** Excluded from learner images: VCS data and dependencies (the runtime brings its own). */
const EXCLUDED = /(^|\/)(\.git|node_modules)(\/|$)/;

/**
 * Turns an ML repo into a learner image in the registry without a container engine: the repo's
 * files become one reproducible layer, tagged by source revision and runtime version. An image
 * whose tag already exists is not built again, provided the tag still points at the manifest
 * this builder recorded when it pushed it; an overwritten tag is rebuilt (and said so).
 */
export class ImageBuilder {
  private readonly logger = new Logger(ImageBuilder.name);
  /** Concurrent requests for the same image share one build. */
  private readonly inFlight = new Map<string, Promise<BuildSucceeded>>();

  constructor(
    private readonly registry: RegistryClient,
    private readonly builtImages: BuiltImages,
    private readonly settings: ImageBuilderSettings,
  ) {}

  async build(request: BuildRequested, reporter: BuildReporter): Promise<BuildSucceeded> {
    const timer = new PhaseTimer();
    await mkdir(this.settings.workDir, { recursive: true });
    reporter.step?.(`resolving ${request.repoUrl}${request.ref ? ` at ${request.ref}` : ''}`);
    const source = await timer.time('fetchMs', () => resolveSource(request.repoUrl, request.ref, this.settings.gitTimeoutMs).catch(asFetchError));
    reporter.step?.(source.kind === 'git' ? `git commit ${source.commit!}` : 'a plain directory: its packed content is its revision');

    if (source.kind === 'git') {
      // The commit is known before cloning, so a cache hit costs one registry lookup.
      const tag = imageTag(source.commit!);
      const cached = await timer.time('checkMs', () => this.cached(request.imageRepository, tag));
      if (cached.digest) return this.hit(reporter, request.imageRepository, tag, cached.digest, source.commit!, timer);
      return this.once(`${request.imageRepository}:${tag}`, () =>
        this.inCheckout(source, timer, async (dir) => {
          const layer = await timer.time('buildMs', () => this.checkAndPack(dir, reporter));
          return this.push(request, tag, source.url, source.commit!, layer, { reporter, reason: cached.distrusted }, timer);
        }),
      );
    }

    // A plain directory has no commit: the digest of its packed content is the revision.
    return this.inCheckout(source, timer, async (dir) => {
      const layer = await timer.time('buildMs', () => this.checkAndPack(dir, reporter));
      const revision = `content-${layer.diffId.replace('sha256:', '').slice(0, 40)}`;
      const tag = imageTag(revision);
      const cached = await timer.time('checkMs', () => this.cached(request.imageRepository, tag));
      if (cached.digest) return this.hit(reporter, request.imageRepository, tag, cached.digest, revision, timer);
      return this.once(`${request.imageRepository}:${tag}`, () =>
        this.push(request, tag, source.url, revision, layer, { reporter, reason: cached.distrusted }, timer),
      );
    });
  }

  private async inCheckout<T>(source: ResolvedSource, timer: PhaseTimer, work: (dir: string) => Promise<T>): Promise<T> {
    const dir = await timer.time('fetchMs', () => checkout(source, this.settings.workDir, this.settings.gitTimeoutMs).catch(asFetchError));
    try {
      return await work(dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  private async checkAndPack(dir: string, reporter: BuildReporter): Promise<Layer> {
    reporter.step?.(`checking the ML repo contract (${ML_REPO_CONTRACT})`);
    await checkRepoContract(dir);
    reporter.step?.('packing the repo into one layer');
    const layer = await this.pack(dir);
    reporter.step?.(`packed ${layer.size} bytes (${layer.digest})`);
    return layer;
  }

  private hit(reporter: BuildReporter, repo: string, tag: string, digest: string, revision: string, timer: PhaseTimer): BuildSucceeded {
    reporter.step?.(`${repo}:${tag} is already in the registry (${digest}): nothing to build`);
    return this.succeeded(repo, tag, digest, revision, true, timer);
  }

  /**
   * The digest of `repo:tag` if the registry has it and it is the manifest recorded when it was
   * built; otherwise no digest, and why an image found under that tag is not trusted.
   */
  private async cached(repo: string, tag: string): Promise<{ digest?: string; distrusted?: string }> {
    const digest = await this.registry.resolveTag(repo, tag).catch(asPushError);
    if (!digest) return {};
    const built = await this.builtImages.digestOf(repo, tag);
    if (built === digest) {
      this.logger.log(`cache hit: ${repo}:${tag} (${digest})`);
      return { digest };
    }
    const distrusted = built
      ? `${repo}:${tag} points at ${digest}, not at the ${built} built for it: the tag was overwritten, rebuilding`
      : `${repo}:${tag} (${digest}) was not built by FLOps here, so its content cannot be trusted: rebuilding`;
    this.logger.warn(distrusted);
    return { distrusted };
  }

  private succeeded(repo: string, tag: string, digest: string, revision: string, cacheHit: boolean, timer: PhaseTimer): BuildSucceeded {
    return { image: this.reference(repo, tag), digest, sourceRevision: revision, cacheHit, durations: timer.durations() };
  }

  private async once(key: string, work: () => Promise<BuildSucceeded>): Promise<BuildSucceeded> {
    const running = this.inFlight.get(key);
    if (running) return running;
    const promise = work().finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, promise);
    return promise;
  }

  private async pack(dir: string): Promise<Layer> {
    return packDirectoryLayer(dir, { exclude: (rel) => EXCLUDED.test(rel), maxContentBytes: this.settings.maxRepoBytes }).catch(
      (error: Error) => {
        if (error instanceof LayerTooLargeError) {
          throw new BuildError('build', `the repo has more than the limit of ${error.limitBytes} bytes of files (FLOPS_BUILDER_MAX_REPO_BYTES)`);
        }
        throw new BuildError('build', `could not pack the repo: ${error.message}`);
      },
    );
  }

  private async push(
    request: BuildRequested,
    tag: string,
    sourceUrl: string,
    revision: string,
    layer: Layer,
    report: { reporter: BuildReporter; reason?: string },
    timer: PhaseTimer,
  ): Promise<BuildSucceeded> {
    await report.reporter.started(this.reference(request.imageRepository, tag), revision, report.reason);
    if (report.reason) report.reporter.step?.(report.reason);
    report.reporter.step?.(`pushing ${request.imageRepository}:${tag} to the registry`);
    const config = {
      architecture: 'amd64',
      os: 'linux',
      config: {
        Env: [`FLOPS_LEARNER_RUNTIME=${LEARNER_RUNTIME_VERSION}`, 'FLOPS_CODE_DIR=/flops/code'],
        WorkingDir: '/flops/code',
        Labels: {
          'org.opencontainers.image.source': sourceUrl,
          'org.opencontainers.image.revision': revision,
          'dev.flops.contract': ML_REPO_CONTRACT,
          'dev.flops.runtime': LEARNER_RUNTIME_VERSION,
        },
      },
    };
    const result = await timer.time('pushMs', () =>
      pushImage(this.registry, request.imageRepository, tag, { config, layers: [layer] }).catch(asPushError),
    );
    this.logger.log(`pushed ${request.imageRepository}:${tag} (${result.digest}, uploaded ${result.uploaded.length} blob(s))`);
    report.reporter.step?.(`pushed ${request.imageRepository}:${tag} (${result.digest})`);
    await this.builtImages
      .record({ repository: request.imageRepository, tag, digest: result.digest, sourceRevision: revision })
      .catch((error: unknown) => asPushError(new Error(`could not record the pushed image: ${String(error)}`)));
    return this.succeeded(request.imageRepository, tag, result.digest, revision, false, timer);
  }

  private reference(repo: string, tag: string): string {
    return formatImageReference({ registry: new URL(this.registry.url).host, repository: repo, tag });
  }
}

/** Wall-clock time per build phase, for the build report. */
class PhaseTimer {
  private readonly spent = { fetchMs: 0, checkMs: 0, buildMs: 0, pushMs: 0 };

  async time<T>(phase: keyof PhaseTimer['spent'], work: () => Promise<T>): Promise<T> {
    const started = Date.now();
    try {
      return await work();
    } finally {
      this.spent[phase] += Date.now() - started;
    }
  }

  durations(): BuildSucceeded['durations'] {
    return { ...this.spent };
  }
}

/** `<revision>-<runtime>`, within the 128 characters a tag may have. */
export function imageTag(revision: string): string {
  return `${revision}-${LEARNER_RUNTIME_VERSION}`.slice(0, 128);
}

function asFetchError(error: unknown): never {
  if (error instanceof BuildError) throw error;
  throw new BuildError('fetch', error instanceof Error ? error.message : String(error));
}

function asPushError(error: unknown): never {
  throw new BuildError('push', error instanceof Error ? error.message : String(error));
}
