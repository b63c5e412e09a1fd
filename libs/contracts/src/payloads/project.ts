import { IsEnum, IsInt, IsISO8601, IsOptional, IsString, MaxLength, Min } from 'class-validator';
import { ProjectState } from '@flops/lifecycle';
import { MAX_REASON_LENGTH } from '../patterns';

/** manager-api → orchestrator: a project was stored and waits to be driven. */
export class ProjectSubmitted {}

/** manager-api → orchestrator: the user asked to stop the project. */
export class ProjectCancelRequested {
  @IsOptional() @IsString() @MaxLength(MAX_REASON_LENGTH) reason?: string;
}

/** orchestrator → anyone watching (ui-gateway): the project moved to another state. */
export class ProjectStateChanged {
  @IsEnum(ProjectState) from!: ProjectState;
  @IsEnum(ProjectState) to!: ProjectState;
  @IsInt() @Min(0) version!: number;
  @IsISO8601() at!: string;
  @IsOptional() @IsString() @MaxLength(MAX_REASON_LENGTH) reason?: string;
}
