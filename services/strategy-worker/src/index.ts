export * from './process-request';
export * from './strategy-worker';
export * from './service';
