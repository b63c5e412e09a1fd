export * from './mqtt-bus';
export * from './nest-transport';
export * from './log-context';
export * from './mqtt-metrics';
