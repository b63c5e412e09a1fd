import { MAX_REASON_LENGTH, MAX_REFERENCE_LENGTH, REPOSITORY } from '../patterns';
import { IsBoolean, IsDefined, IsIn, IsInt, IsOptional, IsString, Matches, MaxLength, Min, MinLength, ValidateNested } from 'class-validator';
import { Type } from 'class-transformer';

/** orchestrator → builder-agent: make sure a learner image for this repo exists. */
export class BuildRequested {
  /** A git URL (https, ssh, file, or a local repository path) or a plain local directory. */
  @IsString() @MinLength(1) @MaxLength(MAX_REFERENCE_LENGTH) repoUrl!: string;
  /** Branch, tag or commit; empty means the default branch (ignored for plain directories). */
  @IsOptional() @IsString() @MaxLength(250) ref?: string;
  /** Registry repository the image goes to, e.g. `flops/learners/digits`. */
  @Matches(REPOSITORY) imageRepository!: string;
}

/** builder-agent → orchestrator: the image was not in the registry, a build began. */
export class BuildStarted {
  @IsString() @MinLength(1) @MaxLength(MAX_REFERENCE_LENGTH) image!: string;
  @IsString() @MinLength(1) @MaxLength(MAX_REFERENCE_LENGTH) sourceRevision!: string;
  /** Why an image found under that tag was not used (e.g. the tag was overwritten). */
  @IsOptional() @IsString() @MaxLength(MAX_REASON_LENGTH) reason?: string;
}

export class BuildDurations {
  @IsInt() @Min(0) fetchMs!: number;
  @IsInt() @Min(0) checkMs!: number;
  @IsInt() @Min(0) buildMs!: number;
  @IsInt() @Min(0) pushMs!: number;
}

/** builder-agent → orchestrator: the image exists (built now, or found: `cacheHit`). */
export class BuildSucceeded {
  /** Full reference with tag, e.g. `127.0.0.1:5000/flops/learners/digits:3f2a…-tfjs-4`. */
  @IsString() @MinLength(1) @MaxLength(MAX_REFERENCE_LENGTH) image!: string;
  @Matches(/^sha256:[a-f0-9]{64}$/) digest!: string;
  @IsString() @MinLength(1) @MaxLength(MAX_REFERENCE_LENGTH) sourceRevision!: string;
  @IsBoolean() cacheHit!: boolean;
  @IsDefined() @ValidateNested() @Type(() => BuildDurations) durations!: BuildDurations;
}

export const BUILD_PHASES = ['fetch', 'contract', 'build', 'push'] as const;
export type BuildPhase = (typeof BUILD_PHASES)[number];

/** builder-agent → orchestrator: no image could be had. */
export class BuildFailed {
  @IsIn(BUILD_PHASES) phase!: BuildPhase;
  @IsString() @MinLength(1) @MaxLength(MAX_REASON_LENGTH) reason!: string;
}
