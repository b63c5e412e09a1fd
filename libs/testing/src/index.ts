export * from './platform';
export * from './api-client';
export * from './example-repo';
export * from './openapi-contract';
export * from './scratch-services';
export * from './project-checks';
export * from './chaos-plan';
