export * from './project-store.fake';
export * from './message-bus.fake';
export * from './registry.fake';
export * from './stores.fake';
