export * from './analytics-worker';
export * from './service';
