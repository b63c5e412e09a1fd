export * from './mqtt-bus';
export * from './nest-transport';
