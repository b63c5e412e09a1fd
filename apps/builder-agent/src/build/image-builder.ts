import { Logger } from '@nestjs/common';
import { mkdir, rm } from 'node:fs/promises';
import { BuildRequested, BuildSucceeded, LEARNER_RUNTIME_VERSION, ML_REPO_CONTRACT } from '@flops/contracts';
import { Layer, RegistryClient, formatImageReference, packDirectoryLayer, pushImage } from '@flops/oci-registry';
import { BuildError } from './build-errors';
import { checkRepoContract } from './repo-contract';
import { ResolvedSource, checkout, resolveSource } from './source';

export interface BuildReporter {
  started(image: string, sourceRevision: string): Promise<void>;
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
 * whose tag already exists is never built again.
 */
export class ImageBuilder {
  private readonly logger = new Logger(ImageBuilder.name);
  /** Concurrent requests for the same image share one build. */
  private readonly inFlight = new Map<string, Promise<BuildSucceeded>>();

  constructor(
    private readonly registry: RegistryClient,
    private readonly settings: ImageBuilderSettings,
  ) {}

  async build(request: BuildRequested, reporter: BuildReporter): Promise<BuildSucceeded> {
    const t0 = Date.now();
    const source = await resolveSource(request.repoUrl, request.ref, this.settings.gitTimeoutMs).catch(asFetchError);
    await mkdir(this.settings.workDir, { recursive: true });

    if (source.kind === 'git') {
      // Known commit: the registry can answer before anything is cloned.
      const fetchMs = Date.now() - t0;
      const tag = imageTag(source.commit!);
      const t1 = Date.now();
      const cached = await this.cached(request.imageRepository, tag, source.commit!, fetchMs, t1);
      if (cached) return cached;
      return this.once(`${request.imageRepository}:${tag}`, async () => {
        const dir = await checkout(source, this.settings.workDir, this.settings.gitTimeoutMs).catch(asFetchError);
        try {
          const fetched = Date.now();
          await checkRepoContract(dir);
          const layer = await this.pack(dir);
          return await this.push(request, tag, source, layer, reporter, { fetchMs: fetched - t1 + fetchMs, checkMs: 0, t: fetched });
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      });
    }

    // A plain directory has no commit: its content digest is the revision.
    const dir = await checkout(source, this.settings.workDir, this.settings.gitTimeoutMs).catch(asFetchError);
    try {
      const fetchMs = Date.now() - t0;
      await checkRepoContract(dir);
      const layer = await this.pack(dir);
      const revision = `content-${layer.diffId.replace('sha256:', '').slice(0, 40)}`;
      const tag = imageTag(revision);
      const t1 = Date.now();
      const cached = await this.cached(request.imageRepository, tag, revision, fetchMs, t1);
      if (cached) return cached;
      return await this.once(`${request.imageRepository}:${tag}`, () =>
        this.push(request, tag, { ...source, commit: revision }, layer, reporter, { fetchMs, checkMs: Date.now() - t1, t: Date.now() }),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  private async cached(repo: string, tag: string, revision: string, fetchMs: number, t1: number): Promise<BuildSucceeded | null> {
    const digest = await this.registry.resolveTag(repo, tag).catch(asPushError);
    if (!digest) return null;
    this.logger.log(`cache hit: ${repo}:${tag}`);
    return {
      image: this.reference(repo, tag),
      digest,
      sourceRevision: revision,
      cacheHit: true,
      durations: { fetchMs, checkMs: Date.now() - t1, buildMs: 0, pushMs: 0 },
    };
  }

  private async once(key: string, work: () => Promise<BuildSucceeded>): Promise<BuildSucceeded> {
    const running = this.inFlight.get(key);
    if (running) return running;
    const promise = work().finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, promise);
    return promise;
  }

  private async pack(dir: string): Promise<Layer> {
    const layer = await packDirectoryLayer(dir, { exclude: (rel) => EXCLUDED.test(rel) }).catch((error: Error) => {
      throw new BuildError('build', `could not pack the repo: ${error.message}`);
    });
    if (layer.size > this.settings.maxRepoBytes) {
      throw new BuildError('build', `the repo packs to ${layer.size} bytes, more than the limit of ${this.settings.maxRepoBytes}`);
    }
    return layer;
  }

  private async push(
    request: BuildRequested,
    tag: string,
    source: ResolvedSource,
    layer: Layer,
    reporter: BuildReporter,
    timing: { fetchMs: number; checkMs: number; t: number },
  ): Promise<BuildSucceeded> {
    const image = this.reference(request.imageRepository, tag);
    await reporter.started(image, source.commit!);
    const buildStart = timing.t;
    const config = {
      architecture: 'amd64',
      os: 'linux',
      config: {
        Env: [`FLOPS_LEARNER_RUNTIME=${LEARNER_RUNTIME_VERSION}`, 'FLOPS_CODE_DIR=/flops/code'],
        WorkingDir: '/flops/code',
        Labels: {
          'org.opencontainers.image.source': source.url,
          'org.opencontainers.image.revision': source.commit!,
          'dev.flops.contract': ML_REPO_CONTRACT,
          'dev.flops.runtime': LEARNER_RUNTIME_VERSION,
        },
      },
    };
    const pushStart = Date.now();
    const result = await pushImage(this.registry, request.imageRepository, tag, { config, layers: [layer] }).catch(asPushError);
    const pushMs = Date.now() - pushStart;
    this.logger.log(`pushed ${image} (${result.digest}, uploaded ${result.uploaded.length} blob(s))`);
    return {
      image,
      digest: result.digest,
      sourceRevision: source.commit!,
      cacheHit: false,
      durations: { fetchMs: timing.fetchMs, checkMs: timing.checkMs, buildMs: pushStart - buildStart, pushMs },
    };
  }

  private reference(repo: string, tag: string): string {
    return formatImageReference({ registry: new URL(this.registry.url).host, repository: repo, tag });
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
