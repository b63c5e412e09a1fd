import { Body, Controller, Get, HttpCode, HttpStatus, Param, Post, Query, Res, StreamableFile } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBadGatewayResponse,
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiProduces,
  ApiTags,
} from '@nestjs/swagger';
import type { Response } from 'express';
import { TENSORS_MEDIA_TYPE } from '@flops/tensor-codec';
import { CancelProjectDto, CreateProjectDto, ListProjectsQuery, LogQuery } from './project.dto';
import { ErrorView, LogChunkView, ProjectDetailView, ProjectListView, ProjectLogsView, ProjectView } from './project.view';
import { ProjectsService } from './projects.service';

@ApiTags('projects')
@Controller('projects')
export class ProjectsController {
  constructor(private readonly projects: ProjectsService) {}

  @Post()
  @ApiCreatedResponse({ type: ProjectView, description: 'Stored as SUBMITTED; the orchestrator takes it from there' })
  @ApiBadRequestResponse({ type: ErrorView, description: 'Invalid request; `message` lists every offending field' })
  create(@Body() body: CreateProjectDto): Promise<ProjectView> {
    return this.projects.create(body);
  }

  @Get()
  @ApiOkResponse({ type: ProjectListView })
  @ApiBadRequestResponse({ type: ErrorView, description: 'Invalid query; `message` lists every offending parameter' })
  list(@Query() query: ListProjectsQuery): Promise<ProjectListView> {
    return this.projects.list(query);
  }

  @Get(':id')
  @ApiOkResponse({ type: ProjectDetailView, description: 'The project, its components, and whether its model is still stored' })
  @ApiNotFoundResponse({ type: ErrorView })
  get(@Param('id') id: string): Promise<ProjectDetailView> {
    return this.projects.get(id);
  }

  @Post(':id/cancel')
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiAcceptedResponse({ type: ProjectView, description: 'Cancellation requested; watch the state become CANCELLED' })
  @ApiBadRequestResponse({ type: ErrorView, description: 'Invalid request body' })
  @ApiNotFoundResponse({ type: ErrorView })
  @ApiConflictResponse({ type: ErrorView, description: 'The project has already ended' })
  cancel(@Param('id') id: string, @Body() body: CancelProjectDto): Promise<ProjectView> {
    return this.projects.cancel(id, body);
  }

  @Get(':id/logs')
  @ApiOkResponse({ type: ProjectLogsView, description: 'The components of the project that have a log (builder, aggregator, learners)' })
  @ApiNotFoundResponse({ type: ErrorView })
  logs(@Param('id') id: string): Promise<ProjectLogsView> {
    return this.projects.logComponents(id);
  }

  @Get(':id/logs/:component')
  @ApiOkResponse({ type: LogChunkView, description: 'Complete lines from `offset`; to follow the log, ask again from `nextOffset`' })
  @ApiBadRequestResponse({ type: ErrorView })
  @ApiNotFoundResponse({ type: ErrorView, description: 'No such project, or no log of that component' })
  log(@Param('id') id: string, @Param('component') component: string, @Query() query: LogQuery): Promise<LogChunkView> {
    return this.projects.readLog(id, component, query);
  }

  @Get(':id/model')
  @ApiProduces(TENSORS_MEDIA_TYPE)
  @ApiOkResponse({ description: 'The trained model: FLT1 tensors (see libs/tensor-codec), as stored in the registry', schema: { type: 'string', format: 'binary' } })
  @ApiNotFoundResponse({ type: ErrorView, description: 'No such project, no model yet, or the model is gone from the registry' })
  @ApiBadGatewayResponse({ type: ErrorView, description: 'The registry did not hand the model over' })
  async model(@Param('id') id: string, @Res({ passthrough: true }) res: Response): Promise<StreamableFile> {
    const model = await this.projects.model(id);
    res.setHeader('Docker-Content-Digest', model.digest);
    return new StreamableFile(model.bytes, { type: TENSORS_MEDIA_TYPE, disposition: `attachment; filename="${model.fileName}"`, length: model.bytes.length });
  }
}
