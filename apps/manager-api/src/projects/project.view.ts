import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ProjectState } from '@flops/lifecycle';
import type { DeploymentRecord, FailureRecord, HistoryEntry, ImageRecord, ModelRecord, ProjectRecord, RoundRecord } from '@flops/models';
import type { MlRepoLocation, ResourceHints, TrainingConfig } from '@flops/contracts';

/** A project as the API shows it. */
export class ProjectView {
  @ApiProperty() id!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ enum: ProjectState }) state!: ProjectState;
  @ApiProperty({ description: 'Increments on every change' }) version!: number;
  @ApiProperty() repo!: MlRepoLocation;
  @ApiProperty() training!: TrainingConfig;
  @ApiProperty() resources!: ResourceHints;
  @ApiPropertyOptional({ description: 'The learner image in the registry' }) image?: ImageRecord;
  @ApiProperty({ description: 'Metrics of every finished round' }) rounds!: RoundRecord[];
  @ApiPropertyOptional({ description: 'Metrics of the final model, e.g. accuracy' }) finalMetrics?: Record<string, number>;
  @ApiPropertyOptional({ description: 'Where the trained model is stored' }) model?: ModelRecord;
  @ApiPropertyOptional({ description: 'Stage and reason of a failure' }) failure?: FailureRecord;
  @ApiProperty({ description: 'Every state change' }) history!: HistoryEntry[];
  @ApiPropertyOptional({ description: 'When the current state times out' }) deadlineAt!: Date | null;
  @ApiProperty() createdAt!: Date;
  @ApiProperty() updatedAt!: Date;
}

/** One component deployed for a project (aggregator or learner). */
export class ComponentView {
  @ApiProperty({ example: 'learner-0' }) component!: string;
  @ApiProperty({ enum: ['running', 'stopped', 'exited'] }) status!: string;
  @ApiProperty({ example: 'local' }) driver!: string;
  @ApiProperty() image!: string;
  @ApiPropertyOptional({ description: 'Where the driver keeps its log' }) logFile?: string;
  @ApiPropertyOptional({ nullable: true }) exitCode?: number | null;
  @ApiProperty() startedAt!: Date;
  @ApiPropertyOptional() endedAt?: Date;
}

export class ProjectDetailView extends ProjectView {
  @ApiProperty({ type: [ComponentView] }) components!: ComponentView[];
}

export class ProjectListView {
  @ApiProperty({ type: [ProjectView] }) items!: ProjectView[];
  @ApiProperty() total!: number;
}

export function toProjectView(record: ProjectRecord): ProjectView {
  const { _id, ...rest } = record;
  return { id: _id, ...rest };
}

export function toComponentView(record: DeploymentRecord): ComponentView {
  const { component, status, driver, image, logFile, exitCode, startedAt, endedAt } = record;
  return { component, status, driver, image, logFile, exitCode, startedAt, endedAt };
}
