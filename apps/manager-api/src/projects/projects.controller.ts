import { Body, Controller, Get, HttpCode, HttpStatus, Param, Post, Query } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBadRequestResponse, ApiConflictResponse, ApiCreatedResponse, ApiNotFoundResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { CancelProjectDto, CreateProjectDto, ListProjectsQuery } from './project.dto';
import { ErrorView, ProjectDetailView, ProjectListView, ProjectView } from './project.view';
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
}
