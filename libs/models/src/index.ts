export * from './connection';
export * from './project.model';
export * from './project.store';
export * from './deployment.model';
