export * from './platform';
export * from './api-client';
export * from './example-repo';
export * from './openapi-contract';
export * from './scratch-services';
