import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsDefined,
  IsIn,
  IsNumber,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
  ValidateIf,
  ValidateNested,
} from 'class-validator';
import {
  DATA_TAG,
  Hyperparameters,
  IsScalarRecord,
  MAX_REASON_LENGTH,
  STRATEGIES,
  STRATEGY_PARAMS,
  StrategyName,
  TRAINING_LIMITS as LIMITS,
} from '@flops/contracts';
import { ProjectState } from '@flops/lifecycle';

/** Each strategy's parameters with their defaults, for the OpenAPI description (from the contracts' classes). */
const STRATEGY_PARAMETER_DOCS = Object.entries(STRATEGY_PARAMS)
  .map(([name, params]) => {
    const defaults = Object.entries(new params()).map(([key, value]) => `${key} (${String(value)})`);
    return `${name}: ${defaults.length ? defaults.join(', ') : 'none'}`;
  })
  .join('; ') + '. Required: fedprox proximalMu, qfedavg clientLearningRate.';

export class RepoDto {
  @ApiProperty({ description: 'Git URL (https, ssh, file) or a local directory path of the ML repo', example: 'examples/digits-tfjs' })
  @IsString()
  @MinLength(1)
  @MaxLength(2000)
  url!: string;

  @ApiPropertyOptional({ description: 'Branch, tag or commit (git repos only); default branch if omitted', example: 'main' })
  @IsOptional()
  @IsString()
  @MaxLength(250)
  @Matches(/^[A-Za-z0-9._\/-]+$/, { message: 'ref may contain letters, digits, ".", "_", "/" and "-" only' })
  ref?: string;
}

export class TrainingDto {
  @ApiProperty({ type: 'integer', minimum: LIMITS.rounds.min, maximum: LIMITS.rounds.max, example: 5 })
  @IsInt()
  @Min(LIMITS.rounds.min)
  @Max(LIMITS.rounds.max)
  rounds!: number;

  @ApiProperty({ type: 'integer', description: 'Learners to deploy', minimum: LIMITS.learners.min, maximum: LIMITS.learners.max, example: 3 })
  @IsInt()
  @Min(LIMITS.learners.min)
  @Max(LIMITS.learners.max)
  learners!: number;

  @ApiPropertyOptional({ type: 'integer', description: 'Fewest updates a round accepts; defaults to all learners', minimum: 1 })
  @IsOptional()
  @IsInt()
  @Min(1)
  minLearnersPerRound?: number;

  @ApiPropertyOptional({ enum: STRATEGIES, default: 'fedavg', description: 'Aggregation strategy (Flower’s, plus SCAFFOLD)' })
  @IsOptional()
  @IsIn(STRATEGIES)
  strategy?: StrategyName;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: { oneOf: [{ type: 'number' }, { type: 'string' }] },
    description: `The strategy's parameters (Flower's names in camelCase), validated per strategy; defaults in brackets. ${STRATEGY_PARAMETER_DOCS}`,
    example: { numMalicious: 1 },
  })
  @IsOptional()
  @IsObject()
  strategyParams?: Record<string, unknown>;

  @ApiPropertyOptional({ type: 'number', minimum: 0, maximum: 1, default: 1, description: 'Share of the joined learners asked to train each round (at least minLearnersPerRound)' })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  fractionFit?: number;

  @ApiPropertyOptional({ type: 'number', minimum: 0, maximum: 1, default: 1, description: 'Share of the joined learners asked to evaluate each round’s model (at least one)' })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  fractionEvaluate?: number;

  @ApiPropertyOptional({ type: 'number', minimum: 0, description: 'Refuse updates whose change to the global model has a larger L2 norm' })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  maxUpdateNorm?: number;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    description:
      'Central differential privacy: `{ "centralDp": { "noiseMultiplier", "clipping": "fixed"|"adaptive", "clipNorm", "targetUnclippedQuantile" (0.5), ' +
      '"clipLearningRate" (0.2), "clippedCountStddev", "delta" (1e-5), "expectedLearnersPerRound" } }` (mean strategies only). ' +
      'Secure aggregation (`secureAggregation`) is refused: not carried over the wire yet.',
    example: { centralDp: { noiseMultiplier: 0.5, clipping: 'fixed', clipNorm: 5 } },
  })
  @IsOptional()
  @IsObject()
  privacy?: Record<string, unknown>;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: { oneOf: [{ type: 'number' }, { type: 'string' }, { type: 'boolean' }] },
    description: 'Passed to the user code',
    example: { epochs: 2, learningRate: 0.01 },
  })
  @IsOptional()
  @IsScalarRecord()
  hyperparameters?: Hyperparameters;

  @ApiPropertyOptional({ type: 'string', isArray: true, pattern: DATA_TAG.source, maxItems: LIMITS.dataTags.maxItems, description: 'Data tags the learners load', example: ['digits'] })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(LIMITS.dataTags.maxItems)
  @Matches(DATA_TAG, { each: true, message: 'dataTags must each be 1-100 letters, digits, ".", "_", ":" or "-"' })
  dataTags?: string[];

  @ApiPropertyOptional({ type: 'integer', description: 'Seconds a round waits for updates', default: 300, minimum: LIMITS.roundTimeoutSeconds.min, maximum: LIMITS.roundTimeoutSeconds.max })
  @IsOptional()
  @IsInt()
  @Min(LIMITS.roundTimeoutSeconds.min)
  @Max(LIMITS.roundTimeoutSeconds.max)
  roundTimeoutSeconds?: number;

  @ApiPropertyOptional({ type: 'integer', description: 'Seed handed to the user code', default: 42, minimum: LIMITS.seed.min, maximum: LIMITS.seed.max })
  @IsOptional()
  @IsInt()
  @Min(LIMITS.seed.min)
  @Max(LIMITS.seed.max)
  seed?: number;
}

