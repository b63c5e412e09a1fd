import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ValidationTypes } from 'class-validator';
import { validationMetadatasToSchemas } from 'class-validator-jsonschema';
import type { SchemaObject } from 'openapi3-ts';
import {
  AGGREGATOR_TUNING,
  DATA_PLANE_ERRORS,
  DATA_PLANE_ROUTES,
  LEARNER_ID_HEADER,
  LEARNER_TUNING,
  STALE_TASK_ERRORS,
  TOPIC_ROOT,
  Topics,
  WIRE_SCHEMA,
} from '@flops/contracts';
import { TENSORS_MEDIA_TYPE } from '@flops/tensor-codec';
import { HealthController } from '@flops/service-kit';
import { configureHttp } from '../apps/manager-api/src/http-setup';
import { ProjectsController } from '../apps/manager-api/src/projects/projects.controller';
import { ProjectsService } from '../apps/manager-api/src/projects/projects.service';

/**
 * The machine-readable contracts of FLOps, for tools and for learners written in other
 * languages: the manager API's OpenAPI document and the MQTT topics with JSON Schemas of their
 * payloads. Generated from the code, committed under docs/contracts, and checked by a test.
 */
const RECORD_KEY = 'keys match ^[A-Za-z_][A-Za-z0-9_-]{0,63}$';
const CUSTOM_SCHEMAS: Record<string, SchemaObject> = {
  isTrainingConfigJson: { type: 'string', description: 'a training configuration as JSON (environment.FLOPS_TRAINING_CONFIG)' },
  isMetrics: { type: 'object', description: `finite numbers; ${RECORD_KEY}`, additionalProperties: { type: 'number' } },
  isLearnerMetrics: {
    type: 'object',
    description: `learner id → finite numbers; ${RECORD_KEY}`,
    additionalProperties: { type: 'object', additionalProperties: { type: 'number' } },
  },
  isScalarRecord: {
    type: 'object',
    description: `numbers, strings or booleans; ${RECORD_KEY}`,
    additionalProperties: { oneOf: [{ type: 'number' }, { type: 'string' }, { type: 'boolean' }] },
  },
};

function allSchemas(): Record<string, SchemaObject> {
  return validationMetadatasToSchemas({
    refPointerPrefix: '#/definitions/',
    additionalConverters: {
      // FLOps's own decorators (libs/contracts/src/validators.ts), by their registered names.
      [ValidationTypes.CUSTOM_VALIDATION]: (meta) => CUSTOM_SCHEMAS[meta.name ?? ''] ?? {},
    },
  });
}

export function mqttContract(): object {
  const all = allSchemas();
  // Only the payload classes and what they reference; a class without rules is an empty object.
  const definitions: Record<string, unknown> = {};
  const include = (name: string): void => {
    if (name in definitions) return;
    // Payloads are validated with forbidNonWhitelisted: an unknown field is an error.
    definitions[name] = { ...(all[name] ?? { type: 'object', properties: {} }), additionalProperties: false };
    for (const [, ref] of JSON.stringify(definitions[name]).matchAll(/"#\/definitions\/(\w+)"/g)) include(ref);
  };
  for (const def of Object.values(Topics)) include(def.payload.name);
  return {
    title: 'FLOps MQTT contract',
    schema: WIRE_SCHEMA,
    qos: 1,
    envelope: {
      type: 'object',
      required: ['schema', 'messageId', 'sentAt', 'projectId', 'payload'],
      additionalProperties: false,
      properties: {
        schema: { const: WIRE_SCHEMA },
        messageId: { type: 'string', minLength: 1 },
        correlationId: { type: 'string' },
        sentAt: { type: 'string', format: 'date-time' },
        projectId: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$', description: 'must equal the {projectId} segment of the topic' },
        payload: { description: "the topic's payload schema" },
      },
    },
    topicRoot: TOPIC_ROOT,
    topics: Object.entries(Topics).map(([name, def]) => ({
      name,
      topic: def.template,
      retained: def.retained,
      payload: { $ref: `#/definitions/${def.payload.name}` },
    })),
    definitions: Object.fromEntries(Object.entries(definitions).sort(([a], [b]) => a.localeCompare(b))),
  };
}

/**
 * What a component deployed for a project is given and speaks besides MQTT: its environment
 * variables (names and rules), the aggregator's data-plane routes, header and error codes, and the
 * metadata in FLT1 payloads.
 */
export function componentsContract(): object {
  const all = allSchemas();
  const strict = (name: string) => ({ ...all[name], additionalProperties: false });
  return {
    title: 'FLOps component contract',
    environment: {
      aggregator: { schema: all.AggregatorEnvironment, passedOnFromTheOrchestrator: AGGREGATOR_TUNING },
      learner: { schema: all.LearnerEnvironment, passedOnFromTheOrchestrator: LEARNER_TUNING },
      FLOPS_TRAINING_CONFIG: strict('TrainingConfig'),
    },
    dataPlane: {
      mediaType: TENSORS_MEDIA_TYPE,
      routes: DATA_PLANE_ROUTES,
      learnerIdHeader: LEARNER_ID_HEADER,
      errors: {
        body: { type: 'object', required: ['statusCode', 'code', 'message'], properties: { statusCode: { type: 'integer' }, code: { enum: Object.keys(DATA_PLANE_ERRORS) }, message: { type: 'string' }, limitBytes: { type: 'integer' } } },
        statusOf: DATA_PLANE_ERRORS,
        staleTask: [...STALE_TASK_ERRORS],
      },
      flt1Metadata: { update: strict('UpdateMeta'), initialWeights: strict('InitialWeightsMeta'), model: strict('ModelMeta') },
    },
  };
}

/** The manager API's OpenAPI document, built without connecting to anything. */
export async function openApiDocument(): Promise<object> {
  @Module({ controllers: [HealthController, ProjectsController], providers: [{ provide: ProjectsService, useValue: {} }] })
  class ApiDocsModule {}
  const app = await NestFactory.create(ApiDocsModule, { logger: false });
  try {
    return configureHttp(app);
  } finally {
    await app.close();
  }
}

/** TypeScript types of the API, generated from its OpenAPI document: what libs/api-client's typed client is checked against. */
export async function apiTypes(): Promise<string> {
  const document = JSON.stringify(await openApiDocument());
  // openapi-typescript is an ES module (its CommonJS build imports one too), which Jest's module
  // loader cannot run: the generator runs in a plain Node child process, the document on stdin.
  const script = `
    import openapiTS, { astToString } from 'openapi-typescript';
    let input = '';
    for await (const chunk of process.stdin) input += chunk;
    process.stdout.write(astToString(await openapiTS(JSON.parse(input), { alphabetize: true })));
  `;
  const types = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    input: document,
    cwd: join(__dirname, '..'),
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return `// Generated from the manager API's OpenAPI document by \`npm run contracts\` (tools/contracts.ts): do not edit.\n${types}`;
}

export const CONTRACT_FILES = {
  'docs/contracts/mqtt.json': () => Promise.resolve(mqttContract()),
  'docs/contracts/components.json': () => Promise.resolve(componentsContract()),
  'docs/contracts/openapi.json': openApiDocument,
  'libs/api-client/src/openapi.ts': apiTypes,
} as const;

export function serialise(document: object | string): string {
  return typeof document === 'string' ? document : `${JSON.stringify(document, null, 2)}\n`;
}
