import { INestApplication, ValidationPipe } from '@nestjs/common';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';

/** HTTP behaviour shared by main.ts, the tests and the OpenAPI export. */
export function configureHttp(app: INestApplication): OpenAPIObject {
  app.setGlobalPrefix('api', { exclude: ['health', 'health/live', 'health/ready', 'metrics'] });
  // Unknown fields are errors, not silently dropped: a typo must not be ignored.
  app.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true }));
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('FLOps manager API')
      .setDescription('Submit, watch and cancel federated-learning projects.')
      .setVersion('1')
      .build(),
  );
  SwaggerModule.setup('api/docs', app, document);
  return document;
}