export class ResourcesDto {
  // Optional means absent: an explicit null is refused (IsOptional alone would let it through).
  @ApiPropertyOptional({ type: 'number', description: 'CPU cores per learner', minimum: 0.1, maximum: 256, example: 1 })
  @ValidateIf((_, value) => value !== undefined)
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0.1)
  @Max(256)
  cpus?: number;

  @ApiPropertyOptional({ type: 'integer', description: 'Memory per learner in MiB', minimum: 64, maximum: 1_048_576, example: 1024 })
  @ValidateIf((_, value) => value !== undefined)
  @IsInt()
  @Min(64)
  @Max(1_048_576)
  memoryMiB?: number;
}

export class CreateProjectDto {
  @ApiPropertyOptional({ description: 'Lowercase letters, digits and dashes; defaults to the repo name', example: 'digits' })
  @IsOptional()
  @MaxLength(63)
  @Matches(/^[a-z0-9]+(-[a-z0-9]+)*$/, { message: 'name must be lowercase letters and digits, words joined by single dashes' })
  name?: string;

  @ApiProperty({ type: RepoDto })
  @IsDefined()
  @ValidateNested()
  @Type(() => RepoDto)
  repo!: RepoDto;

  @ApiProperty({ type: TrainingDto })
  @IsDefined()
  @ValidateNested()
  @Type(() => TrainingDto)
  training!: TrainingDto;

  @ApiPropertyOptional({ type: ResourcesDto })
  @IsOptional()
  @ValidateNested()
  @Type(() => ResourcesDto)
  resources?: ResourcesDto;
}

export class ListProjectsQuery {
  @ApiPropertyOptional({ enum: ProjectState })
  @IsOptional()
  @IsIn(Object.values(ProjectState))
  state?: ProjectState;

  @ApiPropertyOptional({ type: 'integer', default: 50, minimum: 1, maximum: 500 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(500)
  limit?: number;

  @ApiPropertyOptional({ type: 'integer', default: 0, minimum: 0 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  offset?: number;
}

export class CancelProjectDto {
  @ApiPropertyOptional({ maxLength: MAX_REASON_LENGTH, example: 'wrong hyperparameters' })
  @IsOptional()
  @IsString()
  @MaxLength(MAX_REASON_LENGTH)
  reason?: string;
}

export const LOG_CHUNK_DEFAULT_BYTES = 64 * 1024;
export const LOG_CHUNK_MAX_BYTES = 1024 * 1024;

export class LogQuery {
  @ApiPropertyOptional({ type: 'integer', default: 0, minimum: 0, description: 'Byte offset to read from: 0, or the nextOffset of the previous answer' })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  offset?: number;

  @ApiPropertyOptional({ type: 'integer', default: LOG_CHUNK_DEFAULT_BYTES, minimum: 1024, maximum: LOG_CHUNK_MAX_BYTES, description: 'Most bytes of lines to return' })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1024)
  @Max(LOG_CHUNK_MAX_BYTES)
  limit?: number;
}
