import { IsInt, IsString, Matches, Min } from 'class-validator';
import { IDENTIFIER } from '@flops/contracts';
import { InfraConfig, IsPort } from '@flops/config';

export class BuilderConfig extends InfraConfig {
  @IsPort() FLOPS_BUILDER_PORT = 3002;

  /** Builders share the work: each build request goes to one member of this group. */
  @Matches(IDENTIFIER) FLOPS_BUILDER_GROUP = 'flops-builders';

  @Matches(IDENTIFIER) FLOPS_BUILDER_CLIENT_ID = 'flops-builder';

  /** Scratch space for checkouts; each build uses its own folder and removes it. */
  @IsString() FLOPS_BUILDER_WORK_DIR = '.flops/builder';

  /** Largest repo (bytes of files packed) the builder accepts. */
  @IsInt() @Min(1024) FLOPS_BUILDER_MAX_REPO_BYTES = 256 * 1024 * 1024;

  /** Longest a git fetch may take, in milliseconds. */
  @IsInt() @Min(1000) FLOPS_BUILDER_GIT_TIMEOUT_MS = 5 * 60_000;
}
