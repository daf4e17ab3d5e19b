export * from './process-request';
export * from './reconciler';
export * from './strategy-worker';
export * from './service';
