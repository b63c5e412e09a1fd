export * from './project-state';
export * from './transitions';
export * from './deadlines';
export * from './recovery-rules';
