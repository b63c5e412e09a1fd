import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsDefined,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
  ValidateNested,
} from 'class-validator';
import { Hyperparameters, IsScalarRecord, STRATEGIES, StrategyName } from '@flops/contracts';
import { ProjectState } from '@flops/lifecycle';

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
  @ApiProperty({ minimum: 1, maximum: 1000, example: 5 })
  @IsInt()
  @Min(1)
  @Max(1000)
  rounds!: number;

  @ApiProperty({ description: 'Learners to deploy', minimum: 1, maximum: 1000, example: 3 })
  @IsInt()
  @Min(1)
  @Max(1000)
  learners!: number;

  @ApiPropertyOptional({ description: 'Fewest updates a round accepts; defaults to all learners', minimum: 1 })
  @IsOptional()
  @IsInt()
  @Min(1)
  minLearnersPerRound?: number;

  @ApiPropertyOptional({ enum: STRATEGIES, default: 'fedavg' })
  @IsOptional()
  @IsIn(STRATEGIES)
  strategy?: StrategyName;

  @ApiPropertyOptional({ description: 'Passed to the user code', example: { epochs: 2, learningRate: 0.01 } })
  @IsOptional()
  @IsScalarRecord()
  hyperparameters?: Hyperparameters;

  @ApiPropertyOptional({ type: [String], description: 'Data tags the learners load', example: ['digits'] })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(50)
  @Matches(/^[A-Za-z0-9._:-]{1,100}$/, { each: true, message: 'each data tag must be 1-100 letters, digits, ".", "_", ":" or "-"' })
  dataTags?: string[];

  @ApiPropertyOptional({ description: 'Seconds a round waits for updates', default: 300, minimum: 5 })
  @IsOptional()
  @IsInt()
  @Min(5)
  @Max(86_400)
  roundTimeoutSeconds?: number;

  @ApiPropertyOptional({ description: 'Seed handed to the user code', default: 42 })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(2 ** 31 - 1)
  seed?: number;
}

export class ResourcesDto {
  @ApiPropertyOptional({ description: 'CPU cores per learner', example: 1 })
  @IsOptional()
  @Min(0.1)
  @Max(256)
  cpus?: number;

  @ApiPropertyOptional({ description: 'Memory per learner in MiB', example: 1024 })
  @IsOptional()
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

  @ApiPropertyOptional({ default: 50, minimum: 1, maximum: 500 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(500)
  limit?: number;

  @ApiPropertyOptional({ default: 0, minimum: 0 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  offset?: number;
}

export class CancelProjectDto {
  @ApiPropertyOptional({ example: 'wrong hyperparameters' })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  reason?: string;
}
