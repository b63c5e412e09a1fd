export * from './project-state';
export * from './transitions';
export * from './deadlines';
