export * from './bootstrap';
export * from './health.controller';
