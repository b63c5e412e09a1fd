export * from './connection';
export * from './project.model';
export * from './project.store';
export * from './deployment.model';
export * from './built-image.store';
export * from './tracking.store';
