import { ArgumentsHost, Catch, ExceptionFilter, HttpStatus } from '@nestjs/common';
import type { Response } from 'express';
import { InvalidProjectError, ProjectAlreadyEndedError, ProjectNotFoundError } from './project-errors';

@Catch(ProjectNotFoundError, ProjectAlreadyEndedError, InvalidProjectError)
export class ProjectErrorsFilter implements ExceptionFilter {
  catch(error: ProjectNotFoundError | ProjectAlreadyEndedError | InvalidProjectError, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    const [status, label] =
      error instanceof ProjectNotFoundError
        ? [HttpStatus.NOT_FOUND, 'Not Found']
        : error instanceof ProjectAlreadyEndedError
          ? [HttpStatus.CONFLICT, 'Conflict']
          : [HttpStatus.BAD_REQUEST, 'Bad Request'];
    const message = error instanceof InvalidProjectError ? error.problems : error.message;
    response.status(status).json({ statusCode: status, error: label, message });
  }
}
