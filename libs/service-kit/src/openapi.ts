import { SetMetadata } from '@nestjs/common';

/**
 * @nestjs/swagger's ApiExcludeController, by its metadata key: probes and metrics are not part of
 * the API document, and importing the swagger package would pull it into every app's bundle
 * (the learner's bundle cannot resolve its optional class-transformer imports).
 */
export const HiddenFromOpenApi = (): ClassDecorator => SetMetadata('swagger/apiExcludeController', [true]);
