export * from './bootstrap';
export * from './health.controller';
export * from './logging';
export * from './metrics';
