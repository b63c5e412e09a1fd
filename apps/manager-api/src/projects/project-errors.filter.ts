import { ArgumentsHost, Catch, ExceptionFilter, HttpStatus } from '@nestjs/common';
import type { Response } from 'express';
import { InvalidProjectError, ProjectAlreadyEndedError, ProjectNotFoundError, ProjectPartNotFoundError, RegistryUnavailableError } from './project-errors';

type ProjectError = ProjectNotFoundError | ProjectPartNotFoundError | ProjectAlreadyEndedError | InvalidProjectError | RegistryUnavailableError;

@Catch(ProjectNotFoundError, ProjectPartNotFoundError, ProjectAlreadyEndedError, InvalidProjectError, RegistryUnavailableError)
export class ProjectErrorsFilter implements ExceptionFilter {
  catch(error: ProjectError, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    const [status, label] =
      error instanceof ProjectNotFoundError || error instanceof ProjectPartNotFoundError
        ? [HttpStatus.NOT_FOUND, 'Not Found']
        : error instanceof ProjectAlreadyEndedError
          ? [HttpStatus.CONFLICT, 'Conflict']
          : error instanceof RegistryUnavailableError
            ? [HttpStatus.BAD_GATEWAY, 'Bad Gateway']
            : [HttpStatus.BAD_REQUEST, 'Bad Request'];
    const message = error instanceof InvalidProjectError ? error.problems : error.message;
    response.status(status).json({ statusCode: status, error: label, message });
  }
}
